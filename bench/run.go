package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Run sends the workload (files, in turn) to c.URLs, first the warmup,
// then the measured phase, and returns the report. Cancelling ctx
// interrupts it and the report says so. The error is for a run that cannot
// start; what goes wrong during one is in the report.
func Run(ctx context.Context, c Config, files []File, prog *Progress) (*Report, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if len(c.URLs) == 0 {
		return nil, errors.New("no server URL to run against")
	}
	if len(files) == 0 {
		return nil, errors.New("no workload images")
	}
	cl := newClient(c)
	defer cl.close()
	r := &Report{
		Label: c.Label, StartedAt: time.Now().UTC(), URLs: c.URLs,
		Workload: newWorkload(c, files), ClientCPUs: runtime.NumCPU(),
	}
	if c.Warmup > 0 {
		start := time.Now()
		st := runPhase(ctx, cl, c, files, phase{name: "warmup", total: c.Warmup}, prog)
		r.Warmup = &Warmup{
			Images: st.sent, Seconds: time.Since(start).Seconds(),
			ErrorTotal: st.errTotal, Errors: st.errors(),
		}
		if st.interrupted || ctx.Err() != nil {
			r.Interrupted, r.Errors = true, []ErrorCount{}
			return r, nil
		}
	}
	before := cl.scrapeAll(ctx, c.URLs)
	w := startWatch(c.PIDs)
	st := runPhase(ctx, cl, c, files, phase{name: "run", total: c.Total, duration: c.Duration}, prog)
	r.Processes, r.ClientCPUSeconds = w.read(), w.clientCPU()
	r.Server = serverMetrics(before, cl.scrapeAll(ctx, c.URLs))
	r.Server.setPerImage(st.completed)
	wall := st.wall()
	r.WallSeconds = wall.Seconds()
	r.ImagesPerSec = rate(st.completed, wall)
	r.Batches = Batches{Started: st.batches, Done: st.batchesDone}
	r.Images = Images{
		Sent: st.sent, Accepted: st.accepted, Completed: st.completed, Failed: st.failed,
		Unfinished: st.unfinished, Retries: st.retries,
	}
	r.Upload = Summarize(st.uploads)
	r.Completion = Summarize(st.completions)
	r.Stages = Stages{Queue: Summarize(st.queue), Work: Summarize(st.work), Finish: Summarize(st.finish)}
	for name, ds := range st.server {
		if r.Stages.Upload == nil {
			r.Stages.Upload = map[string]Latency{}
		}
		r.Stages.Upload[name] = Summarize(ds)
	}
	r.Tail = st.tail()
	if c.Rate > 0 {
		lag := Summarize(st.lags)
		r.StartLag = &lag
	}
	if c.Calibrate && st.completed > 0 && ctx.Err() == nil {
		p, err := calibrate(c, files)
		if err != nil {
			return nil, err
		}
		r.Pipeline = p
		for i := range r.Processes {
			pr := &r.Processes[i]
			per := func(s float64) float64 { return s * 1000 / float64(st.completed) }
			pr.CPUMsPerImage = per(pr.CPUSeconds)
			pr.BeyondPipelineMs = pr.CPUMsPerImage - p.CPUMsPerImage
			pr.BeyondPipelineUserMs = per(pr.UserCPUSeconds) - p.UserMsPerImage
			pr.BeyondPipelineSystemMs = per(pr.SystemCPUSeconds) - p.SystemMsPerImage
		}
	}
	r.ErrorTotal, r.Errors = st.errTotal, st.errors()
	r.Interrupted = st.interrupted || ctx.Err() != nil
	return r, nil
}

// openLoop schedules batch i at start + i/Rate and runs each on its own
// goroutine, at most InFlight at once: when the server falls behind and
// the cap is reached, a batch starts late, and its latency still counts
// from its schedule. It returns when the phase has no next batch.
func openLoop(ctx context.Context, c Config, start, stopAt time.Time, ph phase, wg *sync.WaitGroup, one func(int, time.Time) bool) {
	slots := make(chan struct{}, c.InFlight)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; ; i++ {
		at := start.Add(time.Duration(float64(i) * float64(time.Second) / c.Rate))
		if (ph.total > 0 && i*c.PerBatch >= ph.total) || (!stopAt.IsZero() && !at.Before(stopAt)) {
			return
		}
		timer.Reset(time.Until(at))
		select {
		case <-timer.C:
		case <-ctx.Done():
			return
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Go(func() {
			defer func() { <-slots }()
			one(i, at)
		})
	}
}

// phase bounds one phase: images (total), time (duration), or both.
type phase struct {
	name     string
	total    int
	duration time.Duration
}

// runPhase keeps c.InFlight batches going until the phase's bound, then
// lets the running ones finish: with a duration, until the hard deadline
// duration + drain; every batch within its own timeout. Workers own their
// batch; this loop alone owns the stats.
func runPhase(ctx context.Context, cl *client, c Config, files []File, ph phase, prog *Progress) *stats {
	start := time.Now()
	pctx := ctx
	var stopAt time.Time
	if ph.duration > 0 {
		stopAt = start.Add(ph.duration)
		var cancel context.CancelFunc
		pctx, cancel = context.WithDeadlineCause(ctx, stopAt.Add(c.Drain),
			fmt.Errorf("the hard deadline (--duration %v + --drain %v) passed", ph.duration, c.Drain))
		defer cancel()
	}
	timeoutCause := fmt.Errorf("no done within --batch-timeout %v", c.Timeout)

	var next, inFlight atomic.Int64
	results := make(chan outcome)
	// one runs batch i (scheduled: its open-loop start, or zero) and
	// reports false when the phase has no batch i.
	one := func(i int, scheduled time.Time) bool {
		first, n := i*c.PerBatch, c.PerBatch
		if ph.total > 0 {
			if first >= ph.total {
				return false
			}
			n = min(n, ph.total-first)
		}
		if pctx.Err() != nil || (!stopAt.IsZero() && !time.Now().Before(stopAt)) {
			return false
		}
		batch := make([]File, n)
		for j := range batch {
			batch[j] = files[(first+j)%len(files)]
		}
		bctx, cancel := context.WithTimeoutCause(pctx, c.Timeout, timeoutCause)
		inFlight.Add(1)
		set := fmt.Sprintf("%d+%d", first%len(files), n) // the same files, in the same order
		o := cl.batch(ctx, bctx, c.URLs[i%len(c.URLs)], set, batch, scheduled)
		inFlight.Add(-1)
		cancel()
		if c.Trace != nil {
			c.Trace(o.trace())
		}
		results <- o
		return true
	}
	var wg sync.WaitGroup
	if c.Rate > 0 {
		wg.Go(func() { openLoop(pctx, c, start, stopAt, ph, &wg, one) })
	} else {
		for range c.InFlight {
			wg.Go(func() {
				for one(int(next.Add(1)-1), time.Time{}) {
				}
			})
		}
	}
	go func() {
		wg.Wait()
		close(results)
	}()

	st := newStats()
	snap := func() snapshot {
		return snapshot{
			phase: ph.name, elapsed: time.Since(start), limit: ph.duration, total: ph.total,
			sent: st.sent, finished: st.completed + st.failed + st.unfinished + (st.sent - st.accepted),
			completed: st.completed, errors: st.errTotal, inFlight: int(inFlight.Load()),
		}
	}
	tick := time.NewTicker(prog.interval())
	defer tick.Stop()
	for {
		select {
		case o, ok := <-results:
			if !ok {
				prog.end(snap())
				return st
			}
			st.add(o)
		case <-tick.C:
			prog.show(snap())
		}
	}
}
