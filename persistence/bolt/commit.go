package bolt

import (
	"errors"

	bbolt "go.etcd.io/bbolt"
)

// maxGroup bounds how many writes share one transaction: enough to absorb
// every supervisor, claimer and upload of a busy node at once, few enough
// that one transaction's pages stay small.
const maxGroup = 128

// write is one caller's part of a group commit.
type write struct {
	fn   func(*bbolt.Tx) error
	done chan error  // buffered (1): the committer never blocks on a caller
	then func(error) // instead of done, for a write nobody waits for (updateAsync)
}

func (w *write) answer(err error) {
	if w.then != nil {
		w.then(err)
		return
	}
	w.done <- err
}

// errGroupFailed ends a shared transaction when one of its writes failed.
var errGroupFailed = errors.New("a write of the group failed")

// update runs fn in a durable write transaction, as db.Update does, but
// writes that arrive while a commit is under way share the next one: one
// fsync'd commit for all of them (group commit). No timer is involved: a
// lone write commits at once, exactly like db.Update; writes only wait for
// the commit in front of them, which they would have waited for anyway,
// since bbolt runs one writer at a time.
//
// fn may run more than once (its group's transaction is rolled back and
// each write run alone when one of them fails), so it must not keep
// effects outside tx from a run whose transaction did not commit: set
// outputs at the start of fn, not only on the paths that assign them.
func (s *Store) update(fn func(*bbolt.Tx) error) error {
	w := &write{fn: fn, done: make(chan error, 1)}
	select {
	case s.writes <- w:
	case <-s.quit: // Close has begun
		return bbolt.ErrDatabaseNotOpen
	}
	select {
	case err := <-w.done:
		return err
	case <-s.loopDone:
		// The committer has ended: either it answered w before (the
		// answer is waiting) or w was still queued and never ran.
		select {
		case err := <-w.done:
			return err
		default:
			return bbolt.ErrDatabaseNotOpen
		}
	}
}

// updateAsync queues fn for the next commit like update, without waiting
// for it: then gets the outcome, on the committer's goroutine (it must be
// quick). If the store is closing, fn does not run and then gets the error.
// Writes queued before Close are committed by Close.
func (s *Store) updateAsync(fn func(*bbolt.Tx) error, then func(error)) {
	w := &write{fn: fn, then: then}
	select {
	case s.writes <- w:
	case <-s.quit:
		then(bbolt.ErrDatabaseNotOpen)
	}
}

// commitLoop is the one goroutine that commits writes, started by Open and
// ended by Close (after which update fails). It takes the first write
// waiting, then every other one already waiting (never waiting for more),
// and commits them together.
func (s *Store) commitLoop() {
	defer close(s.loopDone)
	group := make([]*write, 0, maxGroup)
	for {
		select {
		case w := <-s.writes:
			group = append(group[:0], w)
		case <-s.quit:
			s.drain(group)
			return
		}
		group = s.queued(group)
		s.commit(group)
		clear(group) // drop the closures until the next group
	}
}

// queued appends to group the writes waiting now, up to maxGroup in all,
// without waiting for more.
func (s *Store) queued(group []*write) []*write {
	for len(group) < maxGroup {
		select {
		case w := <-s.writes:
			group = append(group, w)
		default:
			return group
		}
	}
	return group
}

// commit runs group in one transaction and answers each write. When one
// write fails, that transaction is rolled back and every write runs in a
// transaction of its own, so a failing write fails alone and changes
// nothing, as with db.Update. A failed commit (the disk) fails them all.
func (s *Store) commit(group []*write) {
	if len(group) == 1 {
		group[0].answer(s.solo(group[0].fn))
		return
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		for _, w := range group {
			if err := w.fn(tx); err != nil {
				return errGroupFailed
			}
		}
		return nil
	})
	if errors.Is(err, errGroupFailed) {
		for _, w := range group {
			w.answer(s.solo(w.fn))
		}
		return
	}
	if err == nil {
		s.commits.Add(1)
	}
	for _, w := range group {
		w.answer(err)
	}
}

// drain commits the writes already queued when Close began (an
// asynchronous Ack, say), so a clean shutdown loses none of them.
func (s *Store) drain(group []*write) {
	for {
		group = s.queued(group[:0])
		if len(group) == 0 {
			return
		}
		s.commit(group)
	}
}

// solo runs fn in a transaction of its own.
func (s *Store) solo(fn func(*bbolt.Tx) error) error {
	err := s.db.Update(fn)
	if err == nil {
		s.commits.Add(1)
	}
	return err
}
