package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/anthdm/hollywood/actor"

	"github.com/backlot/backlot/actors/resize"
	"github.com/backlot/backlot/persistence"
)

// storeTimeout bounds one store call made from an actor.
const storeTimeout = 10 * time.Second

// retryStoreAfter is the wait before a write that failed for a reason other
// than a broken rule (the store unreachable) is tried again.
const retryStoreAfter = time.Second

// supervisor owns one batch on the batch's owner: a mirror of its stored
// log and the subscribers it fans that log out to. It is the batch's only
// writer while it holds the batch's latest fencing token (taken before its
// first read): it records each attempt's start and outcome through the
// store, which decides what they produce (done with the last terminal
// event), sends the work to the pool that claimed the job and tells that
// pool to settle the job. It keeps nothing the store does not have.
type supervisor struct {
	sys     *System
	id      string
	manager *actor.PID
	batch   *persistence.Batch
	events  []persistence.Event // events[i].Seq == i+1
	subs    map[string]*actor.PID
	loadErr error
	pending int // timers (store retries) that will message us
	over    bool
	log     *slog.Logger
	pools   map[persistence.Job]*actor.PID // the pool that claimed each job
	token   uint64                         // this writer's fencing token; 0 until fenced
	// moved: fenced off, or the batch has another owner; it writes nothing
	// more and hands every message back (handover.go).
	moved bool
	check *time.Timer // the next fenceCheck
	// reloading: a reload is scheduled for subscribers that wait on a
	// batch the store could not give yet.
	reloading bool
}

// reload: try loading the batch again for the subscribers waiting on it.
type reload struct{}

func newSupervisor(sys *System, batchID string, manager *actor.PID) actor.Producer {
	return func() actor.Receiver {
		return &supervisor{
			sys: sys, id: batchID, manager: manager, subs: make(map[string]*actor.PID),
			pools: make(map[persistence.Job]*actor.PID), log: sys.cfg.Logger.With("batch_id", batchID),
		}
	}
}

func (s *supervisor) Receive(c *actor.Context) {
	switch m := c.Message().(type) {
	case actor.Started:
		s.armFenceCheck(c)
	case actor.Stopped:
		if s.check != nil {
			s.check.Stop()
		}
	case fenceCheck:
		if !s.moved {
			s.checkFence(c)
		}
	case membersChanged:
		if !s.moved && Owner(s.id, m.now) != s.sys.self() {
			s.handOver(c, "the batch has another owner", nil)
		}
	default:
		if s.moved {
			s.handBack(c, m)
			break
		}
		s.handle(c, m)
		switch m.(type) {
		case claimed, resize.Done, subscribe:
			if !s.moved && s.sys.ownerOf(s.id) != s.sys.self() {
				s.handOver(c, "this node is not the batch's owner", nil)
			}
		}
	}
	s.maybeFinish(c)
}

func (s *supervisor) handle(c *actor.Context, msg any) {
	switch m := msg.(type) {
	case claimed:
		if m.pool != nil {
			s.pools[m.job] = m.pool
		}
		s.onClaimed(c, m.job)
	case resize.Done:
		if m.Pool != nil {
			s.pools[m.Job] = m.Pool
		}
		s.onWorkDone(c, m)
	case subscribe:
		s.onSubscribe(c, m)
	case unsubscribe:
		delete(s.subs, m.sub.String())
	case retry:
		s.pending--
		s.handle(c, m.msg)
	case reload:
		s.reloading = false
		s.onReload(c)
	}
}

func (s *supervisor) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), storeTimeout)
}

