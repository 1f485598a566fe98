package s3blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/backlot/backlot/persistence/blob"
)

// errIdle is the cause of a request cancelled because no byte moved for
// the store's idle timeout: a server that hangs (stopped, or its disk
// stuck) rather than refuses. It is blob.ErrUnavailable to callers.
var errIdle = errors.New("no byte moved within the idle timeout")

// watchdog cancels a request's ctx once nothing moved for idle: each
// Read of the body it wraps (a GET's response, a PUT's spool as the
// transport sends it) puts the deadline off again. A stalled server then
// fails the request with ErrUnavailable instead of holding it, and what
// waits on it (a resize attempt's decode, an upload), forever.
type watchdog struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer
	idle   time.Duration
}

func newWatchdog(parent context.Context, idle time.Duration) *watchdog {
	ctx, cancel := context.WithCancelCause(parent)
	w := &watchdog{ctx: ctx, cancel: cancel, idle: idle}
	w.timer = time.AfterFunc(idle, func() { cancel(errIdle) })
	return w
}

// kick puts the deadline off: bytes moved.
func (w *watchdog) kick() { w.timer.Reset(w.idle) }

// pause stops the watch while nobody reads (an answer kept for later);
// resume starts it again before a read.
func (w *watchdog) pause()  { w.timer.Stop() }
func (w *watchdog) resume() { w.timer.Reset(w.idle) }

// stop ends the watch and the request's ctx.
func (w *watchdog) stop() {
	w.timer.Stop()
	w.cancel(context.Canceled)
}

// fired reports whether the watchdog cancelled the request.
func (w *watchdog) fired() bool { return errors.Is(context.Cause(w.ctx), errIdle) }

// err is err as callers should see it: ErrUnavailable when the watchdog
// cut the request.
func (w *watchdog) err(op, key string, err error) error {
	if err != nil && w.fired() {
		return fmt.Errorf("%s %s: %w: %w", op, key, blob.ErrUnavailable, errIdle)
	}
	return err
}

// watchedReader kicks its watchdog on every Read that moved bytes, and
// turns the error of a Read the watchdog cut into ErrUnavailable.
type watchedReader struct {
	r   io.Reader
	w   *watchdog
	op  string
	key string
}

func (r *watchedReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.w.kick()
	}
	if err != nil && err != io.EOF {
		err = r.w.err(r.op, r.key, err)
	}
	return n, err
}

// watchedBody is a GET's response body under a watchdog, which Close
// stops.
type watchedBody struct {
	watchedReader
	c io.Closer
}

func (b *watchedBody) Close() error {
	b.w.stop()
	return b.c.Close()
}

// watchedFile is a PUT's spool under a watchdog; it seeks, so that
// minio-go may send it again on a retry.
type watchedFile struct {
	watchedReader
	f io.Seeker
}

func (f *watchedFile) Seek(off int64, whence int) (int64, error) { return f.f.Seek(off, whence) }
