package actors

import (
	"github.com/anthdm/hollywood/actor"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/backlot/backlot/actors/clusterpb"
	"github.com/backlot/backlot/actors/resize"
)

// send sends msg to pid: as it is when pid is on this node, in its
// clusterpb form (toWire) to another node, and not at all to a node that
// is not reachable (members.go: Hollywood's router would stall every
// outgoing message for seconds dialling it). This is the one place that
// chooses between a struct and protobuf; receivers undo it with fromWire.
func (s *System) send(pid *actor.PID, msg any) {
	switch {
	case pid == nil:
	case pid.Address == s.engine.Address():
		s.engine.Send(pid, msg)
	case s.reachable(pid):
		s.engine.Send(pid, toWire(msg))
	}
}

// toWire is msg's clusterpb form.
func toWire(msg any) any {
	switch m := msg.(type) {
	case claimed:
		return &clusterpb.Claimed{Job: clusterpb.FromJob(m.job), Pool: m.pool}
	case subscribe:
		return &clusterpb.Subscribe{BatchId: m.batchID, After: m.after, Sub: m.sub}
	case unsubscribe:
		return &clusterpb.Unsubscribe{BatchId: m.batchID, Sub: m.sub}
	case delivery:
		return clusterpb.NewDelivery(m.events, m.final, m.err)
	case resize.Work:
		return &clusterpb.Work{Job: clusterpb.FromJob(m.Job), Opts: clusterpb.FromOptions(m.Opts), Attempt: int32(m.Attempt)}
	case settle:
		return &clusterpb.Settle{Job: clusterpb.FromJob(m.job), Requeue: m.requeue, After: durationpb.New(m.after), FreeSlot: m.freeSlot}
	case resize.Done:
		w := &clusterpb.WorkDone{
			Job: clusterpb.FromJob(m.Job), Attempt: int32(m.Attempt), Width: int32(m.Res.Width),
			Height: int32(m.Res.Height), Bytes: m.Res.Bytes, Sum: m.Res.Sum, Took: durationpb.New(m.Took), Pool: m.Pool,
			Variants: clusterpb.FromOutputs(m.Res.Variants),
		}
		if m.Err != nil {
			w.Failure = &clusterpb.Failure{Message: resize.Message(m.Err), Permanent: resize.Permanent(m.Err)}
		}
		return w
	}
	return msg
}

// fromWire is the struct a clusterpb message stands for, and whether it
// came from another node (a message of this node is returned as it is).
// from is the PID whose node it came from, when the message names one.
func fromWire(msg any) (local any, remote bool, from *actor.PID) {
	switch m := msg.(type) {
	case *clusterpb.Claimed:
		return claimed{job: m.GetJob().Persistence(), pool: m.GetPool()}, true, m.GetPool()
	case *clusterpb.Subscribe:
		return subscribe{batchID: m.GetBatchId(), after: m.GetAfter(), sub: m.GetSub()}, true, m.GetSub()
	case *clusterpb.Unsubscribe:
		return unsubscribe{batchID: m.GetBatchId(), sub: m.GetSub()}, true, nil
	case *clusterpb.Delivery:
		return delivery{events: clusterpb.ToEvents(m.GetEvents()), final: m.GetFinal(), err: m.Err()}, true, nil
	case *clusterpb.Work:
		return resize.Work{Job: m.GetJob().Persistence(), Opts: m.GetOpts().Persistence(), Attempt: int(m.GetAttempt())}, true, nil
	case *clusterpb.Settle:
		return settle{job: m.GetJob().Persistence(), requeue: m.GetRequeue(), after: m.GetAfter().AsDuration(), freeSlot: m.GetFreeSlot()}, true, nil
	case *clusterpb.WorkDone:
		d := resize.Done{Job: m.GetJob().Persistence(), Attempt: int(m.GetAttempt()), Took: m.Duration(), Pool: m.GetPool()}
		d.Res = resize.Result{Width: int(m.GetWidth()), Height: int(m.GetHeight()), Bytes: m.GetBytes(), Sum: m.GetSum(),
			Variants: clusterpb.ToOutputs(m.GetVariants())}
		if f := m.GetFailure(); f != nil {
			d.Err = &remoteFailure{msg: f.GetMessage(), permanent: f.GetPermanent()}
		}
		return d, true, m.GetPool()
	}
	return msg, false, nil
}

// remoteFailure is an attempt's error after it crossed a node: its text,
// and whether it was permanent (it then wraps resize.ErrUnsupported, so
// resize.Permanent holds; resize.Message is the text as it was).
type remoteFailure struct {
	msg       string
	permanent bool
}

func (e *remoteFailure) Error() string { return e.msg }
func (e *remoteFailure) Unwrap() error {
	if e.permanent {
		return resize.ErrUnsupported
	}
	return nil
}
