package persistence

import (
	"context"
	"fmt"
	"sync"
)

// ErrFenced: a fenced append was refused because another writer took the
// batch (a later Fence) since the caller's token was given. It wraps
// ErrConflict: nothing of the append was written.
var ErrFenced = fmt.Errorf("writer fenced off by a later one: %w", ErrConflict)

// Fencer fences a batch's writer, so that of two writers of one log (two
// supervisors of a batch while the members of a cluster disagree on its
// owner) only the one that fenced last writes.
// The Store's own rules (no gap, no repeated seq, no second terminal event)
// hold either way; fencing also stops a stale writer from adding legal but
// stale events (a second processing) on top of a mirror it no longer owns.
type Fencer interface {
	// Fence makes the caller the batch's writer: it returns a token greater
	// than every one given before for the batch. ErrNotFound if the batch
	// is unknown. A writer fences before it reads the batch, so it reads
	// everything its predecessor wrote before being cut off.
	Fence(ctx context.Context, id string) (uint64, error)

	// AppendFenced is Append, run only while token is the batch's latest:
	// otherwise it returns an error wrapping ErrFenced (and so
	// ErrConflict) and writes nothing. The check and the write are atomic.
	// With no events it only checks: the batch as stored while token is
	// the latest, ErrFenced otherwise (a writer that has not written for a
	// while learns this way that it was cut off).
	AppendFenced(ctx context.Context, id string, token uint64, evs ...Event) ([]Event, *Batch, error)
}

// LocalFences keeps the fencing tokens of a backend whose data one
// process holds under a lock (bolt, pebble): in memory, not in the data.
// Every writer of its batches lives in that process and a restart ends
// them all, so the first token after a restart may start from 1 again,
// which no living writer holds, and fencing costs no write. Tokens come
// from one sequence for all batches; only unfinished batches keep theirs
// (nothing is appended after done), so it holds the batches in progress,
// not every batch the process has seen. Safe for concurrent use; the
// zero value is ready.
type LocalFences struct {
	mu     sync.Mutex
	latest map[string]uint64 // unfinished batch id → its latest token
	seq    uint64            // the last token given, for any batch
}

// Next returns a token greater than every one given, id's latest unless
// the batch is done.
func (f *LocalFences) Next(id string, done bool) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	if !done {
		if f.latest == nil {
			f.latest = map[string]uint64{}
		}
		f.latest[id] = f.seq
	}
	return f.seq
}

// Check returns an error wrapping ErrFenced unless token is id's latest.
func (f *LocalFences) Check(id string, token uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cur := f.latest[id]; cur != token {
		return fmt.Errorf("token %d, latest %d: %w", token, cur, ErrFenced)
	}
	return nil
}

// Forget drops id's token: its done is written, or it is deleted.
func (f *LocalFences) Forget(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.latest, id)
}

// Len is how many batches keep a token.
func (f *LocalFences) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.latest)
}