// load reads the batch and its log from the store, fencing first (once),
// so it reads everything the batch's previous writer wrote before being
// cut off. On failure it keeps what it had and records the error; a later
// message tries again.
func (s *supervisor) load() {
	ctx, cancel := s.ctx()
	defer cancel()
	st := s.sys.cfg.Store
	if s.token == 0 {
		tok, err := st.Fence(ctx, s.id)
		if err != nil {
			s.loadErr = fmt.Errorf("fence batch %s: %w", s.id, err)
			s.log.Warn("supervisor cannot fence its batch", "err", err)
			return
		}
		s.token = tok
	}
	b, err := st.Batch(ctx, s.id)
	var evs []persistence.Event
	if err == nil {
		evs, err = st.Events(ctx, s.id, 0)
	}
	if err != nil {
		s.loadErr = fmt.Errorf("load batch %s: %w", s.id, err)
		s.log.Warn("supervisor cannot load its batch", "err", err)
		return
	}
	s.batch, s.events, s.loadErr = b, evs, nil
}

// ready makes sure the batch is loaded, trying again after a failure.
func (s *supervisor) ready() bool {
	if s.batch == nil {
		s.load()
	}
	return s.batch != nil
}

// gone reports whether the batch does not exist (as opposed to a store
// that cannot be reached right now).
func (s *supervisor) gone() bool {
	return s.batch == nil && errors.Is(s.loadErr, persistence.ErrNotFound)
}

// onClaimed starts an attempt: record processing (the store numbers the
// attempt), then send the image to the pool that claimed it.
func (s *supervisor) onClaimed(c *actor.Context, job persistence.Job) {
	if !s.ready() {
		if s.gone() {
			s.settle(settle{job: job, freeSlot: true}) // an orphan job: nothing to do
			return
		}
		// The store is unreachable: hand the job back once it may be.
		s.settle(settle{job: job, freeSlot: true, requeue: true, after: retryStoreAfter})
		return
	}
	im := s.batch.Image(job.ImageID)
	if s.batch.Done || im == nil || im.State.Terminal() {
		s.settle(settle{job: job, freeSlot: true}) // a redelivered duplicate: already settled
		return
	}
	if im.Attempts >= s.sys.cfg.MaxAttempts {
		msg := fmt.Sprintf("gave up after %d attempts, each cut short before it finished", im.Attempts)
		if im.Error != "" {
			msg = fmt.Sprintf("gave up after %d attempts: %s", im.Attempts, im.Error)
		}
		if _, ok := s.append(c, claimed{job: job}, persistence.Event{Type: persistence.EventFailed, BatchID: s.id, ImageID: job.ImageID, Error: msg}); ok {
			s.settle(settle{job: job, freeSlot: true})
		}
		return
	}
	evs, ok := s.append(c, claimed{job: job}, persistence.Event{Type: persistence.EventProcessing, BatchID: s.id, ImageID: job.ImageID})
	if !ok {
		return // refused: settled by append; failed: retried, still holding its slot
	}
	// The outcome comes back through the claiming pool and its node's
	// manager, so it reaches the batch's owner as of then even if this
	// supervisor has handed the batch over meanwhile.
	s.sys.send(s.poolOf(job), resize.Work{Job: job, Opts: s.batch.Options, Attempt: evs[0].Attempt})
}

// onWorkDone turns an attempt's outcome into completed, failed or retrying.
func (s *supervisor) onWorkDone(c *actor.Context, m resize.Done) {
	if !s.ready() {
		if s.gone() {
			s.settle(settle{job: m.Job})
			return
		}
		s.after(c, retryStoreAfter, retry{msg: m}) // keep the result until the store answers
		return
	}
	ev := outcome(s.id, m, s.sys.cfg.MaxAttempts)
	if m.Err != nil {
		attrs := []any{"image_id", m.Job.ImageID, "attempt", m.Attempt, "err", m.Err}
		var pe *resize.PanicError
		if errors.As(m.Err, &pe) {
			attrs = append(attrs, "stack", string(pe.Stack))
		}
		s.log.Info("resize attempt failed", attrs...)
	}
	if _, ok := s.append(c, m, ev); !ok {
		return
	}
	s.sys.cfg.Observer.AttemptDone(ev.Type, m.Took)
	if ev.Type.Terminal() {
		s.settle(settle{job: m.Job})
		return
	}
	// The job stays in flight during the backoff (the claiming pool keeps
	// the timer): a crash meanwhile redelivers it, which is what we want.
	s.settle(settle{job: m.Job, requeue: true, after: s.sys.cfg.backoff(m.Attempt)})
}

