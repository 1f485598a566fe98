package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/anthdm/hollywood/actor"

	"github.com/backlot/backlot/actors/resize"
	"github.com/backlot/backlot/persistence"
)

// storeTimeout bounds one store call made from an actor.
const storeTimeout = 10 * time.Second

// retryStoreAfter: the wait before a write the store failed is tried again.
const retryStoreAfter = time.Second

// supervisor owns one batch on its owner, and the batch's subscribers. It
// is the batch's only writer while it holds the latest fencing token
// (taken before its first read): it records each attempt's start and
// outcome through the store, which decides what they produce (done with
// the last terminal event), sends the work to the pool that claimed the
// job and tells that pool to settle it. It keeps the batch as the store
// last returned it, and no log: a subscribe is answered from the store.
type supervisor struct {
	sys     *System
	id      string
	manager *actor.PID
	batch   *persistence.Batch
	subs    map[string]*actor.PID
	loadErr error
	pending int // timers (store retries) that will message us
	over    bool
	log     *slog.Logger
	token   uint64   // this writer's fencing token; 0 until fenced
	moved   bool     // handed over (handover.go): writes nothing, hands every message back
	staged  []staged // events waiting for the flush already sent to self
}

// staged is one message's events, waiting to be appended with those of
// the other messages handled before the flush arrives; then runs once
// they are recorded, with what the store recorded for them.
type staged struct {
	orig any
	evs  []persistence.Event
	then func(recorded []persistence.Event)
}

// flush: append what is staged. A supervisor sends it to itself with the
// first staged message, so it arrives after every message already
// waiting: those handled meanwhile share one append (one commit) instead
// of one each, which a batch's events, all written by this one actor,
// could never do in the store's group commit.
type flush struct{}

func newSupervisor(sys *System, batchID string, manager *actor.PID) actor.Producer {
	return func() actor.Receiver {
		return &supervisor{
			sys: sys, id: batchID, manager: manager, subs: make(map[string]*actor.PID),
			log: sys.cfg.Logger.With("batch_id", batchID),
		}
	}
}

func (s *supervisor) Receive(c *actor.Context) {
	switch m := c.Message().(type) {
	case flush: // (nothing is staged once handed over: handOver handed it back)
		if s.pending > 0 { // not after a restart from a panic
			s.pending--
		}
		s.flush(c)
	case actor.Stopped:
		// Stopped (the node shuts down, or a panic restarts it) with a
		// flush still in the inbox, which will not be read: the messages
		// already handled are appended now, as they were before staging.
		s.flush(c)
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
		s.onClaimed(c, m)
	case resize.Done:
		s.onWorkDone(c, m)
	case subscribe:
		s.onSubscribe(m)
	case unsubscribe:
		delete(s.subs, m.sub.String())
	case retry:
		s.pending--
		s.handle(c, m.msg)
	}
}

func (s *supervisor) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), storeTimeout)
}

// load reads the batch, fencing first (once), so it reads everything the
// previous writer wrote before being cut off. On failure it keeps what it
// had and records the error.
func (s *supervisor) load() {
	ctx, cancel := s.ctx()
	defer cancel()
	var err error
	if s.token == 0 {
		s.token, err = s.sys.cfg.Store.Fence(ctx, s.id)
	}
	if err == nil {
		var b *persistence.Batch
		if b, err = s.sys.cfg.Store.Batch(ctx, s.id); err == nil {
			s.batch = b
		}
	}
	if s.loadErr = err; err != nil {
		s.log.Warn("supervisor cannot fence or load its batch", "err", err)
	}
}

// ready makes sure the batch is loaded, trying again after a failure.
func (s *supervisor) ready() bool {
	if s.batch == nil {
		s.load()
	}
	return s.batch != nil
}

// gone: the batch does not exist (not merely unreachable).
func (s *supervisor) gone() bool {
	return s.batch == nil && errors.Is(s.loadErr, persistence.ErrNotFound)
}

