package persistence_test

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/backlot/backlot/persistence"
)

// fixture is a fresh batch "b" of three images "i0", "i1", "i2".
func fixture(t *testing.T) *persistence.Batch {
	t.Helper()
	images := []persistence.Image{{ID: "i0", Name: "a.jpg"}, {ID: "i1", Name: "b.png"}, {ID: "i2", Name: "c.gif"}}
	b, _, err := persistence.NewBatch("b", time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 7200)), persistence.DefaultOptions(), images)
	if err != nil {
		t.Fatalf("NewBatch: %v", err)
	}
	return b
}

func event(typ persistence.EventType, image string) persistence.Event {
	return persistence.Event{Type: typ, BatchID: "b", ImageID: image}
}

// Shorthands for the events of the table below.
var (
	proc = func(im string) persistence.Event { return event(persistence.EventProcessing, im) }
	retr = func(im string) persistence.Event {
		e := event(persistence.EventRetrying, im)
		e.Error = "timeout"
		return e
	}
	comp = func(im string) persistence.Event {
		e := event(persistence.EventCompleted, im)
		e.Width, e.Height, e.Bytes, e.Sum = 10, 20, 300, 0xc0ffee
		return e
	}
	fail = func(im string) persistence.Event {
		e := event(persistence.EventFailed, im)
		e.Error = "corrupt"
		return e
	}
	done = persistence.Event{Type: persistence.EventDone, BatchID: "b"}
)

func TestNewBatch(t *testing.T) {
	images := []persistence.Image{{ID: "i0", Name: "a.jpg", State: persistence.ImageFailed, Attempts: 3}}
	created := time.Date(2025, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 7200))
	b, q, err := persistence.NewBatch("b", created, persistence.DefaultOptions(), images)
	if err != nil {
		t.Fatal(err)
	}
	if b.LastSeq != 1 || q.Seq != 1 || q.Type != persistence.EventQueued || q.Total != 1 {
		t.Errorf("NewBatch: LastSeq %d, event %+v; want the queued event as seq 1", b.LastSeq, q)
	}
	if !reflect.DeepEqual(q.Images, []persistence.ImageRef{{ID: "i0", Name: "a.jpg"}}) {
		t.Errorf("queued images = %+v", q.Images)
	}
	if im := b.Images[0]; im.State != persistence.ImageQueued || im.Attempts != 0 {
		t.Errorf("image = %+v, want queued with no attempts", im)
	}
	if !b.CreatedAt.Equal(created) || b.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt = %v, want %v in UTC", b.CreatedAt, created)
	}
	if b.State() != persistence.BatchQueued {
		t.Errorf("State = %s, want queued", b.State())
	}
}

