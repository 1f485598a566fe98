package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/anthdm/hollywood/actor"

	"github.com/backlot/backlot/actors/clusterpb"
	"github.com/backlot/backlot/actors/resize"
	"github.com/backlot/backlot/persistence"
	"google.golang.org/protobuf/types/known/durationpb"
)

// storeTimeout bounds one store call made from an actor.
const storeTimeout = 10 * time.Second

// retryStoreAfter is the wait before a write that failed for a reason other
// than a broken rule (the store unreachable) is tried again.
const retryStoreAfter = time.Second

// supervisor owns one batch: its state, its event log in memory (a mirror of
// the durable one) and its subscribers. It is the only writer of the log.
type supervisor struct {
	sys     *System
	id      string
	manager *actor.PID
	batch   *persistence.Batch
	events  []persistence.Event // events[i].Seq == i+1
	subs    map[string]*actor.PID
	loadErr error
	pending int // timers (backoffs, store retries) that will message us
	over    bool
	log     *slog.Logger
	// pools: the pool that claimed each job (clustered mode), where its
	// Work and Settle go.
	pools map[persistence.Job]*actor.PID
	// fencer (clustered mode, a store that fences): token is this
	// supervisor's, taken before its first load; every append is fenced
	// with it. moved: it was fenced off or its batch has another owner; it
	// writes nothing more and hands every message back (handover.go).
	fencer persistence.Fencer
	token  uint64
	moved  bool
	check  *time.Timer // the next fenceCheck
}

func newSupervisor(sys *System, batchID string, manager *actor.PID) actor.Producer {
	var fencer persistence.Fencer
	if f, ok := sys.cfg.Store.(persistence.Fencer); ok && sys.clustered() {
		fencer = f
	}
	return func() actor.Receiver {
		return &supervisor{
			sys: sys, id: batchID, manager: manager, subs: make(map[string]*actor.PID),
			pools: make(map[persistence.Job]*actor.PID), fencer: fencer,
			log: sys.cfg.Logger.With("batch_id", batchID),
		}
	}
}

func (s *supervisor) Receive(c *actor.Context) {
	if s.sys.clustered() {
		s.clusterReceive(c, c.Message())
	} else {
		s.handle(c, c.Message())
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
	case workDone:
		if m.pool != nil {
			s.pools[m.job] = m.pool
		}
		s.onWorkDone(c, m)
	case subscribe:
		s.onSubscribe(c, m)
	case unsubscribe:
		delete(s.subs, m.sub.String())
	case requeue:
		s.pending--
		s.onRequeue(c, m.job)
	case retry:
		s.pending--
		s.handle(c, m.msg)
	}
}

// retry wraps a message to handle again after a store failure.
type retry struct{ msg any }

func (s *supervisor) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), storeTimeout)
}

