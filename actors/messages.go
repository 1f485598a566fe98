package actors

import (
	"time"

	"github.com/anthdm/hollywood/actor"

	"github.com/backlot/backlot/persistence"
)

// The messages: plain structs (the resizer's are in actors/resize), turned
// into their clusterpb form and back in wire.go when they cross nodes.

// claimed: pool claimed job; pool → manager → the batch's supervisor.
type claimed struct {
	job  persistence.Job
	pool *actor.PID // the pool that claimed it: its work and settle go there
}

// subscribe: sub wants the events after seq `after`, then live ones.
type subscribe struct {
	batchID string
	after   uint64
	sub     *actor.PID
}

// unsubscribe: sub is gone.
type unsubscribe struct {
	batchID string
	sub     *actor.PID
}

// delivery: events for a subscriber, in order. final: the batch is done and
// these are its last events (or err says why there will be none).
type delivery struct {
	events []persistence.Event
	final  bool
	err    error
}

// settle: supervisor → the pool that claimed job: ack it, or requeue it
// after a wait; freeSlot: it never reached a resizer.
type settle struct {
	job      persistence.Job
	requeue  bool
	after    time.Duration
	freeSlot bool
}

// finished: the supervisor pid stops serving batchID, so the manager
// forgets it; it is stopped too unless it is only handing the batch over
// (handover.go) and still has timers pending.
type finished struct {
	batchID  string
	pid      *actor.PID
	handover bool
}

// retry wraps a message a supervisor handles again after a store failure.
type retry struct{ msg any }

// drain: stop claiming; the pool reports through System.drained once idle.
type drain struct{}
