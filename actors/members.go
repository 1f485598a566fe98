package actors

import (
	"hash/fnv"
	"slices"
	"time"

	"github.com/anthdm/hollywood/actor"

	"github.com/backlot/backlot/actors/cluster"
)

// Placement. A batch's supervisor runs on its owner: the member with the
// highest hash of (address, batch id) (rendezvous hashing), so members
// that agree on the member list agree on the owner, and a member leaving
// moves only the batches it owned. Every node's manager routes a batch's
// messages to the owner's manager ("manager/node" on that address), which
// spawns the supervisor locally. A node alone is a cluster of one: its
// member list is itself, so it owns every batch and every message stays
// on it, by the same code.

// membersChanged: the member list changed; old and now are sorted
// addresses.
type membersChanged struct{ old, now []string }

// Owner is the address, among members, of the member that runs batchID's
// supervisor (tests use it to find the node to kill).
func Owner(batchID string, members []string) string {
	var best string
	var bestH uint64
	for _, a := range members {
		h := fnv.New64a()
		h.Write([]byte(a))
		h.Write([]byte{'/'})
		h.Write([]byte(batchID))
		if v := h.Sum64(); best == "" || v > bestH {
			best, bestH = a, v
		}
	}
	return best
}

// self is this node's address, as its PIDs carry it.
func (s *System) self() string { return s.engine.Address() }

// memberList is the last member list read (sorted addresses); just this
// node before the first read, and always for a node alone.
func (s *System) memberList() []string {
	if p := s.members.Load(); p != nil {
		return *p
	}
	return []string{s.self()}
}

// ownerOf is the address of batchID's supervisor as this node sees it.
func (s *System) ownerOf(batchID string) string { return Owner(batchID, s.memberList()) }

// reachable reports whether a message to pid may be sent: a PID on a
// current member, or on a node a message came from within heardFor (a
// node that just joined: it claims and subscribes at once, while the
// members here may not list it for a second or so yet, and an answer
// dropped then would wait for HeldTimeout).
func (s *System) reachable(pid *actor.PID) bool {
	return slices.Contains(s.memberList(), pid.Address) || s.heardLately(pid.Address)
}

// heardFor is how long a message from a node makes it reachable without
// being a member. A member that leaves is forgotten at once (setMembers),
// so a dead node is never dialled for longer than before.
const heardFor = 2 * time.Second

// heard records that a message came from the node of pid.
func (s *System) heard(pid *actor.PID) {
	if pid != nil && pid.Address != s.self() {
		s.heardAt.Store(pid.Address, time.Now())
	}
}

func (s *System) heardLately(addr string) bool {
	v, ok := s.heardAt.Load(addr)
	return ok && time.Since(v.(time.Time)) < heardFor
}

// managerAt is the manager of the node at addr.
func managerAt(addr string) *actor.PID { return actor.NewPID(addr, "manager/node") }

// setMembers takes the cluster's member list (cluster.Node.OnChange) and
// tells the actors of each change.
func (s *System) setMembers(ms []cluster.Member) {
	now := make([]string, 0, len(ms))
	for _, m := range ms {
		now = append(now, m.Addr)
	}
	slices.Sort(now)
	old := s.memberList()
	if slices.Equal(old, now) {
		return
	}
	for _, a := range old {
		if !slices.Contains(now, a) {
			s.heardAt.Delete(a) // left: never dialled again
		}
	}
	s.members.Store(&now)
	s.cfg.Logger.Info("cluster members changed", "members", now)
	s.tellMembers(membersChanged{old: old, now: now})
}

// tellMembers sends a change of members to the actors that act on it:
// the manager (which passes it to its supervisors), the pool and every
// subscriber. Sent directly rather than through the engine's event
// stream, which forwards every actor's start and stop to each actor
// subscribed to it: with a subscriber per event stream, that is the
// square of the streams in messages.
func (s *System) tellMembers(m membersChanged) {
	s.engine.Send(s.manager, m)
	s.engine.Send(s.pool, m)
	s.subs.Range(func(k, _ any) bool {
		s.engine.Send(k.(*actor.PID), m)
		return true
	})
}
