package actors

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/anthdm/hollywood/actor"

	"github.com/backlot/backlot/actors/resize"
	"github.com/backlot/backlot/persistence"
)

// pool owns the resizers and the claim loop. A slot is a claim the pool can
// still take: the loop claims only with a free slot, and a slot comes back
// when a resizer finishes a job or a claimed job turns out to need no work.
// So the jobs out of the queue at any time are at most claimSlots: one at
// each resizer and Config.ClaimAhead more, recorded as processing and
// waiting in queue.
type pool struct {
	sys      *System
	idle     []*actor.PID
	queue    []work
	busy     int
	slots    chan struct{}
	cancel   context.CancelFunc
	loopDone chan struct{}
	draining bool
	held     map[persistence.Job]heldJob // clustered: claimed, not settled
	gen      uint64                      // clustered: numbers the changes of held jobs
}

// claimSlots is how many jobs a pool takes out of the queue at once: one
// per resizer and Config.ClaimAhead more, each of those with its
// processing event recorded (a durable commit) while the resizers work,
// so a resizer that finishes starts its next image at once. Measured on 2
// cores, 640x480, four runs each way: 469-522 images/s with 2 ahead,
// 392-446 with none; the upload's p50 rises by about 1.5 ms with the load.
func claimSlots(c Config) int { return c.Workers + c.ClaimAhead }

func newPool(sys *System) actor.Producer {
	return func() actor.Receiver { return &pool{sys: sys} }
}

func (p *pool) Receive(c *actor.Context) {
	if p.sys.clustered() && p.clusterReceive(c, c.Message()) {
		return
	}
	switch m := c.Message().(type) {
	case actor.Started:
		n := p.sys.cfg.Workers
		p.slots = make(chan struct{}, claimSlots(p.sys.cfg))
		for range cap(p.slots) {
			p.slots <- struct{}{}
		}
		for i := 0; i < n; i++ {
			p.idle = append(p.idle, c.SpawnChild(newResizer(p.sys), "resizer", actor.WithID(strconv.Itoa(i))))
		}
		to := p.sys.manager
		if p.sys.clustered() {
			// Claims pass through the pool, which holds them until settled.
			p.held = make(map[persistence.Job]heldJob)
			to = c.PID()
			c.Engine().Subscribe(c.PID())
		}
		ctx, cancel := context.WithCancel(context.Background())
		p.cancel, p.loopDone = cancel, make(chan struct{})
		go p.claimLoop(ctx, c.Engine(), to, c.PID())
	case work:
		p.onWork(c, m)
	case resizerIdle:
		p.busy--
		p.release()
		if len(p.queue) > 0 && !p.draining {
			next := p.queue[0]
			p.queue = p.queue[1:]
			p.busy++
			c.Send(m.pid, next)
		} else {
			p.idle = append(p.idle, m.pid)
		}
		p.checkDrained()
	case slotFree:
		p.release()
	case drain:
		if !p.draining {
			p.draining = true
			p.queue = nil
			p.cancel()
		}
		p.checkDrained()
	case actor.Stopped:
		if p.cancel != nil {
			p.cancel()
			<-p.loopDone
		}
	}
}

func (p *pool) onWork(c *actor.Context, m work) {
	if p.draining {
		// Not started: the job stays in flight in the store and is
		// redone after the restart.
		p.release()
		return
	}
	if len(p.idle) == 0 {
		p.queue = append(p.queue, m)
		return
	}
	r := p.idle[len(p.idle)-1]
	p.idle = p.idle[:len(p.idle)-1]
	p.busy++
	c.Send(r, m)
}

func (p *pool) release() {
	select {
	case p.slots <- struct{}{}:
	default: // more releases than claims would be a bug; never block the pool on it
		p.sys.cfg.Logger.Warn("pool: slot released twice")
	}
}

func (p *pool) checkDrained() {
	if p.draining && p.busy == 0 {
		select {
		case <-p.sys.drained:
		default:
			// wait for the claim loop too, so nothing is claimed after this
			<-p.loopDone
			close(p.sys.drained)
		}
	}
}

// claimLoop runs in its own goroutine: it may block in Store.Claim, which an
// actor must not. It only sends messages; the pool owns all state.
func (p *pool) claimLoop(ctx context.Context, e *actor.Engine, to, self *actor.PID) {
	defer close(p.loopDone)
	log := p.sys.cfg.Logger
	wait := 100 * time.Millisecond
	for {
		select {
		case <-p.slots:
		case <-ctx.Done():
			return
		}
		job, err := p.sys.cfg.Store.Claim(ctx)
		if err != nil {
			select { // give back the slot we took
			case p.slots <- struct{}{}:
			default:
			}
			if ctx.Err() != nil || errors.Is(err, persistence.ErrClosed) {
				return
			}
			log.Warn("claim failed; retrying", "err", err, "retry_in", wait)
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
			wait = min(2*wait, 5*time.Second)
			continue
		}
		wait = 100 * time.Millisecond
		if p.sys.clustered() {
			e.Send(to, claimed{job: job, pool: self})
		} else {
			e.Send(to, claimed{job: job})
		}
	}
}

// resizer runs one job at a time; the work itself is resize.Process,
// which first waits for a decode slot and the image's footprint from
// Config.Limits.Budget (shared by all resizers): an attempt that timed
// out keeps both until its decode has really returned, so the next one
// waits for it.
type resizer struct{ sys *System }

func newResizer(sys *System) actor.Producer {
	return func() actor.Receiver { return &resizer{sys: sys} }
}

func (r *resizer) Receive(c *actor.Context) {
	if w, ok := c.Message().(work); ok {
		obs := r.sys.cfg.Observer
		obs.ResizeStarted()
		start := time.Now()
		res, err := resize.Process(w.src, w.dst, w.opts, r.sys.cfg.Limits)
		took := time.Since(start)
		obs.ResizeEnded()
		d := workDone{job: w.job, attempt: w.attempt, res: res, err: err, took: took}
		if r.sys.clustered() {
			d.pool = c.Parent()
		}
		c.Send(w.replyTo, d)
		c.Send(c.Parent(), resizerIdle{pid: c.PID()})
	}
}
