package resize

import "syscall"

// threadNice reads the calling thread's nice value. The raw getpriority
// syscall returns 20 - nice.
func threadNice() (int, error) {
	r, _, errno := syscall.Syscall(syscall.SYS_GETPRIORITY, syscall.PRIO_PROCESS, uintptr(syscall.Gettid()), 0)
	if errno != 0 {
		return 0, errno
	}
	return 20 - int(r), nil
}
