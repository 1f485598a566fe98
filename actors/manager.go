package actors

import (
	"context"
	"strconv"
	"time"

	"github.com/anthdm/hollywood/actor"

	"github.com/backlot/backlot/actors/resize"
)

// manager routes a batch's messages to its supervisor on the batch's owner
// (members.go): its own, spawned on demand with a fresh actor id, or the
// owner's manager.
type manager struct {
	sys  *System
	sups map[string]*actor.PID
	n    int
}

func newManager(sys *System) actor.Producer {
	return func() actor.Receiver {
		return &manager{sys: sys, sups: make(map[string]*actor.PID)}
	}
}

func (m *manager) Receive(c *actor.Context) {
	msg, remote := fromWire(c.Message())
	switch msg := msg.(type) {
	case claimed:
		m.route(c, msg.job.BatchID, msg, remote)
	case resize.Done:
		m.route(c, msg.Job.BatchID, msg, remote)
	case subscribe:
		m.route(c, msg.batchID, msg, remote)
	case unsubscribe:
		if o := m.sys.ownerOf(msg.batchID); o != m.sys.self() && !remote {
			m.sys.send(managerAt(o), msg)
		} else if pid, ok := m.sups[msg.batchID]; ok {
			c.Send(pid, msg)
		}
	case handback:
		if !msg.held && m.sys.ownerOf(msg.batchID) == m.sys.self() {
			// This node's view still names itself: give the views
			// handbackAfter to converge.
			msg.held = true
			e, self := c.Engine(), c.PID()
			time.AfterFunc(handbackAfter, func() { e.Send(self, msg) })
			return
		}
		m.route(c, msg.batchID, msg.msg, false)
	case membersChanged:
		for _, pid := range m.sups {
			c.Send(pid, msg)
		}
	case finished:
		if pid, ok := m.sups[msg.batchID]; ok && pid.Equals(msg.pid) {
			delete(m.sups, msg.batchID)
		}
		if !msg.handover { // also one already replaced: each finishes once
			c.Engine().Poison(msg.pid)
		}
	case actor.Stopped:
		// Each supervisor handles what is already in its inbox, then stops.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, pid := range m.sups {
			<-c.Engine().PoisonCtx(ctx, pid).Done()
		}
	}
}

// route sends a batch's message to this node's supervisor when this node
// owns the batch or another node's manager sent it (never forwarded
// twice, so views that differ make no loop); else to the owner's manager.
func (m *manager) route(c *actor.Context, batchID string, msg any, remote bool) {
	if o := m.sys.ownerOf(batchID); o != m.sys.self() && !remote {
		m.sys.send(managerAt(o), msg)
		return
	}
	c.Send(m.supervisor(c, batchID), msg)
}

func (m *manager) supervisor(c *actor.Context, batchID string) *actor.PID {
	if pid, ok := m.sups[batchID]; ok {
		return pid
	}
	m.n++
	// Not a Hollywood child: the engine's cleanup of children can wait
	// forever on one stopping at that moment, so the manager poisons its
	// supervisors itself, each once.
	pid := c.Engine().Spawn(newSupervisor(m.sys, batchID, c.PID()), "batch", actor.WithID(batchID+"."+strconv.Itoa(m.n)))
	m.sups[batchID] = pid
	return pid
}
