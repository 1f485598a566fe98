//go:build unix

package edge

import "syscall"

// NoFile is the process's soft limit of open file descriptors (Go raises
// it to the hard limit at start-up); 1024 if it cannot be read.
func NoFile() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur == 0 {
		return 1024
	}
	return r.Cur
}
