package fsblob

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// publishExclusive puts the temp file tmp under path unless a file is
// already there (fs.ErrExist, and tmp stays): one renameat2 with
// RENAME_NOREPLACE, which fails on an existing name where rename would
// replace it, instead of link(2) and an unlink of the temp name, two
// changes to the directory. A file system without it (EINVAL, or an old
// kernel's ENOSYS) gets link and remove.
func publishExclusive(tmp, path string) error {
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, path, unix.RENAME_NOREPLACE)
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		return linkExclusive(tmp, path)
	}
	return &os.LinkError{Op: "renameat2", Old: tmp, New: path, Err: err}
}
