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
// their supervisor says how to settle them. The loop claims only with a
// free slot, and a claimed job holds its slot until it has been at a
// resizer or turns out to need no work: the jobs out of the queue are at
// most claimSlots.
type pool struct {
	sys      *System
	idle     []*actor.PID
	queue    []resize.Work
	slots    chan struct{}
	slotted  map[persistence.Job]int // claimed jobs that still hold slots, and how many
	held     map[persistence.Job]heldJob
	sweep    actor.SendRepeater
	cancel   context.CancelFunc
	loopDone chan struct{}
	draining bool
	drained  bool
	// blobsDown: an attempt found the blob store unreachable, so the
	// claim loop awaits it (blob.Await) before it claims again, rather
	// than claim job after job only to fail each.
	blobsDown atomic.Bool
}

// heldJob is a job this pool claimed and was not told to settle yet. One
// not at a resizer that has not changed for HeldTimeout had its claim or
// outcome lost, and is sent again (a sweep every HeldTimeout/2 looks).
type heldJob struct {
	atResizer bool
	since     time.Time
}

// sweepHeld: time to look for held jobs to send again.
type sweepHeld struct{}

// claimSlots: one per resizer and ClaimAhead more, whose processing
// events are committed while the resizers work (bench/README.md).
func claimSlots(c Config) int { return c.Workers + c.ClaimAhead }

func newPool(sys *System) actor.Producer {
	return func() actor.Receiver {
		return &pool{sys: sys, slotted: make(map[persistence.Job]int), held: make(map[persistence.Job]heldJob)}
	}
}

func (p *pool) Receive(c *actor.Context) {
	msg, _ := fromWire(c.Message())
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
		p.sweep = c.SendRepeat(c.PID(), sweepHeld{}, p.sys.cfg.HeldTimeout/2)
	case claimed:
		p.slotted[m.job]++ // twice when a lease expired while this pool still held it
		p.hold(m.job, false)
		c.Send(p.sys.manager, m)
	case resize.Work:
		if _, ok := p.held[m.Job]; ok {
			p.hold(m.Job, true)
		}
		p.onWork(c, m)
	case resize.Done:
		// Not at a resizer again until settled (an outcome lost is sent
		// again); the manager routes it to the batch's owner as of now.
		if _, ok := p.held[m.Job]; ok {
			p.hold(m.Job, false)
		}
		if errors.Is(m.Err, blob.ErrUnavailable) {
			p.blobsDown.Store(true)
		}
		c.Send(p.sys.manager, m)
	case resize.Idle:
		p.release(m.Job)
		if len(p.queue) > 0 && !p.draining {
			next := p.queue[0]
			p.queue = p.queue[1:]
			c.Send(m.PID, next)
		} else {
			p.idle = append(p.idle, m.PID)
		}
		p.checkDrained()
	case settle:
		p.onSettle(m)
	case sweepHeld:
		p.resendIf(c, "no word on a claimed job; sending it again", func(j persistence.Job, h heldJob) bool {
			return time.Since(h.since) >= p.sys.cfg.HeldTimeout
		})
	case membersChanged:
		// A supervisor lost with its node: the new owner drops a job whose
		// image is terminal.
		p.resendIf(c, "the batch's owner left; sending the claim again", func(j persistence.Job, _ heldJob) bool {
			return !slices.Contains(m.now, Owner(j.BatchID, m.old))
		})
	case drain:
		if !p.draining {
			p.draining = true
			p.queue = nil
			p.cancel()
		}
		p.checkDrained()
	case actor.Stopped:
		if p.cancel != nil {
			p.sweep.Stop()
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
	c.Send(r, m)
}

// onSettle acks or requeues a job this pool claimed, as its supervisor says.
func (p *pool) onSettle(m settle) {
	delete(p.held, m.job)
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
			// Harmless: redelivered, it finds its image terminal.
			log.Warn("ack failed", "image_id", j.ImageID, "err", err)
		}
		cancel()
	}
	if m.freeSlot {
		p.release(j)
	}
}

// release gives back a slot j holds, if any: a job sent again may reach a
// resizer twice for one claim.
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

// hold records a change of a held job: at a resizer, or waiting for word
// from its supervisor.
func (p *pool) hold(j persistence.Job, atResizer bool) {
	p.held[j] = heldJob{atResizer: atResizer, since: time.Now()}
}

// resendIf sends the claim of each held job not at a resizer that lost
// says is lost again, to the batch's owner as of now.
func (p *pool) resendIf(c *actor.Context, why string, lost func(persistence.Job, heldJob) bool) {
	for j, h := range p.held {
		if !h.atResizer && lost(j, h) {
			p.sys.cfg.Logger.Info(why, "batch_id", j.BatchID, "image_id", j.ImageID)
			p.hold(j, false) // replacing an entry while ranging is allowed
			c.Send(p.sys.manager, claimed{job: j, pool: c.PID()})
		}
	}
}

// checkDrained closes drained once every resizer and the claim loop stopped.
func (p *pool) checkDrained() {
	if p.draining && !p.drained && len(p.idle) == p.sys.cfg.Workers {
		p.drained = true
		<-p.loopDone
		close(p.sys.drained)
	}
}

// claimLoop runs in its own goroutine (Store.Claim blocks) and only sends
// messages; the pool owns all state.
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
		if p.blobsDown.Load() {
			if blob.Await(ctx, p.sys.cfg.Blobs, func(err error, wait time.Duration) {
				log.Warn("blob store unreachable; claiming no work until it answers", "err", err, "retry_in", wait)
			}) != nil {
				return
			}
			p.blobsDown.Store(false)
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
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return
			}
			wait = min(2*wait, 5*time.Second)
			continue
		}
		wait = 100 * time.Millisecond
		e.Send(self, claimed{job: job, pool: self})
	}
}