// outcome is the event an attempt's result makes: completed, failed
// (permanent, or the last attempt) or retrying.
func outcome(batchID string, m resize.Done, maxAttempts int) persistence.Event {
	ev := persistence.Event{BatchID: batchID, ImageID: m.Job.ImageID}
	switch {
	case m.Err == nil:
		ev.Type = persistence.EventCompleted
		ev.Width, ev.Height, ev.Bytes, ev.Sum = m.Res.Width, m.Res.Height, m.Res.Bytes, m.Res.Sum
		ev.Variants = m.Res.Variants
	case resize.Permanent(m.Err):
		ev.Type, ev.Error = persistence.EventFailed, resize.Message(m.Err)
	case m.Attempt < maxAttempts:
		ev.Type, ev.Error = persistence.EventRetrying, resize.Message(m.Err)
	default:
		ev.Type = persistence.EventFailed
		ev.Error = fmt.Sprintf("gave up after %d attempts: %s", m.Attempt, resize.Message(m.Err))
	}
	return ev
}

// append records evs with this supervisor's token, then fans out what the
// store recorded: evs with their seqs and, when they finished the batch,
// the done the store decided in the same write. On a broken rule (a
// duplicate, e.g. after redelivery) it settles orig's job and reads the
// log again; fenced off, it hands the batch over; on another error it
// schedules orig again.
func (s *supervisor) append(c *actor.Context, orig any, evs ...persistence.Event) ([]persistence.Event, bool) {
	now := time.Now().UTC()
	for i := range evs {
		evs[i].At = now
	}
	ctx, cancel := s.ctx()
	all, nb, err := s.sys.cfg.Store.AppendFenced(ctx, s.id, s.token, evs...)
	cancel()
	switch {
	case err == nil && all[0].Seq == uint64(len(s.events))+1:
		before := s.batch.State()
		s.batch = nb
		s.events = append(s.events, all...)
		s.fanOut(c, all)
		s.observe(all)
		if after := nb.State(); after != before {
			s.log.Info("batch state", "from", before, "to", after, "total", len(nb.Images), "completed", nb.Completed, "failed", nb.Failed)
		}
		return all, true
	case err == nil:
		// Written behind the mirror: only a writer without the token can
		// (a test, an operator's tool). Read the log again.
		s.log.Warn("log written by another writer; reading it again", "want_seq", len(s.events)+1, "got_seq", all[0].Seq)
		s.resync(c)
		return all, true
	case errors.Is(err, persistence.ErrFenced):
		// A newer supervisor of this batch took it: it writes from now on.
		s.handOver(c, "fenced off by a newer supervisor", orig)
		return nil, false
	case errors.Is(err, persistence.ErrConflict) || errors.Is(err, persistence.ErrNotFound):
		s.log.Info("append refused; reading the log again", "err", err)
		s.resync(c)
		switch m := orig.(type) {
		case claimed: // not dispatched: the slot is free again
			s.settle(settle{job: m.job, freeSlot: true})
		case resize.Done: // the resizer already gave its slot back
			s.settle(settle{job: m.Job})
		}
		return nil, false
	}
	s.log.Warn("append failed; will retry", "err", err)
	s.after(c, retryStoreAfter, retry{msg: orig})
	return nil, false
}

// resync reads the batch and its log again and fans out what the store
// has beyond this mirror, so no subscriber waits on an event it will not
// get.
func (s *supervisor) resync(c *actor.Context) {
	had := len(s.events)
	s.load()
	if s.batch != nil && len(s.events) > had {
		s.fanOut(c, s.events[had:])
	}
}

