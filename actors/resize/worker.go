package resize

import (
	"runtime"
	"sync"
)

// Resize work runs on worker goroutines of its own, each locked to an OS
// thread that runs at a lower CPU priority (nice +5 on Linux; see
// resizeNice). The request path (HTTP, the store's commits, SSE) runs
// on the other threads at normal priority, so when the CPU is full it
// still answers at once and the resizes take what is left, which is all
// of it once nobody else needs it: throughput stays, the upload's latency
// drops (see resizeNice for the figures). A worker waits for the next job when it is done;
// one is started whenever all are busy (a resize that timed out still
// runs to its end on its worker), so their number is the most resizes
// ever under way at once.
var workers struct {
	mu   sync.Mutex
	idle int
	jobs chan func()
}

func init() { workers.jobs = make(chan func()) }

// onWorker runs f on a low-priority worker thread and returns at once.
func onWorker(f func()) {
	workers.mu.Lock()
	if workers.idle == 0 {
		workers.idle++
		go worker()
	}
	workers.idle--
	workers.mu.Unlock()
	workers.jobs <- f
}

func worker() {
	// Never unlocked: the thread's priority must not leak to other
	// goroutines, so it lives and dies with this one.
	runtime.LockOSThread()
	lowerPriority()
	for f := range workers.jobs {
		f()
		workers.mu.Lock()
		workers.idle++
		workers.mu.Unlock()
	}
}
