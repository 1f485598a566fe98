package actors

import (
	"github.com/anthdm/hollywood/actor"

	"github.com/backlot/backlot/persistence"
)

// Two writers of one batch's log: a second supervisor while the members'
// views differ, or any writer when the store cannot fence. The store keeps
// the log valid (no gap, no repeated seq, no second terminal event); these
// keep each supervisor's mirror, its subscribers and the batch's done right.

// closeDone: record the done of a batch whose images are all terminal.
type closeDone struct{}

// closeBatch records done when the batch as stored has every image
// terminal but no done. WithDone adds done to the write of the last
// terminal event, but it judges by this supervisor's mirror: two writers
// of one batch (around a change of members, or when the store cannot
// fence) may each write a last terminal event that the other's mirror
// lacks, and neither adds done.
func (s *supervisor) closeBatch(c *actor.Context) {
	if s.batch != nil && s.batch.Finished() && !s.batch.Done && !s.moved {
		s.append(c, closeDone{}, persistence.Event{Type: persistence.EventDone, BatchID: s.id})
	}
}

// missed is every event after the mirror's last one, read from the store
// after ours (own) were appended behind another writer's; own alone when
// the store cannot be read (the gap then shows as a resubscribe).
func (s *supervisor) missed(own []persistence.Event) []persistence.Event {
	ctx, cancel := s.ctx()
	defer cancel()
	evs, err := s.sys.cfg.Store.Events(ctx, s.id, uint64(len(s.events)))
	if err != nil || len(evs) == 0 || evs[len(evs)-1].Seq < own[len(own)-1].Seq {
		s.log.Warn("resync after a concurrent append failed", "err", err)
		return own
	}
	s.log.Info("log written by another supervisor; resynced", "missed", len(evs)-len(own))
	return evs[:len(evs)-int(evs[len(evs)-1].Seq-own[len(own)-1].Seq)]
}

// catchUp reads what another writer appended behind this supervisor's back
// (a supervisor on a node whose view was stale, or the other side of a
// split) and passes it on, so a subscriber that subscribes again (after a
// gap, a move, a timeout) always gets the log as stored, even from a
// supervisor that will never append again. Store errors are left to the
// next try.
func (s *supervisor) catchUp(c *actor.Context) {
	ctx, cancel := s.ctx()
	defer cancel()
	b, err := s.sys.cfg.Store.Batch(ctx, s.id)
	if err != nil || b.LastSeq <= uint64(len(s.events)) {
		return
	}
	evs, err := s.sys.cfg.Store.Events(ctx, s.id, uint64(len(s.events)))
	if err != nil {
		return
	}
	for len(evs) > 0 && evs[len(evs)-1].Seq > b.LastSeq {
		evs = evs[:len(evs)-1] // appended after b was read: the next append resyncs them
	}
	if len(evs) == 0 || evs[0].Seq != uint64(len(s.events))+1 {
		return
	}
	s.log.Info("log written by another supervisor; caught up", "missed", len(evs))
	s.batch = b
	s.events = append(s.events, evs...)
	s.fanOut(c, evs)
	s.closeBatch(c)
}
