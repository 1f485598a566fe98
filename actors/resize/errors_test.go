package resize

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/blob"
)

func TestMessageHidesPaths(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "secret-dir", "x.src")
	_, err := processFile(src, filepath.Join(dir, "out.jpg"), persistence.DefaultOptions(), Limits{})
	if err == nil || Permanent(err) {
		t.Fatalf("missing source: %v", err)
	}
	msg := Message(err)
	if strings.Contains(msg, dir) || strings.Contains(msg, "secret-dir") || !strings.Contains(msg, "no such file") {
		t.Fatalf("Message(%q) = %q", err, msg)
	}
}

// TestDoneEvent: an attempt's outcome makes completed, retrying until the
// last attempt, then failed with the reason; a permanent error fails at
// once.
func TestDoneEvent(t *testing.T) {
	job := persistence.Job{BatchID: "b", ImageID: "i"}
	transient := errors.New("resize timed out")
	permanent := fmt.Errorf("decode: %w", ErrUnsupported)
	for _, tt := range []struct {
		done    Done
		typ     persistence.EventType
		errText string
	}{
		{Done{Job: job, Attempt: 1, Res: Result{Width: 10, Height: 5, Bytes: 99, Sum: 7}}, persistence.EventCompleted, ""},
		{Done{Job: job, Attempt: 1, Err: transient}, persistence.EventRetrying, Message(transient)},
		{Done{Job: job, Attempt: 2, Err: transient}, persistence.EventRetrying, Message(transient)},
		{Done{Job: job, Attempt: 3, Err: transient}, persistence.EventFailed, "gave up after 3 attempts: " + Message(transient)},
		{Done{Job: job, Attempt: 1, Err: permanent}, persistence.EventFailed, Message(permanent)},
		// the blob store's outage: retried whatever the count, the attempt not charged
		{Done{Job: job, Attempt: 3, Err: fmt.Errorf("open source: %w", blob.ErrUnavailable)}, persistence.EventRetrying, errUnreachable},
	} {
		ev := tt.done.Event(3)
		if ev.Type != tt.typ || ev.Error != tt.errText || ev.BatchID != "b" || ev.ImageID != "i" ||
			ev.Unavailable != errors.Is(tt.done.Err, blob.ErrUnavailable) {
			t.Errorf("attempt %d, err %v: got %s %q, want %s %q", tt.done.Attempt, tt.done.Err, ev.Type, ev.Error, tt.typ, tt.errText)
		}
		if tt.typ == persistence.EventCompleted && (ev.Width != 10 || ev.Height != 5 || ev.Bytes != 99 || ev.Sum != 7) {
			t.Errorf("completed event %+v lost the result", ev)
		}
	}
}

// TestDoneLogAttrs: a failed attempt's log line names the image and the
// attempt, and carries a panic's stack even when the error wraps it.
func TestDoneLogAttrs(t *testing.T) {
	job := persistence.Job{BatchID: "b", ImageID: "i"}
	panicked := fmt.Errorf("worker: %w", &PanicError{Value: "boom", Stack: []byte("goroutine 7 [running]")})
	attrs := fmt.Sprint(Done{Job: job, Attempt: 2, Err: panicked}.LogAttrs())
	if !strings.Contains(attrs, "image_id i attempt 2") || !strings.Contains(attrs, "stack goroutine 7 [running]") {
		t.Errorf("attrs %s: want the image, the attempt and the stack", attrs)
	}
	if attrs := fmt.Sprint(Done{Job: job, Attempt: 1, Err: ErrTimeout}.LogAttrs()); strings.Contains(attrs, "stack") {
		t.Errorf("attrs %s: a stack for an error that is no panic", attrs)
	}
}