// load reads the batch and its log from the store. On failure it keeps
// what it had and records the error; a later message tries again. A
// fencing supervisor fences first (once), so it reads everything the
// batch's previous writer wrote before that one was cut off.
func (s *supervisor) load() {
	ctx, cancel := s.ctx()
	defer cancel()
	if s.fencer != nil && s.token == 0 {
		tok, err := s.fencer.Fence(ctx, s.id)
		if err != nil {
			s.loadErr = fmt.Errorf("fence batch %s: %w", s.id, err)
			s.log.Warn("supervisor cannot fence its batch", "err", err)
			return
		}
		s.token = tok
	}
	b, err := s.sys.cfg.Store.Batch(ctx, s.id)
	var evs []persistence.Event
	if err == nil {
		evs, err = s.sys.cfg.Store.Events(ctx, s.id, 0)
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
// attempt), then hand the image to the pool.
func (s *supervisor) onClaimed(c *actor.Context, job persistence.Job) {
	if !s.ready() {
		if s.gone() {
			s.dropClaim(c, job) // an orphan job: nothing to do
			return
		}
		// The store is unreachable: hand the job back once it may be.
		if s.sys.clustered() {
			s.settle(job, &clusterpb.Settle{FreeSlot: true, Requeue: true, After: durationpb.New(retryStoreAfter)})
			return
		}
		c.Send(s.sys.pool, slotFree{})
		s.after(c, retryStoreAfter, requeue{job: job})
		return
	}
	im := s.batch.Image(job.ImageID)
	if s.batch.Done || im == nil || im.State.Terminal() {
		s.dropClaim(c, job) // a redelivered duplicate: already settled
		return
	}
	if im.Attempts >= s.sys.cfg.MaxAttempts {
		msg := fmt.Sprintf("gave up after %d attempts, each cut short before it finished", im.Attempts)
		if im.Error != "" {
			msg = fmt.Sprintf("gave up after %d attempts: %s", im.Attempts, im.Error)
		}
		if s.appendTerminal(c, job, persistence.Event{Type: persistence.EventFailed, BatchID: s.id, ImageID: job.ImageID, Error: msg}, claimed{job: job}) {
			s.freeSlot(c, job)
		}
		return
	}
	evs, ok := s.append(c, claimed{job: job}, persistence.Event{Type: persistence.EventProcessing, BatchID: s.id, ImageID: job.ImageID})
	if !ok {
		return // refused: settled by append; failed: retried, still holding its slot
	}
	f := s.sys.cfg.Files
	s.dispatch(c, work{
		job: job, opts: s.batch.Options, attempt: evs[0].Attempt, replyTo: c.PID(),
		src: f.Source(s.id, job.ImageID), dst: f.Output(s.id, job.ImageID, s.batch.Options.Format),
	})
}

// onWorkDone turns an attempt's outcome into completed, failed or retrying.
func (s *supervisor) onWorkDone(c *actor.Context, m workDone) {
	if !s.ready() {
		if s.gone() {
			s.ack(m.job)
			return
		}
		s.after(c, retryStoreAfter, retry{msg: m}) // keep the result until the store answers
		return
	}
	ev := persistence.Event{BatchID: s.id, ImageID: m.job.ImageID}
	switch {
	case m.err == nil:
		ev.Type = persistence.EventCompleted
		ev.URL = persistence.ResultURL(s.id, m.job.ImageID)
		ev.Width, ev.Height, ev.Bytes, ev.Sum = m.res.Width, m.res.Height, m.res.Bytes, m.res.Sum
	case resize.Permanent(m.err):
		ev.Type, ev.Error = persistence.EventFailed, resize.Message(m.err)
	case m.attempt < s.sys.cfg.MaxAttempts:
		ev.Type, ev.Error = persistence.EventRetrying, resize.Message(m.err)
	default:
		ev.Type = persistence.EventFailed
		ev.Error = fmt.Sprintf("gave up after %d attempts: %s", m.attempt, resize.Message(m.err))
	}
	if m.err != nil {
		attrs := []any{"image_id", m.job.ImageID, "attempt", m.attempt, "err", m.err}
		var pe *resize.PanicError
		if errors.As(m.err, &pe) {
			attrs = append(attrs, "stack", string(pe.Stack))
		}
		s.log.Info("resize attempt failed", attrs...)
	}
	if ev.Type.Terminal() {
		if s.appendTerminal(c, m.job, ev, m) {
			s.sys.cfg.Observer.AttemptDone(ev.Type, m.took)
		}
		return
	}
	if _, ok := s.append(c, m, ev); !ok {
		return
	}
	s.sys.cfg.Observer.AttemptDone(ev.Type, m.took)
	// The job stays in flight during the backoff: a crash meanwhile
	// redelivers it, which is what we want.
	if s.sys.clustered() { // the claiming pool keeps the timer
		s.settle(m.job, &clusterpb.Settle{Requeue: true, After: durationpb.New(s.sys.cfg.backoff(m.attempt))})
		return
	}
	s.after(c, s.sys.cfg.backoff(m.attempt), requeue{job: m.job})
}

func (s *supervisor) onRequeue(c *actor.Context, job persistence.Job) {
	ctx, cancel := s.ctx()
	defer cancel()
	if err := s.sys.cfg.Store.Requeue(ctx, job); err != nil {
		s.log.Warn("requeue failed; will retry", "image_id", job.ImageID, "err", err)
		s.after(c, retryStoreAfter, requeue{job: job})
	}
}

// appendTerminal records ev (and done when it is the last) and acks the
// job. It reports whether the job is settled.
func (s *supervisor) appendTerminal(c *actor.Context, job persistence.Job, ev persistence.Event, orig any) bool {
	if _, ok := s.append(c, orig, ev); !ok {
		return false
	}
	s.ack(job)
	return true
}

// append records evs durably, then fans out what the store recorded: evs
// with their seqs and, when they finished the batch, the done the store
// decided in the same write. On a broken rule (a duplicate, e.g. after
// redelivery) it resyncs from the store; on another error it schedules
// orig again.
func (s *supervisor) append(c *actor.Context, orig any, evs ...persistence.Event) ([]persistence.Event, bool) {
	now := time.Now().UTC()
	for i := range evs {
		evs[i].At = now
	}
	ctx, cancel := s.ctx()
	var all []persistence.Event
	var nb *persistence.Batch
	var err error
	if s.token != 0 {
		all, nb, err = s.fencer.AppendFenced(ctx, s.id, s.token, evs...)
	} else {
		all, nb, err = s.sys.cfg.Store.Append(ctx, s.id, evs...)
	}
	cancel()
	switch {
	case err == nil && (len(all) == 0 || all[0].Seq == uint64(len(s.events))+1):
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
		// Another writer appended since this mirror was read (only a
		// store without fencing allows it): the log is read again.
		s.log.Warn("log written by another writer; resyncing from the store", "want_seq", len(s.events)+1, "got_seq", all[0].Seq)
		s.resync(c)
		return all, true
	case errors.Is(err, persistence.ErrFenced):
		// A newer supervisor of this batch took it: it writes from now on.
		s.yield(c, "fenced off by a newer supervisor", orig)
		return nil, false
	case errors.Is(err, persistence.ErrConflict) || errors.Is(err, persistence.ErrNotFound):
		s.log.Info("append refused; resyncing from the store", "err", err)
		s.resync(c)
		switch m := orig.(type) {
		case claimed: // not dispatched: the slot is free again
			s.dropClaim(c, m.job)
		case workDone: // the resizer already gave its slot back
			s.ack(m.job)
		}
		return nil, false
	}
	s.log.Warn("append failed; will retry", "err", err)
	s.after(c, retryStoreAfter, retry{msg: orig})
	return nil, false
}

// resync reads the batch and its log again and fans out what the store
// has beyond this mirror (say the done another writer's last terminal
// event brought), so no subscriber waits on an event it will not get.
func (s *supervisor) resync(c *actor.Context) {
	had := len(s.events)
	s.load()
	if s.batch != nil && len(s.events) > had {
		s.fanOut(c, s.events[had:])
	}
}

func (s *supervisor) ack(job persistence.Job) {
	if s.sys.clustered() {
		s.settle(job, &clusterpb.Settle{})
		return
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if err := s.sys.cfg.Store.Ack(ctx, job); err != nil {
		// Harmless: the job is redelivered later, finds its image
		// terminal and is acked then.
		s.log.Warn("ack failed", "image_id", job.ImageID, "err", err)
	}
}

// dropClaim ends a freshly claimed job that needs no work: acked (it is
// settled) and its claim slot given back to the pool.
func (s *supervisor) dropClaim(c *actor.Context, job persistence.Job) {
	if s.sys.clustered() {
		s.settle(job, &clusterpb.Settle{FreeSlot: true})
		return
	}
	s.ack(job)
	c.Send(s.sys.pool, slotFree{})
}

func (s *supervisor) onSubscribe(c *actor.Context, m subscribe) {
	if !s.ready() {
		s.deliver(c, m.sub, delivery{err: s.loadErr, final: true})
		return
	}
	var evs []persistence.Event
	if m.after < uint64(len(s.events)) {
		evs = append(evs, s.events[m.after:]...) // a copy: the subscriber reads it on another goroutine
	}
	s.deliver(c, m.sub, delivery{events: evs, final: s.batch.Done})
	if !s.batch.Done {
		s.subs[m.sub.String()] = m.sub
	}
}

func (s *supervisor) fanOut(c *actor.Context, evs []persistence.Event) {
	d := delivery{events: evs, final: s.batch.Done}
	for _, pid := range s.subs {
		s.deliver(c, pid, d)
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