// onClaimed starts an attempt: record processing (the store numbers the
// attempt), then send the image to the pool that claimed it.
func (s *supervisor) onClaimed(c *actor.Context, m claimed) {
	job, pool := m.job, m.pool
	if !s.ready() { // an orphan job is dropped; with the store unreachable, requeued
		s.settle(pool, settle{job: job, freeSlot: true, requeue: !s.gone(), after: retryStoreAfter})
		return
	}
	im := s.batch.Image(job.ImageID)
	if s.batch.Done || im == nil || im.State.Terminal() {
		s.settle(pool, settle{job: job, freeSlot: true}) // a redelivered duplicate: already settled
		return
	}
	if n := im.Charged(); n >= s.sys.cfg.MaxAttempts {
		msg := fmt.Sprintf("gave up after %d attempts, each cut short before it finished", n)
		if im.Error != "" {
			msg = fmt.Sprintf("gave up after %d attempts: %s", n, im.Error)
		}
		s.stage(c, m, func([]persistence.Event) { s.settle(pool, settle{job: job, freeSlot: true}) },
			persistence.Event{Type: persistence.EventFailed, BatchID: s.id, ImageID: job.ImageID, Error: msg})
		return
	}
	// Refused, the job is settled by append; failed, retried, still
	// holding its slot.
	s.stage(c, m, func(evs []persistence.Event) {
		// The outcome comes back through the pool and its node's manager,
		// to the batch's owner as of then.
		s.sys.send(pool, resize.Work{Job: job, Opts: s.batch.Options, Attempt: evs[0].Attempt})
	}, persistence.Event{Type: persistence.EventProcessing, BatchID: s.id, ImageID: job.ImageID})
}

// onWorkDone turns an attempt's outcome into completed, failed or retrying.
func (s *supervisor) onWorkDone(c *actor.Context, m resize.Done) {
	if !s.ready() {
		if s.gone() {
			s.settle(m.Pool, settle{job: m.Job})
			return
		}
		s.after(c, retryStoreAfter, retry{msg: m}) // keep the result until the store answers
		return
	}
	charged := m.Attempt // this attempt's place among those the image is charged for
	if im := s.batch.Image(m.Job.ImageID); im != nil {
		charged -= im.Unreachable
	}
	ev := m.EventCharged(charged, s.sys.cfg.MaxAttempts)
	if m.Err != nil {
		s.log.Info("resize attempt failed", m.LogAttrs()...)
	}
	s.stage(c, m, func([]persistence.Event) {
		s.sys.cfg.Observer.AttemptDone(ev.Type, m.Took)
		if ev.Type.Terminal() {
			s.settle(m.Pool, settle{job: m.Job})
			return
		}
		// The job stays in flight during the backoff (the claiming pool
		// keeps the timer): a crash meanwhile redelivers it, which is what
		// we want. An attempt given back for an unreachable blob store is
		// not charged, but each such failure makes the next wait longer
		// all the same.
		n := m.Attempt
		if ev.Unavailable {
			n = s.batch.Image(m.Job.ImageID).Unreachable
		}
		s.settle(m.Pool, settle{job: m.Job, requeue: true, after: s.sys.cfg.backoff(n)})
	}, ev)
}

// stage queues orig's events for the next flush, sending one to self if
// none is on its way.
func (s *supervisor) stage(c *actor.Context, orig any, then func([]persistence.Event), evs ...persistence.Event) {
	s.staged = append(s.staged, staged{orig: orig, evs: evs, then: then})
	if len(s.staged) == 1 {
		s.pending++ // no finishing before it arrives
		c.Send(c.PID(), flush{})
	}
}

// flush appends every staged message's events at once and runs each one's
// then with its share of what was recorded. If that append fails, each
// message is appended alone, as it would have been without the others,
// so that one refused event (a redelivered duplicate) refuses only its own
// message, and a fenced-off supervisor hands each one over.
func (s *supervisor) flush(c *actor.Context) {
	items := s.staged
	s.staged = nil
	if len(items) > 1 {
		var evs []persistence.Event
		for _, it := range items {
			evs = append(evs, it.evs...)
		}
		if all, err := s.write(evs); err == nil {
			rest := all
			for _, it := range items {
				n := len(it.evs)
				it.then(rest[:n])
				rest = rest[n:]
			}
			s.fanOut(all)
			return
		}
	}
	for _, it := range items {
		if s.moved {
			s.handBack(c, it.orig)
			continue
		}
		if all, ok := s.append(c, it.orig, it.evs...); ok {
			it.then(all)
			s.fanOut(all)
		}
	}
}