// poolOf is the pool that claimed job (this node's if unknown: a job a
// test or a retry handed in without one).
func (s *supervisor) poolOf(job persistence.Job) *actor.PID {
	if p, ok := s.pools[job]; ok {
		return p
	}
	return s.sys.pool
}

// settle tells the pool that claimed the job what to do with it.
func (s *supervisor) settle(st settle) {
	s.sys.send(s.poolOf(st.job), st)
	delete(s.pools, st.job)
}

func (s *supervisor) onSubscribe(c *actor.Context, m subscribe) {
	if !s.ready() {
		if s.gone() {
			s.sys.send(m.sub, delivery{err: s.loadErr, final: true})
			return
		}
		// The store cannot give the batch now (away, or failing over):
		// the stream stays open. Every subscribe gets an answer, empty
		// here; the log follows once a reload succeeds.
		s.sys.send(m.sub, delivery{})
		s.subs[m.sub.String()] = m.sub
		s.awaitLoad(c)
		return
	}
	var evs []persistence.Event
	if m.after < uint64(len(s.events)) {
		evs = append(evs, s.events[m.after:]...) // a copy: the subscriber reads it on another goroutine
	}
	s.sys.send(m.sub, delivery{events: evs, final: s.batch.Done})
	if !s.batch.Done {
		s.subs[m.sub.String()] = m.sub
	}
}

// awaitLoad schedules a reload after retryStoreAfter, unless one is.
func (s *supervisor) awaitLoad(c *actor.Context) {
	if !s.reloading {
		s.reloading = true
		s.after(c, retryStoreAfter, retry{msg: reload{}})
	}
}

// onReload loads the batch for the subscribers waiting on it and sends
// them its whole log (each drops what it passed on already), or tries
// again later while they wait; a batch found gone ends their streams.
func (s *supervisor) onReload(c *actor.Context) {
	switch {
	case s.ready():
		s.fanOut(c, slices.Clone(s.events)) // a copy: the subscribers read it on other goroutines
	case s.gone():
		for _, pid := range s.subs {
			s.sys.send(pid, delivery{err: s.loadErr, final: true})
		}
		clear(s.subs)
	case len(s.subs) > 0:
		s.awaitLoad(c)
	}
}

func (s *supervisor) fanOut(c *actor.Context, evs []persistence.Event) {
	d := delivery{events: evs, final: s.batch.Done}
	for _, pid := range s.subs {
		s.sys.send(pid, d)
	}
	if s.batch.Done {
		clear(s.subs)
	}
}

// observe logs recorded events (one line per state change) and feeds the
// metrics.
func (s *supervisor) observe(evs []persistence.Event) {
	obs := s.sys.cfg.Observer
	for _, e := range evs {
		switch e.Type {
		case persistence.EventCompleted:
			obs.ImageFinished(persistence.ImageCompleted)
		case persistence.EventFailed:
			obs.ImageFinished(persistence.ImageFailed)
		case persistence.EventDone:
			obs.BatchDone()
		}
		s.log.Debug("image event", "seq", e.Seq, "type", e.Type, "image_id", e.ImageID, "attempt", e.Attempt, "error", e.Error)
	}
}

// after sends msg to this supervisor once d has passed.
func (s *supervisor) after(c *actor.Context, d time.Duration, msg any) {
	s.pending++
	e, self := c.Engine(), c.PID()
	time.AfterFunc(d, func() { e.Send(self, msg) })
}

// maybeFinish tells the manager when nothing is left for this supervisor:
// the batch is done (or could not be loaded) and no timer will call back.
func (s *supervisor) maybeFinish(c *actor.Context) {
	if s.over || s.pending > 0 {
		return
	}
	if s.moved || (s.batch == nil && s.loadErr != nil) || (s.batch != nil && s.batch.Done) {
		s.over = true
		c.Send(s.manager, finished{batchID: s.id, pid: c.PID()})
	}
}
