package resize

import (
	"runtime"
	"sync"
)

// With Limits.Nice > 0, resize work runs on worker goroutines of its own,
// each locked to an OS thread whose nice value is Limits.Nice (Linux). The
// request path (HTTP, the store's commits, SSE) runs on the process's other
// threads at the default priority, so when the cores are full it still
// answers at once and the resizes take what is left, which is all of it
// once nobody else needs it. Nice values weigh threads against the other
// threads of the same scheduling group (a session's autogroup, a systemd
// unit's or a container's cgroup), so a node run as a service gives up
// nothing to other services; the README's Performance section has the
// figures.
//
// A worker waits for the next job when it is done; one is started whenever
// all of its nice value's workers are busy (a resize that timed out still
// runs to its end on its worker), so their number is the most resizes ever
// under way at once: with a Budget, at most its slots, timed-out ones
// included (budget.go). Workers are kept per nice value because a thread may
// lower its own priority but, unprivileged, not raise it again.
var workers struct {
	mu    sync.Mutex
	pools map[int]*workerPool
}

type workerPool struct {
	idle int // guarded by workers.mu
	jobs chan func()
}

// onWorker runs f on a worker thread at nice value nice and returns at
// once.
func onWorker(nice int, f func()) {
	workers.mu.Lock()
	p := workers.pools[nice]
	if p == nil {
		if workers.pools == nil {
			workers.pools = map[int]*workerPool{}
		}
		p = &workerPool{jobs: make(chan func())}
		workers.pools[nice] = p
	}
	if p.idle == 0 {
		p.idle++
		go p.worker(nice)
	}
	p.idle--
	workers.mu.Unlock()
	p.jobs <- f
}

func (p *workerPool) worker(nice int) {
	// Never unlocked: the thread's priority must not leak to other
	// goroutines, so it lives and dies with this one.
	runtime.LockOSThread()
	setNice(nice)
	for f := range p.jobs {
		f()
		workers.mu.Lock()
		p.idle++
		workers.mu.Unlock()
	}
}
