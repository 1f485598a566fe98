package persistence

import (
	"context"
	"fmt"
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
