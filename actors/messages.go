package actors

import (
	"time"

	"github.com/anthdm/hollywood/actor"

	"github.com/backlot/backlot/actors/resize"
	"github.com/backlot/backlot/persistence"
)

// Local-only messages: plain structs. (Messages that cross nodes will be
// protobuf when the cluster comes.)

// claimed: the claim loop took job from the store; routed manager → supervisor.
// pool (clustered mode) is the pool that claimed it; nil: this node's.
type claimed struct {
	job  persistence.Job
	pool *actor.PID
}

// wake: make sure the batch has a supervisor (recovery at start).
type wake struct{ batchID string }

// subscribe: sub wants every event after seq `after`, then live ones.
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

// work: resize one image; the result goes to replyTo.
type work struct {
	job      persistence.Job
	src, dst string
	opts     persistence.Options
	attempt  int
	replyTo  *actor.PID
}

// workDone: the outcome of one attempt.
type workDone struct {
	job     persistence.Job
	attempt int
	res     resize.Result
	err     error
	took    time.Duration
	pool    *actor.PID // clustered: the pool that claimed job
}

// resizerIdle: a resizer finished its job (its slot is free again).
type resizerIdle struct{ pid *actor.PID }

// slotFree: a claimed job will not reach a resizer (already terminal, given
// up, or its supervisor could not load), so its claim slot is free again.
type slotFree struct{}

// finished: the supervisor pid has nothing left to do.
type finished struct {
	batchID string
	pid     *actor.PID
}

// requeue: the backoff of a retried job has passed; put it back in the queue.
type requeue struct{ job persistence.Job }

// drain: stop claiming; the pool reports through System.drained once idle.
type drain struct{}
