package resize

import "syscall"

// setNice sets the calling thread's nice value (on Linux PRIO_PROCESS with a
// thread id names that thread alone). Failing is harmless: the thread keeps
// the priority it had. Lowering one's own priority needs no privilege.
func setNice(n int) {
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), n)
}
