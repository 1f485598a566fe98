package storetest

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/backlot/backlot/persistence"
	"github.com/google/uuid"
)

// testCreateRoundTrip: what Create stores, Batch and Events return, every
// field included; the queued event is event 1.
func testCreateRoundTrip(t *testing.T, op Opener) {
	s := open(t, op)
	b, queued := newBatch(t, 3)
	want, wantEv := b.Clone(), queued
	if err := s.Create(t.Context(), b, queued); err != nil {
		t.Fatalf("Create: %v", err)
	}
	got := mustBatch(t, s, want.ID)
	sameBatch(t, got, want)
	if got.LastSeq != 1 || got.Done || got.State() != persistence.BatchQueued {
		t.Errorf("fresh batch: LastSeq %d, Done %v, State %s", got.LastSeq, got.Done, got.State())
	}
	for i, im := range got.Images {
		if im.State != persistence.ImageQueued || im.Attempts != 0 {
			t.Errorf("image %d: state %s, attempts %d", i, im.State, im.Attempts)
		}
	}

	evs := mustEvents(t, s, want.ID, 0)
	sameEvents(t, evs, []persistence.Event{wantEv})
	if len(evs) == 1 {
		ev := evs[0]
		if ev.Seq != 1 || ev.Type != persistence.EventQueued || ev.Total != 3 || len(ev.Images) != 3 {
			t.Errorf("first event = %+v, want queued seq 1 with 3 images", ev)
		}
	}
}

// testCreateExisting: a taken id is ErrExists, and neither the batch nor
// the queue changes.
func testCreateExisting(t *testing.T, op Opener) {
	s := open(t, op)
	first := create(t, s, 2)

	images := []persistence.Image{{ID: uuid.NewString(), Name: "x.jpg"}, {ID: uuid.NewString(), Name: "y.jpg"}, {ID: uuid.NewString(), Name: "z.jpg"}}
	dup, ev, err := persistence.NewBatch(first.ID, time.Now(), persistence.DefaultOptions(), images)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Create(t.Context(), dup, ev); !errors.Is(err, persistence.ErrExists) {
		t.Fatalf("Create with a taken id = %v, want ErrExists", err)
	}
	sameBatch(t, mustBatch(t, s, first.ID), first)
	if evs := mustEvents(t, s, first.ID, 0); len(evs) != 1 || len(evs[0].Images) != 2 {
		t.Errorf("events after refused Create = %+v, want the first queued event only", evs)
	}
	for _, want := range jobs(first) {
		if j := claim(t, s); j != want {
			t.Fatalf("claimed %v, want %v", j, want)
		}
	}
	queueEmpty(t, s) // the duplicate queued nothing
}

// testNotFound: an unknown batch is ErrNotFound from Batch, Events (not an
// empty log) and Append; an unknown image is ErrNotFound and writes nothing.
func testNotFound(t *testing.T, op Opener) {
	s := open(t, op)
	b := create(t, s, 1)
	ctx, unknown := t.Context(), uuid.NewString()

	if _, err := s.Batch(ctx, unknown); !errors.Is(err, persistence.ErrNotFound) {
		t.Errorf("Batch(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.Events(ctx, unknown, 0); !errors.Is(err, persistence.ErrNotFound) {
		t.Errorf("Events(unknown) = %v, want ErrNotFound", err)
	}
	ev := persistence.Event{Type: persistence.EventProcessing, BatchID: unknown, ImageID: b.Images[0].ID}
	if _, _, err := s.Append(ctx, unknown, ev); !errors.Is(err, persistence.ErrNotFound) {
		t.Errorf("Append(unknown batch) = %v, want ErrNotFound", err)
	}
	if _, err := s.Batch(ctx, unknown); !errors.Is(err, persistence.ErrNotFound) {
		t.Errorf("Append to an unknown batch created it: Batch = %v", err)
	}
	stranger := persistence.Event{Type: persistence.EventProcessing, BatchID: b.ID, ImageID: uuid.NewString()}
	refused(t, s, b.ID, persistence.ErrNotFound, stranger)
}

// testEventsAfter: Events returns exactly the events after any sequence
// number, in order; at or beyond the last, none.
func testEventsAfter(t *testing.T, op Opener) {
	s := open(t, op)
	b := create(t, s, 2)
	mustAppend(t, s, b.ID, processing(b, 0), completed(b, 0))
	mustAppend(t, s, b.ID, processing(b, 1))
	evs, _ := mustAppend(t, s, b.ID, retrying(b, 1, "boom"), processing(b, 1), failed(b, 1, "bad"))
	if len(evs) != 4 || evs[3].Type != persistence.EventDone {
		t.Fatalf("the last terminal event's append stored %v, want its 3 events and done", types(evs))
	}
	all := mustEvents(t, s, b.ID, 0)
	if len(all) != 8 {
		t.Fatalf("log has %d events, want 8: %v", len(all), types(all))
	}
	contiguous(t, all, 1)
	if all[0].Type != persistence.EventQueued || all[7].Type != persistence.EventDone {
		t.Errorf("log = %v, want queued first and done last", types(all))
	}

	for _, tc := range []struct {
		name  string
		after uint64
		want  []persistence.Event
	}{
		{"zero", 0, all},
		{"first", 1, all[1:]},
		{"middle", 4, all[4:]},
		{"before last", 7, all[7:]},
		{"last", 8, nil},
		{"beyond last", 9, nil},
		{"max", math.MaxUint64, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := mustEvents(t, s, b.ID, tc.after)
			sameEvents(t, got, tc.want)
		})
	}
}

