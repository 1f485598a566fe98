package actors

import (
	"context"
	"strconv"
	"time"

	"github.com/anthdm/hollywood/actor"
)

// stopTimeout bounds how long the manager waits for its supervisors.
const stopTimeout = 10 * time.Second

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
	if m.sys.clustered() && m.clusterReceive(c, c.Message()) {
		return
	}
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
		}
		// Also a supervisor already replaced (one that handed its batch
		// over): each sends finished once, so each is poisoned once.
		c.Engine().Poison(msg.pid)
	case actor.Stopped:
		// Each supervisor handles what is already in its inbox, then stops.
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		defer cancel()
		for _, pid := range m.sups {
			<-c.Engine().PoisonCtx(ctx, pid).Done()
		}
	}
}

func (m *manager) supervisor(c *actor.Context, batchID string) *actor.PID {
	if pid, ok := m.sups[batchID]; ok {
		return pid
	}
	m.n++
	// Not a Hollywood child: the engine's cleanup of children can wait
	// forever on a child that is stopping at that moment (its poison pill
	// lands in an inbox already stopped), so the manager stops its
	// supervisors itself, each poisoned exactly once.
	pid := c.Engine().Spawn(newSupervisor(m.sys, batchID, c.PID()), "batch", actor.WithID(batchID+"."+strconv.Itoa(m.n)))
	m.sups[batchID] = pid
	return pid
}
