package actors

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/anthdm/hollywood/actor"

	"github.com/backlot/backlot/actors/clusterpb"
	"github.com/backlot/backlot/persistence"
)

// Chunk is what a subscription yields: events in order; Final marks the
// last chunk of a finished batch, Err a subscription that cannot be served.
type Chunk struct {
	Events []persistence.Event
	Final  bool
	Err    error
}

// Subscription is one SSE connection's view of a batch. C is closed after
// the Final chunk, or early: the reader too slow (Cut) or Close.
type Subscription struct {
	sys *System
	pid *actor.PID
	ch  chan *Chunk // pointers: 8 bytes a slot for an idle stream, not 48
	cut atomic.Bool
}

// C yields the chunks in order.
func (s *Subscription) C() <-chan *Chunk { return s.ch }

// Cut reports whether the subscription was ended because its reader was too slow.
func (s *Subscription) Cut() bool { return s.cut.Load() }

// Close stops the subscriber actor; safe to call more than once.
func (s *Subscription) Close() { s.sys.engine.Poison(s.pid) }

// subscriber is the actor behind a Subscription. It is the only writer of
// the channel and never blocks on it.
type subscriber struct {
	sys     *System
	batchID string
	sub     *Subscription
	closed  bool
	last    uint64 // the highest seq passed on (at first: Last-Event-ID)
	// n counts subscribes and deliveries; timer wakes the subscriber to
	// subscribe again if n has not moved since it was armed.
	n     uint64
	timer *time.Timer
}

// subscriberInbox is a subscriber's initial inbox: Hollywood's default
// (24 KiB) would be most of an idle stream's memory; it grows on a burst.
const subscriberInbox = 8

func newSubscriber(sys *System, batchID string, after uint64, sub *Subscription) actor.Producer {
	return func() actor.Receiver {
		return &subscriber{sys: sys, batchID: batchID, last: after, sub: sub}
	}
}

// A subscriber keeps the last seq it passed on and, whenever it
// subscribes again, asks for the events after it: nothing repeated, no
// gap. It subscribes again when the member list changes its batch's
// owner; on a gap (another writer's events); on clusterpb.ErrMoved, after
// handbackAfter; with no answer SubscribeTimeout after a subscribe (every
// subscribe gets one delivery, maybe empty); and after streamIdle without
// a delivery (a lost fan-out, a store that could not answer).

// streamIdle is how long a subscriber waits without a delivery before it
// subscribes again (the cost of an idle batch: a read of the store).
const streamIdle = 5 * time.Second

// wake: the wait armed when n was n is over.
type wake struct{ n uint64 }

func (s *subscriber) Receive(c *actor.Context) {
	msg, _ := fromWire(c.Message())
	switch m := msg.(type) {
	case actor.Started:
		s.resubscribe(c)
	case delivery:
		s.onDelivery(c, m)
	case membersChanged:
		if Owner(s.batchID, m.old) != Owner(s.batchID, m.now) {
			s.resubscribe(c)
		}
	case wake:
		if m.n == s.n {
			s.sys.cfg.Logger.Debug("no delivery in time; subscribing again", "batch_id", s.batchID, "after", s.last)
			s.resubscribe(c)
		}
	case actor.Stopped:
		s.sys.subs.Delete(c.PID())
		s.timer.Stop() // armed since Started
		c.Send(s.sys.manager, unsubscribe{batchID: s.batchID, sub: c.PID()})
		s.close()
		s.sys.subscribers.Add(-1)
	}
}

func (s *subscriber) onDelivery(c *actor.Context, m delivery) {
	s.n++
	if errors.Is(m.err, clusterpb.ErrMoved) {
		s.later(c, handbackAfter)
		return
	}
	s.later(c, streamIdle)
	evs := m.events
	for len(evs) > 0 && evs[0].Seq <= s.last {
		evs = evs[1:]
	}
	if len(evs) > 0 && evs[0].Seq != s.last+1 {
		s.resubscribe(c) // a gap: events from a supervisor we had not caught up with
		return
	}
	if len(evs) > 0 {
		s.last = evs[len(evs)-1].Seq
	}
	m.events = evs
	s.deliver(m)
}

// resubscribe subscribes from the last event passed on.
func (s *subscriber) resubscribe(c *actor.Context) {
	if s.closed {
		return
	}
	s.n++
	c.Send(s.sys.manager, subscribe{batchID: s.batchID, after: s.last, sub: c.PID()})
	s.later(c, s.sys.cfg.SubscribeTimeout)
}

// later wakes this subscriber after d unless n moves meanwhile, replacing
// the pending timer (a subscriber waits for one thing at a time).
func (s *subscriber) later(c *actor.Context, d time.Duration) {
	if s.timer != nil {
		s.timer.Stop()
	}
	e, self, msg := c.Engine(), c.PID(), wake{n: s.n}
	s.timer = time.AfterFunc(d, func() { e.Send(self, msg) })
}

func (s *subscriber) deliver(m delivery) {
	if s.closed {
		return
	}
	if len(m.events) == 0 && !m.final && m.err == nil {
		return
	}
	select {
	case s.sub.ch <- &Chunk{Events: m.events, Final: m.final, Err: m.err}:
	default:
		s.sub.cut.Store(true)
		s.sys.cfg.Observer.SubscriberCut()
		s.close()
		return
	}
	if m.final || m.err != nil {
		s.close()
	}
}

func (s *subscriber) close() {
	if !s.closed {
		s.closed = true
		close(s.sub.ch)
	}
}
