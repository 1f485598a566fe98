package fsblob

import (
	"errors"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// noReplaceUnsupported is set once the file system has refused
// RENAME_NOREPLACE, so later commits go straight to link and remove.
var noReplaceUnsupported atomic.Bool

// renameat2 is unix.Renameat2; a test replaces it to take the fallback.
var renameat2 = unix.Renameat2

// publishExclusive puts the temp file tmp under path unless a file is
// already there (fs.ErrExist, and tmp stays): one renameat2 with
// RENAME_NOREPLACE, which fails on an existing name where rename would
// replace it, instead of link(2) and an unlink of the temp name, two
// changes to the directory. A file system without it (EINVAL; ENOSYS
// from an old kernel; EPERM from a seccomp filter that does not know the
// call) gets link and remove, from then on without trying again.
func publishExclusive(tmp, path string) error {
	if noReplaceUnsupported.Load() {
		return linkExclusive(tmp, path)
	}
	for {
		err := renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, path, unix.RENAME_NOREPLACE)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM):
			noReplaceUnsupported.Store(true)
			return linkExclusive(tmp, path)
		}
		return &os.LinkError{Op: "renameat2", Old: tmp, New: path, Err: err}
	}
}
