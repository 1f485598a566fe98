//go:build unix

package fsblob

import (
	"io/fs"
	"strconv"
	"syscall"
)

// etag is a file's size, modification time (ns) and inode, in hex. No
// byte is read, so Stat and List cost one stat each. A commit is a new
// file (a new inode, taken while the old one still existed) with its own
// mtime, so two versions of a key do not share an ETag.
func etag(fi fs.FileInfo) string {
	b := make([]byte, 0, 48)
	b = strconv.AppendInt(b, fi.Size(), 16)
	b = append(b, '-')
	b = strconv.AppendInt(b, fi.ModTime().UnixNano(), 16)
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		b = append(b, '-')
		b = strconv.AppendUint(b, uint64(st.Ino), 16)
	}
	return string(b)
}