// testAppendAttempts: processing numbers the attempts, retrying and failed
// carry them, and Append returns the stored events and the batch after them.
func testAppendAttempts(t *testing.T, op Opener) {
	s := open(t, op)
	b := create(t, s, 2)

	evs, nb := mustAppend(t, s, b.ID, processing(b, 0))
	if evs[0].Seq != 2 || evs[0].Attempt != 1 {
		t.Errorf("first processing: seq %d attempt %d, want 2 and 1", evs[0].Seq, evs[0].Attempt)
	}
	if im := nb.Images[0]; im.State != persistence.ImageProcessing || im.Attempts != 1 || nb.State() != persistence.BatchProcessing {
		t.Errorf("after processing: image %+v, batch %s", im, nb.State())
	}
	evs, _ = mustAppend(t, s, b.ID, retrying(b, 0, "timeout"), processing(b, 0))
	if evs[0].Attempt != 1 || evs[1].Attempt != 2 || evs[0].Seq != 3 || evs[1].Seq != 4 {
		t.Errorf("retry then processing = %+v, want attempts 1, 2 at seqs 3, 4", evs)
	}
	evs, nb = mustAppend(t, s, b.ID, failed(b, 0, "corrupt"))
	if evs[0].Attempts != 2 {
		t.Errorf("failed carries attempts %d, want 2", evs[0].Attempts)
	}
	if im := nb.Images[0]; im.State != persistence.ImageFailed || im.Error != "corrupt" || nb.Failed != 1 {
		t.Errorf("after failed: image %+v, failed %d", im, nb.Failed)
	}
	_, nb = mustAppend(t, s, b.ID, processing(b, 1), completed(b, 1))
	if im := nb.Images[1]; im.State != persistence.ImageCompleted || im.Width != 64 || im.Height != 48 || im.Bytes != 1234 || im.Sum != 0xabcdef01 || nb.Completed != 1 {
		t.Errorf("after completed: image %+v, completed %d", im, nb.Completed)
	}
	if nb.LastSeq != 8 || !nb.Done {
		t.Errorf("LastSeq = %d, done %v; want 8 (the done that came with the last terminal event)", nb.LastSeq, nb.Done)
	}
	sameBatch(t, mustBatch(t, s, b.ID), nb)
	all := mustEvents(t, s, b.ID, 0)
	contiguous(t, all, 1)
	if len(all) != 8 {
		t.Errorf("log = %v, want 8 events", types(all))
	}
}

// testAppendSecondTerminal: once an image is terminal, any event for it is
// ErrConflict and nothing is written.
func testAppendSecondTerminal(t *testing.T, op Opener) {
	s := open(t, op)
	b := create(t, s, 2)
	mustAppend(t, s, b.ID, processing(b, 0), completed(b, 0))
	mustAppend(t, s, b.ID, processing(b, 1), failed(b, 1, "bad"))
	for _, tc := range []struct {
		name string
		ev   persistence.Event
	}{
		{"completed after completed", completed(b, 0)},
		{"failed after completed", failed(b, 0, "late")},
		{"processing after completed", processing(b, 0)},
		{"retrying after completed", retrying(b, 0, "late")},
		{"completed after failed", completed(b, 1)},
		{"failed after failed", failed(b, 1, "again")},
	} {
		t.Run(tc.name, func(t *testing.T) { refused(t, s, b.ID, persistence.ErrConflict, tc.ev) })
	}
}

// testAppendDoneEarly: done is the store's to decide: a writer's done is
// ErrConflict at any time, too early or not, and nothing is written.
func testAppendDoneEarly(t *testing.T, op Opener) {
	s := open(t, op)
	b := create(t, s, 2)
	refused(t, s, b.ID, persistence.ErrConflict, done(b))
	mustAppend(t, s, b.ID, processing(b, 0), completed(b, 0), processing(b, 1))
	refused(t, s, b.ID, persistence.ErrConflict, done(b))
	refused(t, s, b.ID, persistence.ErrConflict, completed(b, 1), done(b))
	queued := persistence.Event{Type: persistence.EventQueued, BatchID: b.ID}
	refused(t, s, b.ID, persistence.ErrConflict, queued)
}