func TestApply(t *testing.T) {
	tests := []struct {
		name    string
		before  []persistence.Event // applied first, must succeed
		ev      persistence.Event
		wantErr error
		check   func(t *testing.T, b *persistence.Batch, ev persistence.Event)
	}{
		{name: "first processing is attempt 1", ev: proc("i0"),
			check: func(t *testing.T, b *persistence.Batch, ev persistence.Event) {
				want(t, ev.Seq == 2 && ev.Attempt == 1, "seq %d attempt %d", ev.Seq, ev.Attempt)
				im := b.Image("i0")
				want(t, im.State == persistence.ImageProcessing && im.Attempts == 1, "image %+v", im)
				want(t, b.State() == persistence.BatchProcessing, "batch %s", b.State())
			}},
		{name: "retrying carries the attempt", before: []persistence.Event{proc("i0")}, ev: retr("i0"),
			check: func(t *testing.T, b *persistence.Batch, ev persistence.Event) {
				want(t, ev.Seq == 3 && ev.Attempt == 1, "seq %d attempt %d", ev.Seq, ev.Attempt)
				im := b.Image("i0")
				want(t, im.State == persistence.ImageQueued && im.Error == "timeout" && im.Attempts == 1, "image %+v", im)
				want(t, b.State() == persistence.BatchProcessing, "batch %s", b.State())
			}},
		{name: "processing after retrying is the next attempt", before: []persistence.Event{proc("i0"), retr("i0")}, ev: proc("i0"),
			check: func(t *testing.T, b *persistence.Batch, ev persistence.Event) {
				want(t, ev.Attempt == 2 && b.Image("i0").Attempts == 2, "attempt %d", ev.Attempt)
			}},
		{name: "completed records the output", before: []persistence.Event{proc("i0"), retr("i0"), proc("i0")}, ev: comp("i0"),
			check: func(t *testing.T, b *persistence.Batch, ev persistence.Event) {
				im := b.Image("i0")
				want(t, im.State == persistence.ImageCompleted && im.Error == "" && im.Width == 10 && im.Height == 20 && im.Bytes == 300 && im.Sum == 0xc0ffee, "image %+v", im)
				want(t, b.Completed == 1 && b.Failed == 0 && !b.Finished(), "counts %d/%d", b.Completed, b.Failed)
			}},
		{name: "failed carries attempts", before: []persistence.Event{proc("i1"), retr("i1"), proc("i1")}, ev: fail("i1"),
			check: func(t *testing.T, b *persistence.Batch, ev persistence.Event) {
				want(t, ev.Attempts == 2, "attempts %d", ev.Attempts)
				im := b.Image("i1")
				want(t, im.State == persistence.ImageFailed && im.Error == "corrupt", "image %+v", im)
				want(t, b.Failed == 1, "failed %d", b.Failed)
			}},
		{name: "failed without an attempt", ev: fail("i2"),
			check: func(t *testing.T, b *persistence.Batch, ev persistence.Event) {
				want(t, ev.Attempts == 0 && b.Failed == 1, "attempts %d, failed %d", ev.Attempts, b.Failed)
			}},
		{name: "done carries the counts", before: []persistence.Event{comp("i0"), fail("i1"), comp("i2")}, ev: done,
			check: func(t *testing.T, b *persistence.Batch, ev persistence.Event) {
				want(t, ev.Seq == 5 && ev.Total == 3 && ev.Completed == 2 && ev.Failed == 1, "done %+v", ev)
				want(t, b.Done && b.State() == persistence.BatchDone, "done %v, state %s", b.Done, b.State())
			}},

		{name: "done before every image is terminal", before: []persistence.Event{comp("i0"), fail("i1")}, ev: done, wantErr: persistence.ErrConflict},
		{name: "done twice", before: []persistence.Event{comp("i0"), fail("i1"), comp("i2"), done}, ev: done, wantErr: persistence.ErrConflict},
		{name: "processing after done", before: []persistence.Event{comp("i0"), fail("i1"), comp("i2"), done}, ev: proc("i0"), wantErr: persistence.ErrConflict},
		{name: "completed after completed", before: []persistence.Event{comp("i0")}, ev: comp("i0"), wantErr: persistence.ErrConflict},
		{name: "failed after completed", before: []persistence.Event{comp("i0")}, ev: fail("i0"), wantErr: persistence.ErrConflict},
		{name: "completed after failed", before: []persistence.Event{fail("i0")}, ev: comp("i0"), wantErr: persistence.ErrConflict},
		{name: "processing after completed", before: []persistence.Event{comp("i0")}, ev: proc("i0"), wantErr: persistence.ErrConflict},
		{name: "retrying after failed", before: []persistence.Event{fail("i0")}, ev: retr("i0"), wantErr: persistence.ErrConflict},
		{name: "queued again", ev: persistence.Event{Type: persistence.EventQueued, BatchID: "b"}, wantErr: persistence.ErrConflict},
		{name: "another batch's event", ev: persistence.Event{Type: persistence.EventProcessing, BatchID: "c", ImageID: "i0"}, wantErr: persistence.ErrConflict},
		{name: "unknown type", ev: event("resized", "i0"), wantErr: persistence.ErrConflict},
		{name: "unknown image", ev: proc("nope"), wantErr: persistence.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := fixture(t)
			for i := range tc.before {
				if err := b.Apply(&tc.before[i]); err != nil {
					t.Fatalf("setup event %d (%s): %v", i, tc.before[i].Type, err)
				}
				if tc.before[i].Seq != uint64(i)+2 {
					t.Fatalf("setup event %d got seq %d, want %d", i, tc.before[i].Seq, i+2)
				}
			}
			orig, ev := b.Clone(), tc.ev
			err := b.Apply(&ev)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Apply = %v, want %v", err, tc.wantErr)
				}
				if !reflect.DeepEqual(b, orig) {
					t.Errorf("refused Apply changed the batch\n got %+v\nwant %+v", b, orig)
				}
				if ev.Seq != 0 {
					t.Errorf("refused event got seq %d", ev.Seq)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if ev.Seq != b.LastSeq || b.LastSeq != orig.LastSeq+1 {
				t.Errorf("seq %d, LastSeq %d → %d: want the next seq", ev.Seq, orig.LastSeq, b.LastSeq)
			}
			tc.check(t, b, ev)
		})
	}
}

