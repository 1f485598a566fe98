package actors

import (
	"strconv"

	"github.com/anthdm/hollywood/actor"
)

// manager routes messages for a batch to its supervisor, spawning one when
// the batch has none. Each incarnation gets a fresh actor id, so a stopping
// supervisor never collides with its successor.
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
	switch msg := c.Message().(type) {
	case claimed:
		c.Send(m.supervisor(c, msg.job.BatchID), msg)
	case wake:
		m.supervisor(c, msg.batchID)
	case subscribe:
		c.Send(m.supervisor(c, msg.batchID), msg)
	case unsubscribe:
		if pid, ok := m.sups[msg.batchID]; ok {
			c.Send(pid, msg)
		}
	case finished:
		if pid, ok := m.sups[msg.batchID]; ok && pid.Equals(msg.pid) {
			delete(m.sups, msg.batchID)
			c.Engine().Poison(msg.pid)
		}
	}
}

func (m *manager) supervisor(c *actor.Context, batchID string) *actor.PID {
	if pid, ok := m.sups[batchID]; ok {
		return pid
	}
	m.n++
	pid := c.SpawnChild(newSupervisor(m.sys, batchID), "batch", actor.WithID(batchID+"."+strconv.Itoa(m.n)))
	m.sups[batchID] = pid
	return pid
}
