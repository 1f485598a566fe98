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
// Tokens live in memory, not in the file (persistence.LocalFences): a
// bbolt file is locked by one process (Open), so every writer of a batch
// lives in the process that holds the store, and a restart ends them all.
func (s *Store) Fence(ctx context.Context, id string) (uint64, error) {
	b, err := s.Batch(ctx, id)
	if err != nil {
		return 0, err
	}
	return s.fences.Next(id, b.Done), nil
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
		if err := s.fences.Check(id, token); err != nil {
			return nil, nil, s.fail(fmt.Sprintf("check the fence of batch %s", id), err)
		}
		return []persistence.Event{}, b, nil
	}
	return s.append(ctx, id, func(*bbolt.Tx) error { return s.fences.Check(id, token) }, evs)
}
