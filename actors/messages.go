package actors

import (
	"time"

	"github.com/anthdm/hollywood/actor"

	"github.com/backlot/backlot/persistence"
)

// The messages. Every actor sends and receives these plain structs (the
// resizer's, resize.Work, resize.Done and resize.Idle, are its package's);
// the ones that may cross nodes (claimed, subscribe, unsubscribe,
// delivery, settle, resize.Work, resize.Done) are turned into their
// clusterpb form and back in one place, wire.go, when their target is on
// another node.

// claimed: pool claimed job from the store; pool → manager → the batch's
// supervisor.
type claimed struct {
	job  persistence.Job
	pool *actor.PID // the pool that claimed it: its work and settle go there
}

// subscribe: sub wants every event after seq `after`, then live ones;
// subscriber → manager → supervisor.
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

// settle: supervisor → the pool that claimed job: ack it (neither flag),
// or requeue it after a wait; freeSlot when the job never reached a
// resizer, so its claim slot is free again.
type settle struct {
	job      persistence.Job
	requeue  bool
	after    time.Duration
	freeSlot bool
}

// finished: the supervisor pid has nothing left to do.
type finished struct {
	batchID string
	pid     *actor.PID
}

// retry wraps a message a supervisor handles again after a store failure.
type retry struct{ msg any }

// drain: stop claiming; the pool reports through System.drained once idle.
type drain struct{}
