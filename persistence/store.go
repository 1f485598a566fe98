package persistence

import (
	"context"
	"time"
)

// Store is what a backend keeps: batches with their images, a per-batch
// append-only event log, and a reliable work queue (pending → in flight →
// acked, or requeued). Each method takes a ctx; a closed store returns
// ErrClosed, an unreachable one an error wrapping ErrUnavailable.
type Store interface {
	// Create records b, its first event (queued, already applied to b by
	// NewBatch) and one pending job per image, all or nothing and durably
	// before it returns. ErrExists if the id is taken.
	Create(ctx context.Context, b *Batch, queued Event) error

	// Batch returns the batch as last written. ErrNotFound if unknown.
	Batch(ctx context.Context, id string) (*Batch, error)

	// Events returns the batch's events with Seq > after, in order; none
	// (not an error) when after is at or beyond the last. ErrNotFound if the
	// batch is unknown.
	Events(ctx context.Context, id string, after uint64) ([]Event, error)

	// Append applies evs to the stored batch with Batch.Decide and stores
	// what it decided, all or nothing, durably: evs and, when they leave
	// every image terminal, done in the same write. It returns the stored
	// events with their sequence numbers (done last when it came) and the
	// batch after them. A writer's own done or queued is refused. A broken rule returns an
	// error wrapping ErrConflict and writes nothing; two appenders racing
	// never produce a gap, a repeated Seq or a second terminal event.
	Append(ctx context.Context, id string, evs ...Event) ([]Event, *Batch, error)

	// Unfinished lists the ids of batches whose done is not yet recorded.
	Unfinished(ctx context.Context) ([]string, error)

	// Claim takes the oldest pending job and records it as in flight. It
	// blocks until a job is pending or ctx ends (then it returns ctx.Err()),
	// or the store is closed (then ErrClosed). Jobs still in flight when the
	// store was closed or the process died are pending again once the store
	// is reopened: delivery is at least once.
	Claim(ctx context.Context) (Job, error)

	// Ack removes an in-flight job for good. Acking a job that is not in
	// flight is not an error and changes nothing (a redelivered duplicate may
	// be acked twice; a pending job stays pending).
	Ack(ctx context.Context, j Job) error

	// Requeue moves an in-flight job back to the end of the pending queue.
	// A job that is not in flight is left alone and is not an error, so a job
	// is never pending twice.
	Requeue(ctx context.Context, j Job) error

	// Close releases the store and wakes blocked Claims; later calls,
	// Close included, return ErrClosed.
	Close() error

	// Every backend has these too: part of the contract, not options a
	// wrapper could hide by accident (storetest runs them on every one).
	Pinger
	QueueStats
	Retainer
	Fencer
}

// Pinger says whether the store is reachable.
type Pinger interface {
	Ping(ctx context.Context) error
}

// QueueStats counts the queue.
type QueueStats interface {
	QueueDepth(ctx context.Context) (pending, inflight int, err error)
}

// Retainer forgets finished batches (retention).
type Retainer interface {
	// Expired lists up to limit ids of batches whose done was recorded
	// before t, oldest first.
	Expired(ctx context.Context, before time.Time, limit int) ([]string, error)
	// Delete removes a finished batch and its event log. ErrNotFound if
	// unknown; an error wrapping ErrConflict if the batch is not done.
	Delete(ctx context.Context, id string) error
}