func TestDecide(t *testing.T) {
	b := fixture(t)
	orig := b.Clone()

	evs := []persistence.Event{proc("i0"), comp("i0"), proc("i1")}
	given := slices.Clone(evs)
	nb, out, err := b.Decide(evs)
	if err != nil {
		t.Fatalf("Decide: %v", err)
	}
	if !reflect.DeepEqual(b, orig) || !reflect.DeepEqual(evs, given) {
		t.Errorf("Decide changed the batch it was called on or the events given")
	}
	if len(out) != 3 {
		t.Fatalf("Decide = %v, want the 3 events and no done", out)
	}
	for i, e := range out {
		if e.Seq != uint64(i)+2 {
			t.Errorf("event %d: seq %d, want %d", i, e.Seq, i+2)
		}
	}
	if nb.LastSeq != 4 || nb.Completed != 1 || nb.Image("i1").State != persistence.ImageProcessing || nb.Done {
		t.Errorf("new batch = %+v", nb)
	}

	// The last terminal event brings done, in the same write, with the
	// counts and the last event's time.
	last := fail("i2")
	last.At = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	nb2, out, err := nb.Decide([]persistence.Event{fail("i1"), proc("i2"), last})
	if err != nil {
		t.Fatalf("Decide(last terminal): %v", err)
	}
	if len(out) != 4 || out[3].Type != persistence.EventDone || out[3].Seq != 8 || out[3].Total != 3 || out[3].Completed != 1 || out[3].Failed != 2 || !out[3].At.Equal(last.At) {
		t.Errorf("Decide(last terminal) = %+v, want ..., failed, done (seq 8, 1+2 of 3, at %v)", out, last.At)
	}
	if !nb2.Done || !nb2.DoneAt.Equal(last.At) {
		t.Errorf("batch after done: %+v", nb2)
	}

	// A broken rule anywhere refuses the lot, and so does a writer's
	// queued or done; b stays as it was.
	for _, evs := range [][]persistence.Event{
		{comp("i0"), comp("i0")},
		{proc("i0"), done},
		{comp("i0"), proc("nope")},
		{comp("i0"), proc("i1"), comp("i1"), proc("i2"), comp("i2"), done},
		{{Type: persistence.EventQueued, BatchID: b.ID}},
	} {
		nb, out, err := b.Decide(evs)
		if !errors.Is(err, persistence.ErrConflict) && !errors.Is(err, persistence.ErrNotFound) || nb != nil || out != nil {
			t.Errorf("Decide(%v) = %v, %v, %v; want a refusal and nothing else", evs, nb, out, err)
		}
		if !reflect.DeepEqual(b, orig) {
			t.Errorf("refused Decide changed the batch")
		}
	}
	if _, _, err := nb2.Decide([]persistence.Event{proc("i0")}); !errors.Is(err, persistence.ErrConflict) {
		t.Errorf("Decide after done = %v, want ErrConflict", err)
	}
}

func TestClone(t *testing.T) {
	b := fixture(t)
	c := b.Clone()
	c.Images[0].State = persistence.ImageFailed
	if b.Images[0].State != persistence.ImageQueued {
		t.Error("Clone shares its images with the original")
	}
}

// want fails the test with the message unless ok.
func want(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Errorf(format, args...)
	}
}

// TestApplyUnavailableGivesBack: a retrying event marked Unavailable (the
// blob store could not be reached) gives its attempt back: attempts are
// numbered on, but only the image's own failures are charged.
func TestApplyUnavailableGivesBack(t *testing.T) {
	b := fixture(t)
	down := retr("i0")
	down.Unavailable = true
	evs := []persistence.Event{proc("i0"), retr("i0"), proc("i0"), down, proc("i0"), down, proc("i0")}
	var attempts []int
	for i := range evs {
		if err := b.Apply(&evs[i]); err != nil {
			t.Fatalf("Apply(%d %s): %v", i, evs[i].Type, err)
		}
		attempts = append(attempts, evs[i].Attempt)
	}
	if want := []int{1, 1, 2, 2, 3, 3, 4}; !slices.Equal(attempts, want) {
		t.Errorf("attempt numbers %v, want %v", attempts, want)
	}
	if im := b.Image("i0"); im.Attempts != 4 || im.Unreachable != 2 || im.Charged() != 2 || im.State != persistence.ImageProcessing {
		t.Errorf("image after the events: %+v, want 4 attempts, 2 charged, processing", im)
	}
}
