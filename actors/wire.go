package actors

import (
	"slices"

	"github.com/anthdm/hollywood/actor"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/backlot/backlot/actors/clusterpb"
	"github.com/backlot/backlot/actors/resize"
)

// send sends msg to pid: as it is on this node, in its clusterpb form to
// a member, and not at all to a node that is not one (Hollywood's router
// would stall every message for seconds dialling it; a joining node lists
// this one only after this one listed it). The one place that chooses
// between a struct and protobuf; receivers undo it with fromWire.
func (s *System) send(pid *actor.PID, msg any) {
	switch {
	case pid == nil:
	case pid.Address == s.engine.Address():
		s.engine.Send(pid, msg)
	case slices.Contains(s.memberList(), pid.Address):
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
		return clusterpb.FromWork(m)
	case settle:
		return &clusterpb.Settle{Job: clusterpb.FromJob(m.job), Requeue: m.requeue, After: durationpb.New(m.after), FreeSlot: m.freeSlot}
	case resize.Done:
		return clusterpb.FromDone(m)
	}
	return msg
}

// fromWire is the struct a clusterpb message stands for, and whether it
// came from another node.
func fromWire(msg any) (local any, remote bool) {
	switch m := msg.(type) {
	case *clusterpb.Claimed:
		return claimed{job: m.GetJob().Persistence(), pool: m.GetPool()}, true
	case *clusterpb.Subscribe:
		return subscribe{batchID: m.GetBatchId(), after: m.GetAfter(), sub: m.GetSub()}, true
	case *clusterpb.Unsubscribe:
		return unsubscribe{batchID: m.GetBatchId(), sub: m.GetSub()}, true
	case *clusterpb.Delivery:
		return delivery{events: clusterpb.ToEvents(m.GetEvents()), final: m.GetFinal(), err: m.Err()}, true
	case *clusterpb.Work:
		return m.Resize(), true
	case *clusterpb.Settle:
		return settle{job: m.GetJob().Persistence(), requeue: m.GetRequeue(), after: m.GetAfter().AsDuration(), freeSlot: m.GetFreeSlot()}, true
	case *clusterpb.WorkDone:
		return m.Resize(), true
	}
	return msg, false
}
