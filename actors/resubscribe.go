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
//     Subscribe is answered by one Delivery, possibly empty.

// subscribeCheck: SubscribeTimeout passed since Subscribe number gen.
type subscribeCheck struct{ gen uint64 }

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
		if m.gen == s.gen && !s.answered {
			s.sys.cfg.Logger.Debug("no answer to a subscribe; subscribing again", "batch_id", s.batchID, "after", s.last)
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
	s.answered = true
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
	s.answered = false
	c.Send(s.sys.manager, subscribe{batchID: s.batchID, after: s.last, sub: c.PID()})
	s.later(c, s.sys.cfg.SubscribeTimeout, subscribeCheck{gen: s.gen})
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