// append writes orig's events alone (write). On a broken rule (a
// duplicate after redelivery) it settles orig's job and reads the batch
// again; fenced off, it hands the batch over; on another error it
// schedules orig again.
func (s *supervisor) append(c *actor.Context, orig any, evs ...persistence.Event) ([]persistence.Event, bool) {
	all, err := s.write(evs)
	switch {
	case err == nil:
		return all, true
	case errors.Is(err, persistence.ErrFenced):
		// A newer supervisor of this batch took it: it writes from now on.
		s.handOver(c, "fenced off by a newer supervisor", orig)
		return nil, false
	case errors.Is(err, persistence.ErrConflict) || errors.Is(err, persistence.ErrNotFound):
		s.log.Info("append refused; reading the batch again", "err", err)
		s.load()
		switch m := orig.(type) {
		case claimed: // not dispatched: the slot is free again
			s.settle(m.pool, settle{job: m.job, freeSlot: true})
		case resize.Done: // the resizer already gave its slot back
			s.settle(m.Pool, settle{job: m.Job})
		}
		return nil, false
	}
	s.log.Warn("append failed; will retry", "err", err)
	s.after(c, retryStoreAfter, retry{msg: orig})
	return nil, false
}

// write records evs with this supervisor's token and, once recorded, keeps
// the batch the store returned. The caller fans out what it recorded
// (with the done it decided, if any) once it has acted on it, so that
// what a subscriber sees has been counted (the attempt's metrics) and
// settled with the pool.
func (s *supervisor) write(evs []persistence.Event) ([]persistence.Event, error) {
	now := time.Now().UTC()
	for i := range evs {
		evs[i].At = now
	}
	ctx, cancel := s.ctx()
	all, nb, err := s.sys.cfg.Store.AppendFenced(ctx, s.id, s.token, evs...)
	cancel()
	if err != nil {
		return nil, err
	}
	before := s.batch.State()
	s.batch = nb
	s.observe(all)
	if after := nb.State(); after != before {
		s.log.Info("batch state", "from", before, "to", after, "total", len(nb.Images), "completed", nb.Completed, "failed", nb.Failed)
	}
	return all, nil
}

// settle tells the pool that claimed the job what to do with it.
func (s *supervisor) settle(pool *actor.PID, st settle) { s.sys.send(pool, st) }

// onSubscribe answers a subscribe from the store: the batch read again (so
// a supervisor fenced off without knowing it still tells the truth) and
// the log after m.after. While the store cannot give them the stream stays
// open: the answer is empty, and the subscriber asks again once its stream
// has been idle for streamIdle.
func (s *supervisor) onSubscribe(m subscribe) {
	s.load()
	var evs []persistence.Event
	err := s.loadErr
	if s.batch != nil && err == nil {
		ctx, cancel := s.ctx()
		evs, err = s.sys.cfg.Store.Events(ctx, s.id, m.after)
		cancel()
	}
	switch {
	case s.batch != nil && err == nil:
		s.sys.send(m.sub, delivery{events: evs, final: s.batch.Done})
		if s.batch.Done {
			return
		}
	case s.gone():
		s.sys.send(m.sub, delivery{err: s.loadErr, final: true})
		return
	default:
		s.log.Warn("supervisor cannot answer a subscribe from the store", "err", err)
		s.sys.send(m.sub, delivery{})
	}
	s.subs[m.sub.String()] = m.sub
}

func (s *supervisor) fanOut(evs []persistence.Event) {
	d := delivery{events: evs, final: s.batch.Done}
	for _, pid := range s.subs {
		s.sys.send(pid, d)
	}
	if s.batch.Done {
		clear(s.subs)
	}
}

// observe logs recorded events and feeds the metrics.
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
