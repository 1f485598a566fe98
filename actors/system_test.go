package actors

import (
	"bytes"
	"context"
	"image/jpeg"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/backlot/backlot/actors/resize"
	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/blob"
	"github.com/backlot/backlot/persistence/bolt"
)

type env struct {
	store persistence.Store
	blobs blob.Store
	sys   *System
}

func newEnv(t *testing.T, mutate func(*Config)) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: st, blobs: blobsAt(t, dir)}
	cfg := Config{Store: st, Blobs: e.blobs, Workers: 2, RetryBackoff: 5 * time.Millisecond}
	if mutate != nil {
		mutate(&cfg)
	}
	e.sys, err = Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.sys.Stop(ctx); err != nil {
			t.Error(err)
		}
		st.Close()
	})
	return e
}

// create writes n source images (nil data: none written) and records the batch.
func (e *env) create(t *testing.T, sources ...[]byte) *persistence.Batch {
	t.Helper()
	id := uuid.NewString()
	var images []persistence.Image
	for i, src := range sources {
		im := persistence.Image{ID: uuid.NewString(), Name: "img" + string(rune('a'+i)), Format: "jpeg"}
		if src != nil {
			putSource(t, e.blobs, id, im.ID, src)
		}
		images = append(images, im)
	}
	b, first, err := persistence.NewBatch(id, time.Now(), persistence.DefaultOptions(), images)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.Create(t.Context(), b, first); err != nil {
		t.Fatal(err)
	}
	return b
}

func jpegOf(t *testing.T, w, h int) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, resize.Synthetic(w, h, 1), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// follow reads a subscription to its end and returns its events.
func follow(t *testing.T, sub *Subscription) []persistence.Event {
	t.Helper()
	return collect(t, sub, 30*time.Second)
}

func types(evs []persistence.Event) []persistence.EventType {
	var ts []persistence.EventType
	for _, e := range evs {
		ts = append(ts, e.Type)
	}
	return ts
}

// TestSlowSubscriberIsCutOff: a subscriber that never reads is cut off
// once its buffer is full, and neither the batch nor another subscriber
// waits for it.
func TestSlowSubscriberIsCutOff(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SubscriberBuffer = 2 })
	src := jpegOf(t, 64, 64)
	var sources [][]byte
	for i := 0; i < 8; i++ {
		sources = append(sources, src)
	}
	b := e.create(t, sources...)
	stalled := e.sys.Subscribe(b.ID, 0)
	defer stalled.Close()
	// The reader keeps up as best it can; if it too is cut off, it resumes
	// after the last event it has, as EventSource does with Last-Event-ID.
	var evs []persistence.Event
	for len(evs) == 0 || evs[len(evs)-1].Type != persistence.EventDone {
		sub := e.sys.Subscribe(b.ID, uint64(len(evs)))
		evs = append(evs, follow(t, sub)...)
		if !sub.Cut() && evs[len(evs)-1].Type != persistence.EventDone {
			t.Fatalf("subscription ended early without being cut: %v", types(evs))
		}
	}
	if got := evs[len(evs)-1].Type; got != persistence.EventDone || len(evs) != 1+2*8+1 {
		t.Fatalf("reader saw %v", types(evs))
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("seq %d at %d", ev.Seq, i)
		}
	}
	// The stalled one holds at most its buffer, then its channel is closed.
	n := 0
	for range stalled.C() {
		n++
	}
	if !stalled.Cut() || n > 2 {
		t.Fatalf("stalled subscriber: cut %v after %d chunks", stalled.Cut(), n)
	}
}

// TestTransientFailureIsRetried: a source that cannot be read is an I/O
// failure: retried with backoff (retrying events) until it succeeds or the
// attempts run out.
func TestTransientFailureIsRetried(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxAttempts = 3 })
	b := e.create(t, nil) // the source is missing
	evs := follow(t, e.sys.Subscribe(b.ID, 0))
	want := []persistence.EventType{"queued", "processing", "retrying", "processing", "retrying", "processing", "failed", "done"}
	if got := types(evs); len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i, w := range want {
		if evs[i].Type != w {
			t.Fatalf("events %v, want %v", types(evs), want)
		}
	}
	if f := evs[6]; f.Attempts != 3 || f.Error == "" {
		t.Fatalf("failed event %+v", f)
	}
	for i, a := range []int{1, 2, 3} {
		if p := evs[1+2*i]; p.Attempt != a {
			t.Fatalf("processing %d has attempt %d", i, p.Attempt)
		}
	}
}

// TestRetryThenSuccess: the source appears after the first attempt failed;
// the second attempt completes it.
func TestRetryThenSuccess(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RetryBackoff = 50 * time.Millisecond })
	b := e.create(t, nil)
	sub := e.sys.Subscribe(b.ID, 0)
	defer sub.Close()
	var evs []persistence.Event
	for ch := range sub.C() {
		evs = append(evs, ch.Events...)
		if last := evs[len(evs)-1]; last.Type == persistence.EventRetrying {
			// the backoff is running: now make the source readable
			putSource(t, e.blobs, b.ID, b.Images[0].ID, jpegOf(t, 80, 60))
		}
	}
	got := types(evs)
	want := []persistence.EventType{"queued", "processing", "retrying", "processing", "completed", "done"}
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events %v, want %v", got, want)
		}
	}
	if c := evs[4]; c.Width != 100 || c.Height != 100 || c.Bytes <= 0 {
		t.Fatalf("completed %+v", c)
	}
}

// TestRecoveryAfterRestart: a batch left unfinished (jobs pending in the
// store, no process running) is finished by a new System on the same store.
func TestRecoveryAfterRestart(t *testing.T) {
	dir := t.TempDir()
	blobs := blobsAt(t, dir)
	path := filepath.Join(dir, "r.db")
	st, err := bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: st, blobs: blobs}
	src := jpegOf(t, 120, 90)
	b := e.create(t, src, src, src)
	// claim one job and "crash" with it in flight
	if _, err := st.Claim(t.Context()); err != nil {
		t.Fatal(err)
	}
	st.Close()

	e2 := newEnvOn(t, path, blobs)
	evs := follow(t, e2.sys.Subscribe(b.ID, 0))
	if got := evs[len(evs)-1]; got.Type != persistence.EventDone || got.Completed != 3 {
		t.Fatalf("after recovery: %v", types(evs))
	}
}

func newEnvOn(t *testing.T, path string, blobs blob.Store) *env {
	st, err := bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: st, blobs: blobs}
	e.sys, err = Start(t.Context(), Config{Store: st, Blobs: blobs, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.sys.Stop(ctx)
		st.Close()
	})
	return e
}
