package bolt

import (
	"context"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/backlot/backlot/persistence"
)

// Fence makes the caller the batch's writer: it returns a token greater
// than every one given for the batch since the store was opened.
//
// Tokens live in memory, not in the file: a bbolt file is locked by one
// process (Open), so every writer of a batch lives in the process that
// holds the store, and a restart ends them all; the first Fence after a
// restart starts from 1 again, which no living writer holds. Fencing
// costs no commit. Tokens come from one sequence for all batches, and
// only unfinished batches keep theirs: a batch's entry goes when its done
// is written (nothing is appended after done), so the map holds the
// batches in progress, not every batch the process has seen.
func (s *Store) Fence(ctx context.Context, id string) (uint64, error) {
	b, err := s.Batch(ctx, id)
	if err != nil {
		return 0, err
	}
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.fenceSeq++
	if !b.Done {
		s.fences[id] = s.fenceSeq
	}
	return s.fenceSeq, nil
}

// AppendFenced is Append, run only while token is the batch's latest. The
// check runs inside the write's transaction function, where writes are
// serialised, so an append whose check passed is ordered before any Fence
// that returned after it began: a writer fenced off writes nothing more.
// With no events it only checks, returning the batch as stored.
func (s *Store) AppendFenced(ctx context.Context, id string, token uint64, evs ...persistence.Event) ([]persistence.Event, *persistence.Batch, error) {
	if len(evs) == 0 {
		b, err := s.Batch(ctx, id)
		if err != nil {
			return nil, nil, err
		}
		if err := s.checkFence(id, token); err != nil {
			return nil, nil, s.fail(fmt.Sprintf("check the fence of batch %s", id), err)
		}
		return []persistence.Event{}, b, nil
	}
	return s.append(ctx, id, func(*bbolt.Tx) error { return s.checkFence(id, token) }, evs)
}

func (s *Store) checkFence(id string, token uint64) error {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	if cur := s.fences[id]; cur != token {
		return fmt.Errorf("token %d, latest %d: %w", token, cur, persistence.ErrFenced)
	}
	return nil
}
