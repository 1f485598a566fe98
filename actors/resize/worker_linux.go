package resize

import "syscall"

// resizeNice is the nice value of resize threads: weight 335 against the
// default's 1024, so a runnable request thread gets three quarters of a
// contended core. (Measured against nice 0 and 10 under `backlot bench
// --size 640x480`, three runs each: upload p50 4.6-5.0 ms against 6.6-7.0
// at nice 0, the same images/s; nice 10 cut the upload p50 as much but
// cost some throughput.) Raising one's own nice needs no privilege.
const resizeNice = 5

// lowerPriority sets the calling thread's nice value (on Linux
// PRIO_PROCESS with a thread id names that thread alone). Failing is
// harmless: the thread keeps the default priority.
func lowerPriority() {
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), resizeNice)
}
