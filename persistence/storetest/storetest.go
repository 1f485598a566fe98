package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/testkit"
	"github.com/google/uuid"
)

// Opener opens the backend's store on the same underlying data every time it
// is called (a reopen after Close must see what was written). The suite
// closes every store it opens.
type Opener func(t *testing.T) persistence.Store

// Run runs every rule of the Store contract as subtests. newOpener is called
// once per subtest to get fresh, empty data.
func Run(t *testing.T, newOpener func(t *testing.T) Opener) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, op Opener)
	}{
		{"CreateRoundTrip", testCreateRoundTrip},
		{"CreateExisting", testCreateExisting},
		{"NotFound", testNotFound},
		{"EventsAfter", testEventsAfter},
		{"AppendAttempts", testAppendAttempts},
		{"AppendSecondTerminal", testAppendSecondTerminal},
		{"AppendDoneEarly", testAppendDoneEarly},
		{"AppendDoneOnce", testAppendDoneOnce},
		{"AppendAllOrNothing", testAppendAllOrNothing},
		{"Unfinished", testUnfinished},
		{"ConcurrentAppend", testConcurrentAppend},
		{"ConcurrentTerminal", testConcurrentTerminal},
		{"ConcurrentLastTerminals", testConcurrentLastTerminals},
		{"ClaimFIFO", testClaimFIFO},
		{"ClaimBlocksUntilCreate", testClaimBlocksUntilCreate},
		{"ClaimCanceled", testClaimCanceled},
		{"ClaimCanceledMeanwhile", testClaimCanceledMeanwhile},
		{"Ack", testAck},
		{"Requeue", testRequeue},
		{"ClaimWokenByRequeue", testClaimWokenByRequeue},
		{"ConcurrentClaim", testConcurrentClaim},
		{"ConcurrentRequeue", testConcurrentRequeue},
		{"QueueDepth", testQueueDepth},
		{"Ping", testPing},
		{"Reopen", testReopen},
		{"Closed", testClosed},
		{"CloseWakesClaim", testCloseWakesClaim},
		{"Retention", testRetention},
		{"Fence", testFence},
		{"Variants", testVariants},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newOpener(t)) })
	}
}

// wait bounds every wait on another goroutine or on the store. It is a
// deadlock guard, not a speed assertion: generous, so slow CI never trips it.
const wait = 20 * time.Second

// open opens a store and closes it when the test ends (unless the test
// closed it first).
func open(t *testing.T, op Opener) persistence.Store {
	t.Helper()
	s := op(t)
	if s == nil {
		t.Fatal("Opener returned a nil store")
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, persistence.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// newBatch builds a fresh batch of n images, named img0.png …, with
// non-default options, and its queued event.
func newBatch(t *testing.T, n int) (*persistence.Batch, persistence.Event) {
	t.Helper()
	images := make([]persistence.Image, n)
	for i := range images {
		images[i] = persistence.Image{ID: uuid.NewString(), Name: fmt.Sprintf("img%d.png", i), Format: "png"}
	}
	opts := persistence.Options{Width: 640, Height: 480, Fit: persistence.FitContain, Format: persistence.FormatPNG, Quality: 70}
	created := time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.FixedZone("CET", 3600))
	b, ev, err := persistence.NewBatch(uuid.NewString(), created, opts, images)
	if err != nil {
		t.Fatalf("NewBatch: %v", err)
	}
	return b, ev
}

// create stores a fresh batch of n images and returns it as created.
func create(t *testing.T, s persistence.Store, n int) *persistence.Batch {
	t.Helper()
	b, ev := newBatch(t, n)
	want := b.Clone()
	if err := s.Create(t.Context(), b, ev); err != nil {
		t.Fatalf("Create: %v", err)
	}
	return want
}

// Event builders for image i of b.
func processing(b *persistence.Batch, i int) persistence.Event {
	return persistence.Event{Type: persistence.EventProcessing, BatchID: b.ID, ImageID: b.Images[i].ID}
}

func retrying(b *persistence.Batch, i int, msg string) persistence.Event {
	return persistence.Event{Type: persistence.EventRetrying, BatchID: b.ID, ImageID: b.Images[i].ID, Error: msg}
}

func completed(b *persistence.Batch, i int) persistence.Event {
	return persistence.Event{Type: persistence.EventCompleted, BatchID: b.ID, ImageID: b.Images[i].ID,
		Width: 64, Height: 48, Bytes: 1234, Sum: 0xabcdef01}
}

func failed(b *persistence.Batch, i int, msg string) persistence.Event {
	return persistence.Event{Type: persistence.EventFailed, BatchID: b.ID, ImageID: b.Images[i].ID, Error: msg}
}

func done(b *persistence.Batch) persistence.Event {
	return persistence.Event{Type: persistence.EventDone, BatchID: b.ID}
}

// mustAppend appends evs and fails the test on an error.
func mustAppend(t *testing.T, s persistence.Store, id string, evs ...persistence.Event) ([]persistence.Event, *persistence.Batch) {
	t.Helper()
	got, b, err := s.Append(t.Context(), id, evs...)
	if err != nil {
		t.Fatalf("Append(%v): %v", types(evs), err)
	}
	if len(got) != len(evs) && (len(got) != len(evs)+1 || got[len(evs)].Type != persistence.EventDone) {
		t.Fatalf("Append(%v) returned %v", types(evs), types(got))
	}
	return got, b
}

// refused appends evs, expects an error wrapping want, and checks that
// nothing was written: the batch and its log are as before.
func refused(t *testing.T, s persistence.Store, id string, want error, evs ...persistence.Event) {
	t.Helper()
	before, beforeEvs := mustBatch(t, s, id), mustEvents(t, s, id, 0)
	if _, _, err := s.Append(t.Context(), id, evs...); !errors.Is(err, want) {
		t.Fatalf("Append(%v) = %v, want %v", types(evs), err, want)
	}
	sameBatch(t, mustBatch(t, s, id), before)
	sameEvents(t, mustEvents(t, s, id, 0), beforeEvs)
}

func mustBatch(t *testing.T, s persistence.Store, id string) *persistence.Batch {
	t.Helper()
	b, err := s.Batch(t.Context(), id)
	if err != nil {
		t.Fatalf("Batch: %v", err)
	}
	return b
}

func mustEvents(t *testing.T, s persistence.Store, id string, after uint64) []persistence.Event {
	t.Helper()
	evs, err := s.Events(t.Context(), id, after)
	if err != nil {
		t.Fatalf("Events(after %d): %v", after, err)
	}
	return evs
}

// sameBatch compares batches field by field; CreatedAt may lose precision
// below a second in a backend's encoding.
func sameBatch(t *testing.T, got, want *persistence.Batch) {
	t.Helper()
	if d := got.CreatedAt.Sub(want.CreatedAt); d <= -time.Second || d >= time.Second {
		t.Errorf("CreatedAt = %v, want %v", got.CreatedAt, want.CreatedAt)
	}
	g, w := got.Clone(), want.Clone()
	g.CreatedAt, w.CreatedAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("batch differs\n got %+v\nwant %+v", g, w)
	}
}

