package actors

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/anthdm/hollywood/actor"

	"github.com/backlot/backlot/actors/resize"
	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/blob"
)

// pool owns the resizers, the claim loop and the jobs it claimed until
// their supervisor says how to settle them. A slot is a claim the pool can
// still take: the loop claims only with a free slot, and each claimed job
// holds its slot until it has been at a resizer or turns out to need no
// work. So the jobs out of the queue at any time are at most claimSlots:
// one at each resizer and Config.ClaimAhead more, recorded as processing
// and waiting in queue.
type pool struct {
	sys      *System
	idle     []*actor.PID
	queue    []resize.Work
	busy     int
	slots    chan struct{}
	slotted  map[persistence.Job]int // claimed jobs that still hold slots, and how many
	held     map[persistence.Job]heldJob
	gen      uint64 // numbers the changes of held jobs
	cancel   context.CancelFunc
	loopDone chan struct{}
	draining bool
	// blobsDown: an attempt failed because the blob store could not be
	// reached, so the claim loop waits until the store answers its check
	// (blob.Checker) before it claims again, rather than claim job after
	// job only to fail each. Set by the pool, read and cleared by its
	// claim loop.
	blobsDown atomic.Bool
}

// heldJob is a job this pool claimed and has not been told to settle yet.
// gen numbers its last change; a job not at a resizer has a timer that
// checks, after HeldTimeout, whether it changed since (heldCheck): if not,
// its claim or its outcome was lost (a supervisor gone with its node, a
// dead letter) and it is sent again.
type heldJob struct {
	atResizer bool
	gen       uint64
	timer     *time.Timer
}

// heldCheck: HeldTimeout passed since held job's change gen.
type heldCheck struct {
	job persistence.Job
	gen uint64
}

// claimSlots is how many jobs a pool takes out of the queue at once: one
// per resizer and Config.ClaimAhead more, each of those with its
// processing event recorded (a durable commit) while the resizers work,
// so a resizer that finishes starts its next image at once. Measured on 2
// cores, 640x480, four runs each way: 469-522 images/s with 2 ahead,
// 392-446 with none; the upload's p50 rises by about 1.5 ms with the load.
func claimSlots(c Config) int { return c.Workers + c.ClaimAhead }

func newPool(sys *System) actor.Producer {
	return func() actor.Receiver {
		return &pool{sys: sys, slotted: make(map[persistence.Job]int), held: make(map[persistence.Job]heldJob)}
	}
}

func (p *pool) Receive(c *actor.Context) {
	msg, _, _ := fromWire(c.Message())
	switch m := msg.(type) {
	case actor.Started:
		p.slots = make(chan struct{}, claimSlots(p.sys.cfg))
		for range cap(p.slots) {
			p.slots <- struct{}{}
		}
		for i := range p.sys.cfg.Workers {
			p.idle = append(p.idle, c.SpawnChild(resize.NewResizer(p.sys.cfg.Blobs, p.sys.cfg.Limits, p.sys.cfg.Observer), "resizer", actor.WithID(strconv.Itoa(i))))
		}
		ctx, cancel := context.WithCancel(context.Background())
		p.cancel, p.loopDone = cancel, make(chan struct{})
		go p.claimLoop(ctx, c.Engine(), c.PID())
	case claimed:
		p.slotted[m.job]++ // twice when a lease expired while this pool still held it
		p.hold(c, m.job, false)
		c.Send(p.sys.manager, m)
	case resize.Work:
		if _, ok := p.held[m.Job]; ok {
			p.hold(c, m.Job, true)
		}
		p.onWork(c, m)
	case resize.Done:
		// The attempt ended here. Until its supervisor settles it, the job
		// counts as not at a resizer again: an outcome lost with a node
		// that leaves is sent again. This node's manager routes it to the
		// batch's owner as of now (the supervisor that sent the work may
		// be gone).
		if _, ok := p.held[m.Job]; ok {
			p.hold(c, m.Job, false)
		}
		if errors.Is(m.Err, blob.ErrUnavailable) {
			p.blobsDown.Store(true)
		}
		c.Send(p.sys.manager, m)
	case resize.Idle:
		p.busy--
		p.release(m.Job)
		if len(p.queue) > 0 && !p.draining {
			next := p.queue[0]
			p.queue = p.queue[1:]
			p.busy++
			c.Send(m.PID, next)
		} else {
			p.idle = append(p.idle, m.PID)
		}
		p.checkDrained()
	case settle:
		p.onSettle(m)
	case heldCheck:
		if h, ok := p.held[m.job]; ok && h.gen == m.gen && !h.atResizer {
			p.sys.cfg.Logger.Info("no word on a claimed job; sending it again",
				"batch_id", m.job.BatchID, "image_id", m.job.ImageID, "after", p.sys.cfg.HeldTimeout)
			p.resend(c, m.job)
		}
	case membersChanged:
		// A supervisor lost with its node: every held job not at a resizer
		// (a claim, work, outcome or settle in flight, a backoff) goes
		// again to the batch's new owner, which drops it if its image is
		// terminal. Jobs at a resizer report through the pool and the
		// manager, which route to the new owner already.
		var lost []persistence.Job // resend changes held: not while ranging over it
		for j, h := range p.held {
			if o := Owner(j.BatchID, m.old); !h.atResizer && !slices.Contains(m.now, o) {
				lost = append(lost, j)
			}
		}
		for _, j := range lost {
			p.resend(c, j)
		}
	case drain:
		if !p.draining {
			p.draining = true
			p.queue = nil
			p.cancel()
		}
		p.checkDrained()
	case actor.Stopped:
		for j := range p.held {
			p.unhold(j)
		}
		if p.cancel != nil {
			p.cancel()
			<-p.loopDone
		}
	}
}