// testAppendDoneOnce: the append of the last terminal event gets done in
// the same write, carrying the counts; it comes once and nothing follows
// it.
func testAppendDoneOnce(t *testing.T, op Opener) {
	s := open(t, op)
	b := create(t, s, 3)
	evs, nb := mustAppend(t, s, b.ID, processing(b, 0), completed(b, 0), processing(b, 1), failed(b, 1, "x"))
	if len(evs) != 4 || nb.Done {
		t.Fatalf("append before the last terminal event: %v, done %v; want 4 events, no done", types(evs), nb.Done)
	}
	last := completed(b, 2)
	last.At = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	evs, nb = mustAppend(t, s, b.ID, processing(b, 2), last)
	if len(evs) != 3 || evs[2].Type != persistence.EventDone {
		t.Fatalf("append of the last terminal event stored %v, want processing, completed, done", types(evs))
	}
	if ev := evs[2]; ev.Seq != 8 || ev.Total != 3 || ev.Completed != 2 || ev.Failed != 1 || !ev.At.Equal(last.At) {
		t.Errorf("done = %+v, want seq 8, total 3, completed 2, failed 1, at %v", ev, last.At)
	}
	if !nb.Done || nb.State() != persistence.BatchDone || !nb.DoneAt.Equal(last.At) {
		t.Errorf("batch after done: Done %v, State %s, DoneAt %v", nb.Done, nb.State(), nb.DoneAt)
	}
	all := mustEvents(t, s, b.ID, 0)
	contiguous(t, all, 1)
	sameEvents(t, all[5:], evs)
	refused(t, s, b.ID, persistence.ErrConflict, done(b))
	refused(t, s, b.ID, persistence.ErrConflict, processing(b, 0))
}

// testAppendAllOrNothing: one broken event refuses the whole append.
func testAppendAllOrNothing(t *testing.T, op Opener) {
	s := open(t, op)
	b := create(t, s, 2)
	mustAppend(t, s, b.ID, processing(b, 0))
	stranger := persistence.Event{Type: persistence.EventProcessing, BatchID: b.ID, ImageID: uuid.NewString()}
	for _, tc := range []struct {
		name string
		want error
		evs  []persistence.Event
	}{
		{"twice completed", persistence.ErrConflict, []persistence.Event{completed(b, 0), completed(b, 0)}},
		{"completed then failed", persistence.ErrConflict, []persistence.Event{completed(b, 0), failed(b, 0, "x")}},
		{"done at the end", persistence.ErrConflict, []persistence.Event{completed(b, 0), processing(b, 1), done(b)}},
		{"unknown image at the end", persistence.ErrNotFound, []persistence.Event{completed(b, 0), stranger}},
	} {
		t.Run(tc.name, func(t *testing.T) { refused(t, s, b.ID, tc.want, tc.evs...) })
	}
	// The refused appends left image 0 open: it can still complete.
	mustAppend(t, s, b.ID, completed(b, 0))
}

// testUnfinished: a batch is listed from Create until its done is appended.
func testUnfinished(t *testing.T, op Opener) {
	s := open(t, op)
	unfinished := func() map[string]bool {
		t.Helper()
		ids, err := s.Unfinished(t.Context())
		if err != nil {
			t.Fatalf("Unfinished: %v", err)
		}
		m := make(map[string]bool, len(ids))
		for _, id := range ids {
			if m[id] {
				t.Errorf("Unfinished lists %s twice", id)
			}
			m[id] = true
		}
		return m
	}
	if got := unfinished(); len(got) != 0 {
		t.Fatalf("fresh store: Unfinished = %v", got)
	}
	a, b := create(t, s, 1), create(t, s, 1)
	if got := unfinished(); len(got) != 2 || !got[a.ID] || !got[b.ID] {
		t.Fatalf("Unfinished = %v, want %s and %s", got, a.ID, b.ID)
	}
	mustAppend(t, s, a.ID, processing(a, 0))
	if got := unfinished(); !got[a.ID] {
		t.Fatalf("Unfinished = %v: %s is still processing", got, a.ID)
	}
	mustAppend(t, s, a.ID, completed(a, 0)) // and done, in the same write
	if got := unfinished(); len(got) != 1 || !got[b.ID] {
		t.Fatalf("Unfinished = %v, want only %s", got, b.ID)
	}
}
