package actors

import (
	"hash/fnv"
	"slices"

	"github.com/anthdm/hollywood/actor"

	"github.com/backlot/backlot/actors/cluster"
)

// Placement. A batch's supervisor runs on its owner, the member with the
// highest hash of (address, batch id): members that agree on the list
// agree on the owner, and a member leaving moves only its own batches.
// Each manager routes a batch's messages to the owner's manager, which
// spawns the supervisor. A node alone owns every batch, by the same code.

// membersChanged: the member list changed; old and now are sorted
// addresses.
type membersChanged struct{ old, now []string }

// Owner is the address, among members, of batchID's owner.
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

// memberList is the sorted member addresses (just this node when alone).
func (s *System) memberList() []string {
	if p := s.members.Load(); p != nil {
		return *p
	}
	return []string{s.self()}
}

// ownerOf is the address of batchID's supervisor as this node sees it.
func (s *System) ownerOf(batchID string) string { return Owner(batchID, s.memberList()) }

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
	s.members.Store(&now)
	s.cfg.Logger.Info("cluster members changed", "members", now)
	s.tellMembers(membersChanged{old: old, now: now})
}

// tellMembers sends a change to the manager (for its supervisors), the
// pool and every subscriber: directly, since the engine's event stream
// would also send each of them every actor's start and stop.
func (s *System) tellMembers(m membersChanged) {
	s.engine.Send(s.manager, m)
	s.engine.Send(s.pool, m)
	s.subs.Range(func(k, _ any) bool {
		s.engine.Send(k.(*actor.PID), m)
		return true
	})
}
