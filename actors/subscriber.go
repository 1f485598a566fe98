package actors

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/anthdm/hollywood/actor"

	"github.com/backlot/backlot/persistence"
)

// Chunk is what a subscription yields: events in order; Final marks the
// last chunk of a finished batch, Err a subscription that cannot be served.
type Chunk struct {
	Events []persistence.Event
	Final  bool
	Err    error
}

// ErrTooSlow ends a subscription whose reader fell more than the buffer
// behind; the client resumes with Last-Event-ID and loses nothing.
var ErrTooSlow = errors.New("subscriber fell too far behind")

// Subscription is one SSE connection's view of a batch. C is closed after
// the Final chunk, or early when the reader is too slow (Cut reports it) or
// the subscription is closed.
type Subscription struct {
	sys *System
	pid *actor.PID
	// ch holds pointers: its buffer (SubscriberBuffer slots, allocated
	// whole when the subscription opens) costs an idle stream 8 bytes a
	// slot, not a Chunk's 48.
	ch  chan *Chunk
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
	after   uint64
	sub     *Subscription
	closed  bool
	last    uint64 // the highest seq passed on (at first: after)
	// clustered: gen numbers this subscriber's Subscribes, got its
	// Deliveries; timer checks that one came (resubscribe.go), or
	// resubscribes after a move.
	gen   uint64
	got   uint64
	timer *time.Timer
}

// subscriberInbox is a subscriber actor's initial inbox, in messages.
// Hollywood's default (1024 envelopes of 24 bytes: 24 KiB) would be most of
// an idle stream's memory; a subscriber gets one message per chunk, taken
// off at once, and the ring buffer grows when a burst needs more.
const subscriberInbox = 8

// subscriberOpts are the spawn options of every subscriber actor.
func subscriberOpts() []actor.OptFunc {
	return []actor.OptFunc{actor.WithInboxSize(subscriberInbox)}
}

func newSubscriber(sys *System, batchID string, after uint64, sub *Subscription) actor.Producer {
	return func() actor.Receiver {
		return &subscriber{sys: sys, batchID: batchID, after: after, last: after, sub: sub}
	}
}

func (s *subscriber) Receive(c *actor.Context) {
	if s.sys.clustered() && s.clusterReceive(c, c.Message()) {
		return
	}
	switch m := c.Message().(type) {
	case actor.Started:
		c.Send(s.sys.manager, subscribe{batchID: s.batchID, after: s.after, sub: c.PID()})
	case delivery:
		m.events = s.fresh(m.events)
		s.deliver(m)
	case actor.Stopped:
		c.Send(s.sys.manager, unsubscribe{batchID: s.batchID, sub: c.PID()})
		s.close()
		s.sys.subscribers.Add(-1)
	}
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

// fresh drops the events at or below the last one passed on (at first the
// resume point), so a subscriber never sees an event twice or one at or
// below its Last-Event-ID, whatever a delivery holds; it advances last.
func (s *subscriber) fresh(evs []persistence.Event) []persistence.Event {
	for len(evs) > 0 && evs[0].Seq <= s.last {
		evs = evs[1:]
	}
	if len(evs) > 0 {
		s.last = evs[len(evs)-1].Seq
	}
	return evs
}

func (s *subscriber) close() {
	if !s.closed {
		s.closed = true
		close(s.sub.ch)
	}
}