func sameEvents(t *testing.T, got, want []persistence.Event) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return // nil and empty are the same log
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events differ\n got %+v\nwant %+v", got, want)
	}
}

// contiguous checks that evs carry seqs from, from+1, … with no gap.
func contiguous(t *testing.T, evs []persistence.Event, from uint64) {
	t.Helper()
	for i, ev := range evs {
		if ev.Seq != from+uint64(i) {
			t.Fatalf("event %d has seq %d, want %d (log %v)", i, ev.Seq, from+uint64(i), seqs(evs))
		}
	}
}

func seqs(evs []persistence.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, ev := range evs {
		out[i] = ev.Seq
	}
	return out
}

func types(evs []persistence.Event) []persistence.EventType {
	out := make([]persistence.EventType, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type
	}
	return out
}

// result is what a goroutine calling the store reports back.
type result[T any] struct {
	v   T
	err error
}

// recv waits for one value on ch, failing the test after wait.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	return testkit.Recv(t, ch, wait, what)
}

// goClaim runs Claim in a goroutine and delivers its result on the channel.
func goClaim(ctx context.Context, s persistence.Store) <-chan result[persistence.Job] {
	ch := make(chan result[persistence.Job], 1)
	go func() {
		j, err := s.Claim(ctx)
		ch <- result[persistence.Job]{j, err}
	}()
	return ch
}

// claim takes one job, which must be there or arrive within wait.
func claim(t *testing.T, s persistence.Store) persistence.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	j, err := s.Claim(ctx)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	return j
}

// jobs lists the jobs b queues, in image order.
func jobs(b *persistence.Batch) []persistence.Job {
	out := make([]persistence.Job, len(b.Images))
	for i, im := range b.Images {
		out[i] = persistence.Job{BatchID: b.ID, ImageID: im.ID}
	}
	return out
}

// queueEmpty checks that nothing is pending: a marker batch created now is
// the next job claimed, since Claim is FIFO. It works on any backend, unlike
// QueueStats. The marker is acked.
func queueEmpty(t *testing.T, s persistence.Store) {
	t.Helper()
	m := create(t, s, 1)
	if j := claim(t, s); j != jobs(m)[0] {
		t.Fatalf("claimed %v before the marker job: it should not be pending", j)
	}
	if err := s.Ack(t.Context(), jobs(m)[0]); err != nil {
		t.Fatalf("Ack marker: %v", err)
	}
}
