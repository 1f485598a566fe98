package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/backlot/backlot/persistence"
)

// testRetention: a done batch appears in Expired once its done time is
// before the cut, oldest first; Delete forgets it and its log; an unfinished
// batch cannot be deleted.
func testRetention(t *testing.T, op Opener) {
	s := open(t, op)
	r := s
	ctx := t.Context()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	finish := func(b *persistence.Batch, at time.Time) {
		t.Helper()
		evs := []persistence.Event{processing(b, 0), completed(b, 0)}
		for i := range evs {
			evs[i].At = at
		}
		if _, nb, err := s.Append(ctx, b.ID, evs...); err != nil || !nb.Done || !nb.DoneAt.Equal(at) {
			t.Fatalf("finish: %v (done %v at %v)", err, nb != nil && nb.Done, nb)
		}
	}
	older, newer, running := create(t, s, 1), create(t, s, 1), create(t, s, 1)
	finish(newer, base.Add(2*time.Hour))
	finish(older, base.Add(time.Hour))

	for _, tc := range []struct {
		before time.Time
		limit  int
		want   []string
	}{
		{base, 10, nil},
		{base.Add(time.Hour), 10, nil}, // strictly before
		{base.Add(90 * time.Minute), 10, []string{older.ID}},
		{base.Add(3 * time.Hour), 10, []string{older.ID, newer.ID}},
		{base.Add(3 * time.Hour), 1, []string{older.ID}},
	} {
		got, err := r.Expired(ctx, tc.before, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(tc.want) || (len(got) > 0 && (got[0] != tc.want[0] || got[len(got)-1] != tc.want[len(tc.want)-1])) {
			t.Fatalf("Expired(%v, %d) = %v, want %v", tc.before, tc.limit, got, tc.want)
		}
	}
	if err := r.Delete(ctx, running.ID); !errors.Is(err, persistence.ErrConflict) {
		t.Fatalf("Delete of an unfinished batch: %v", err)
	}
	if err := r.Delete(ctx, older.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Batch(ctx, older.ID); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("Batch after Delete: %v", err)
	}
	if _, err := s.Events(ctx, older.ID, 0); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("Events after Delete: %v", err)
	}
	if err := r.Delete(ctx, older.ID); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("second Delete: %v", err)
	}
	got, err := r.Expired(ctx, base.Add(3*time.Hour), 10)
	if err != nil || len(got) != 1 || got[0] != newer.ID {
		t.Fatalf("Expired after Delete = %v, %v", got, err)
	}
	if _, err := s.Batch(ctx, running.ID); err != nil {
		t.Fatalf("the unfinished batch: %v", err)
	}
}
