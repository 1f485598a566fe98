package resize

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/anthdm/hollywood/actor"

	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/blob"
)

// Work asks a resizer for one attempt at a job's image.
type Work struct {
	Job     persistence.Job
	Opts    persistence.Options
	Attempt int
}

// Done is an attempt's outcome, sent to the resizer's parent (its pool).
type Done struct {
	Job     persistence.Job
	Attempt int
	Res     Result
	Err     error
	Took    time.Duration
	Pool    *actor.PID // the pool that claimed Job (the resizer's parent)
}

// Event is the event this outcome makes: completed, failed (permanent, or
// the last of maxAttempts) or retrying.
func (m Done) Event(maxAttempts int) persistence.Event { return m.EventCharged(m.Attempt, maxAttempts) }

// EventCharged is Event for an attempt that is the charged-th of those
// counted against its image: attempts that failed because the blob store
// could not be reached are not (persistence.Image.Unreachable). Such a
// failure makes a retrying event marked Unavailable, whatever the count:
// not the image's fault.
func (m Done) EventCharged(charged, maxAttempts int) persistence.Event {
	ev := persistence.Event{BatchID: m.Job.BatchID, ImageID: m.Job.ImageID}
	switch {
	case m.Err == nil:
		ev.Type = persistence.EventCompleted
		ev.Width, ev.Height, ev.Bytes, ev.Sum = m.Res.Width, m.Res.Height, m.Res.Bytes, m.Res.Sum
		ev.Variants = m.Res.Variants
	case errors.Is(m.Err, blob.ErrUnavailable):
		ev.Type, ev.Error, ev.Unavailable = persistence.EventRetrying, errUnreachable, true
	case Permanent(m.Err):
		ev.Type, ev.Error = persistence.EventFailed, Message(m.Err)
	case charged < maxAttempts:
		ev.Type, ev.Error = persistence.EventRetrying, Message(m.Err)
	default:
		ev.Type = persistence.EventFailed
		ev.Error = fmt.Sprintf("gave up after %d attempts: %s", charged, Message(m.Err))
	}
	return ev
}

// LogAttrs describe the attempt for the log: image, attempt, error and,
// for a panic, its stack.
func (m Done) LogAttrs() []any {
	attrs := []any{"image_id", m.Job.ImageID, "attempt", m.Attempt, "err", m.Err}
	if pe := (*PanicError)(nil); errors.As(m.Err, &pe) {
		attrs = append(attrs, "stack", string(pe.Stack))
	}
	return attrs
}

// errUnreachable is what a client reads of an attempt the blob store's
// outage failed: the store's own error (endpoints, keys) is the
// operator's, in the log.
const errUnreachable = "the image store could not be reached; trying again once it answers (not counted as an attempt)"

// Idle tells the resizer's parent that it is free again, after Job.
type Idle struct {
	PID *actor.PID
	Job persistence.Job
}

// Watcher hears of each attempt a resizer runs (metrics); its methods are
// called from the resizer's goroutine and must be cheap.
type Watcher interface {
	ResizeStarted()
	ResizeEnded()
}

// NewResizer is the resizer actor: it runs one Work at a time, Process on
// the job's source and result in blobs with lim (whose Budget, shared by
// all resizers, bounds the decodes: an attempt that timed out keeps its
// share until its decode has really returned, so the next one waits for
// it), and answers its parent with Done, then Idle.
func NewResizer(blobs blob.Store, lim Limits, w Watcher) actor.Producer {
	return func() actor.Receiver { return &resizer{blobs: blobs, lim: lim, w: w} }
}

type resizer struct {
	blobs blob.Store
	lim   Limits
	w     Watcher
}

func (r *resizer) Receive(c *actor.Context) {
	if w, ok := c.Message().(Work); ok {
		r.w.ResizeStarted()
		start := time.Now()
		res, err := r.process(w)
		took := time.Since(start)
		r.w.ResizeEnded()
		c.Send(c.Parent(), Done{Job: w.Job, Attempt: w.Attempt, Res: res, Err: err, Took: took, Pool: c.Parent()})
		c.Send(c.Parent(), Idle{PID: c.PID(), Job: w.Job})
	}
}

// process is one attempt at w's job: its source opened from the blob
// store (Process owns and closes it), its result created there when the
// pixels are ready, with the reserve (work already accepted is what it is
// kept for) and not durable (Verify and the rebuild on read cover a power
// cut). A source that cannot be opened is an I/O error, retried like any
// other: one missing since a crash before its upload's 202 fails as
// unreadable once the attempts are spent.
func (r *resizer) process(w Work) (Result, error) {
	// No deadline here: Limits.Timeout bounds the attempt, and one under
	// way when the node drains is let finish.
	ctx := context.Background()
	src, err := r.blobs.Open(ctx, blob.SourceKey(w.Job.BatchID, w.Job.ImageID))
	if err != nil {
		return Result{}, fmt.Errorf("open source: %w", err)
	}
	// The header walks read the head from memory (head.go).
	return Process(withHead(src), func(v persistence.Variant) (blob.Writer, error) {
		key := ResultKey(w.Job.BatchID, w.Job.ImageID, w.Opts, v)
		return r.blobs.Create(ctx, key, blob.CreateOptions{UseReserve: true})
	}, w.Opts, r.lim)
}
