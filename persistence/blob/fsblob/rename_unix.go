//go:build unix

package fsblob

import (
	"os"
	"syscall"
)

// rename is os.Rename without its Lstat of newpath (which refuses a
// directory there): tmp is a regular file, which rename(2) itself
// refuses to put over a directory (EISDIR). Like os.Rename it retries
// EINTR, which network and FUSE file systems can return.
func rename(tmp, path string) error {
	for {
		err := syscall.Rename(tmp, path)
		if err == nil {
			return nil
		}
		if err != syscall.EINTR {
			return &os.LinkError{Op: "rename", Old: tmp, New: path, Err: err}
		}
	}
}
