package actors

import (
	"time"

	"github.com/anthdm/hollywood/actor"

	"github.com/backlot/backlot/actors/clusterpb"
	"github.com/backlot/backlot/actors/resize"
)

// Handing a batch over. A supervisor stops serving its batch when the
// store fences it off (persistence.ErrFenced), when the member list names
// another owner, or when it handled a message on a node that is not the
// owner. It then writes nothing more: the manager forgets it, each
// subscriber gets clusterpb.ErrMoved (and subscribes again from its last
// event), and every message it still gets, the refused one first, goes
// back to the manager, which routes it to the owner.

// handbackAfter is how long the manager holds a handed-back message while
// its own view still names this node the owner: the views converge within
// a handshake or two, and routing at once would spawn a supervisor that
// fences the other again, a ping-pong as long as they differ.
const handbackAfter = 400 * time.Millisecond

// handback: a message a handing-over supervisor got; the manager routes it
// to the batch's owner (held: already held for handbackAfter).
type handback struct {
	batchID string
	msg     any
	held    bool
}

// handOver stops this supervisor serving its batch (see above); orig, when
// not nil, is the message whose append was refused.
func (s *supervisor) handOver(c *actor.Context, why string, orig any) {
	s.moved = true
	s.log.Info("supervisor hands its batch over", "why", why, "owner", s.sys.ownerOf(s.id), "subscribers", len(s.subs))
	c.Send(s.manager, finished{batchID: s.id, pid: c.PID(), handover: true})
	for _, sub := range s.subs {
		s.sys.send(sub, delivery{err: clusterpb.ErrMoved})
	}
	clear(s.subs)
	if orig != nil {
		s.handBack(c, orig)
	}
	for _, it := range s.staged { // not appended: their flush will find s.moved
		s.handBack(c, it.orig)
	}
	s.staged = nil
}

// handBack gives a message of a supervisor that handed its batch over back
// to the manager, which routes it to the owner.
func (s *supervisor) handBack(c *actor.Context, msg any) {
	switch m := msg.(type) {
	case retry:
		s.pending--
		s.handBack(c, m.msg)
	case claimed, resize.Done, subscribe:
		c.Send(s.manager, handback{batchID: s.id, msg: m})
	}
}
