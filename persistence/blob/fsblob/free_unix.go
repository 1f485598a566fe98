//go:build unix

package fsblob

import (
	"errors"

	"golang.org/x/sys/unix"
)

// freeBytes is the space an unprivileged writer may still use on the file
// system holding path (statfs: available blocks times block size).
func freeBytes(path string) (int64, bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, false
	}
	return int64(st.Bavail) * int64(st.Bsize), true
}

// noSpace reports whether err says the disk, or the user's quota, is full.
func noSpace(err error) bool {
	return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT)
}
