//go:build unix

package fsblob

import (
	"os"
	"syscall"
)

// openFile is os.OpenFile for the store's regular files and directories
// in two system calls (openat, and fcntl in os.NewFile) instead of six:
// os.OpenFile offers every file it opens to the network poller, which
// refuses regular files and directories (epoll_ctl: EPERM), setting
// O_NONBLOCK before the offer and clearing it after (four fcntl calls).
// The store opens four to seven files per image (the upload's temp file
// and its fsync, the source for the resize, the result's temp file, a
// directory's fsync), so that was a fifth of its system calls
// (`strace -c -f` under `backlot bench`). The file is blocking either
// way.
func openFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	for {
		fd, err := syscall.Open(name, flag|syscall.O_CLOEXEC, uint32(perm.Perm()))
		if err == nil {
			return os.NewFile(uintptr(fd), name), nil
		}
		if err != syscall.EINTR {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
	}
}