func (p *pool) onWork(c *actor.Context, m resize.Work) {
	if p.draining {
		// Not started: the job stays in flight in the store and is
		// redone after the restart.
		p.release(m.Job)
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

// onSettle acks or requeues a job this pool claimed, as its supervisor says.
func (p *pool) onSettle(m settle) {
	p.unhold(m.job)
	st, log, j := p.sys.cfg.Store, p.sys.cfg.Logger, m.job
	if m.requeue {
		time.AfterFunc(m.after, func() {
			ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
			defer cancel()
			if err := st.Requeue(ctx, j); err != nil {
				// Still in flight: redelivered after the lease or a restart.
				log.Warn("requeue failed", "image_id", j.ImageID, "err", err)
			}
		})
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		if err := st.Ack(ctx, j); err != nil {
			// Harmless: the job is redelivered later, finds its image
			// terminal and is acked then.
			log.Warn("ack failed", "image_id", j.ImageID, "err", err)
		}
		cancel()
	}
	if m.freeSlot {
		p.release(j)
	}
}

// release gives back a slot job holds, if it holds one: a job sent again
// (a lost message, a node that left) may reach a resizer twice for one
// claim, and the second release has nothing to give back.
func (p *pool) release(j persistence.Job) {
	n := p.slotted[j]
	if n == 0 {
		return
	}
	if n == 1 {
		delete(p.slotted, j)
	} else {
		p.slotted[j] = n - 1
	}
	select {
	case p.slots <- struct{}{}:
	default: // a claim the loop did not take a slot for (tests hand some in)
	}
}

// hold records a change of a held job: at a resizer (its outcome comes
// back through the pool), or waiting for word from its supervisor, for at
// most HeldTimeout before it is sent again.
func (p *pool) hold(c *actor.Context, j persistence.Job, atResizer bool) {
	p.unhold(j)
	p.gen++
	h := heldJob{atResizer: atResizer, gen: p.gen}
	if !atResizer {
		e, self, msg := c.Engine(), c.PID(), heldCheck{job: j, gen: p.gen}
		h.timer = time.AfterFunc(p.sys.cfg.HeldTimeout, func() { e.Send(self, msg) })
	}
	p.held[j] = h
}

func (p *pool) unhold(j persistence.Job) {
	if h, ok := p.held[j]; ok {
		if h.timer != nil {
			h.timer.Stop()
		}
		delete(p.held, j)
	}
}

// resend sends a held job's claim again, to the batch's owner as of now.
func (p *pool) resend(c *actor.Context, j persistence.Job) {
	p.hold(c, j, false)
	c.Send(p.sys.manager, claimed{job: j, pool: c.PID()})
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
func (p *pool) claimLoop(ctx context.Context, e *actor.Engine, self *actor.PID) {
	defer close(p.loopDone)
	log := p.sys.cfg.Logger
	wait := 100 * time.Millisecond
	for {
		select {
		case <-p.slots:
		case <-ctx.Done():
			return
		}
		if !p.awaitBlobs(ctx) {
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
		e.Send(self, claimed{job: job, pool: self})
	}
}

// awaitBlobs returns at once unless an attempt found the blob store
// unreachable; then it checks the store (blob.Checker) every 250 ms
// doubling to 5 s until it answers, so that the claim loop takes no job
// it could only fail. It returns false when ctx ends first.
func (p *pool) awaitBlobs(ctx context.Context) bool {
	if !p.blobsDown.Load() {
		return true
	}
	ch, ok := p.sys.cfg.Blobs.(blob.Checker)
	wait := 250 * time.Millisecond
	for ok {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := ch.Check(cctx)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return false
		}
		p.sys.cfg.Logger.Warn("blob store unreachable; claiming no work until it answers", "err", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
		wait = min(2*wait, 5*time.Second)
	}
	p.blobsDown.Store(false)
	return true
}
