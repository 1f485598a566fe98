package actors

import (
	"errors"
	"time"

	"github.com/anthdm/hollywood/actor"

	"github.com/backlot/backlot/actors/clusterpb"
)

// The clustered subscriber keeps the last seq it passed on, so whenever it
// subscribes again (its batch's supervisor moved, a gap, no answer) it asks
// for the events after that one: nothing repeated, no gap. It subscribes
// again
//   - when the member list changes its batch's owner;
//   - on a Delivery whose first event is past last+1 (a gap);
//   - on clusterpb.ErrMoved (its supervisor handed the batch over), after
//     handbackAfter, when the members' views have likely converged;
//   - when no Delivery came within SubscribeTimeout of a Subscribe (the
//     Subscribe or its answer was lost: a dead letter on a node restarting
//     under the same address, a supervisor that stopped meanwhile). Every
//     Subscribe is answered by one Delivery, possibly empty;
//   - when no Delivery came for streamIdle while the batch is unfinished:
//     a fan-out can be lost too (a supervisor does not send to a node its
//     view does not list yet), and when the lost one carried the done,
//     nothing later would show the gap.

// streamIdle is how long a subscriber waits without a Delivery before it
// subscribes again (a batch may be idle that long legitimately: the cost
// is one Subscribe and an empty answer).
const streamIdle = 5 * time.Second

// subscribeCheck: SubscribeTimeout passed since Subscribe number gen, or
// streamIdle since delivery number got.
type subscribeCheck struct{ gen, got uint64 }

// resubscribeNow: the wait after a move is over.
type resubscribeNow struct{}

// clusterReceive handles the clustered subscriber's messages; it reports
// whether msg was one.
func (s *subscriber) clusterReceive(c *actor.Context, msg any) bool {
	switch m := msg.(type) {
	case actor.Started:
		s.last = s.after
		c.Engine().Subscribe(c.PID())
		s.resubscribe(c)
	case actor.Stopped:
		c.Engine().Unsubscribe(c.PID())
		if s.timer != nil {
			s.timer.Stop()
		}
		return false
	case *clusterpb.Delivery:
		s.clusterDeliver(c, delivery{events: clusterpb.ToEvents(m.GetEvents()), final: m.GetFinal(), err: m.Err()})
	case delivery:
		s.clusterDeliver(c, m)
	case membersChanged:
		if Owner(s.batchID, m.old) != Owner(s.batchID, m.now) {
			s.resubscribe(c)
		}
	case subscribeCheck:
		if m.gen == s.gen && m.got == s.got {
			s.sys.cfg.Logger.Debug("no delivery in time; subscribing again", "batch_id", s.batchID, "after", s.last)
			s.resubscribe(c)
		}
	case resubscribeNow:
		s.resubscribe(c)
	default:
		return false
	}
	return true
}

func (s *subscriber) clusterDeliver(c *actor.Context, m delivery) {
	s.got++
	s.later(c, streamIdle, subscribeCheck{gen: s.gen, got: s.got})
	if errors.Is(m.err, clusterpb.ErrMoved) {
		s.later(c, handbackAfter, resubscribeNow{})
		return
	}
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

// resubscribe subscribes (again) from the last event passed on and checks
// for an answer after SubscribeTimeout.
func (s *subscriber) resubscribe(c *actor.Context) {
	if s.closed {
		return
	}
	s.gen++
	c.Send(s.sys.manager, subscribe{batchID: s.batchID, after: s.last, sub: c.PID()})
	s.later(c, s.sys.cfg.SubscribeTimeout, subscribeCheck{gen: s.gen, got: s.got})
}

// later sends msg to this subscriber after d, replacing the pending timer
// (a subscriber waits for one thing at a time).
func (s *subscriber) later(c *actor.Context, d time.Duration, msg any) {
	if s.timer != nil {
		s.timer.Stop()
	}
	e, self := c.Engine(), c.PID()
	s.timer = time.AfterFunc(d, func() { e.Send(self, msg) })
}
