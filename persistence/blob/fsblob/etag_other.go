//go:build !unix

package fsblob

import (
	"io/fs"
	"strconv"
)

// etag is a file's size and modification time (ns), in hex: no inode
// here.
func etag(fi fs.FileInfo) string {
	return strconv.FormatInt(fi.Size(), 16) + "-" + strconv.FormatInt(fi.ModTime().UnixNano(), 16)
}
