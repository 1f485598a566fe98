package storetest

import (
	"cmp"
	"context"
	"errors"
	"runtime"
	"slices"
	"testing"

	"github.com/backlot/backlot/persistence"
)

// testReopen: what was written survives Close and a reopen on the same data;
// a job claimed and not acked is delivered again, an acked one is not.
func testReopen(t *testing.T, op Opener) {
	s := open(t, op)
	b, fin := create(t, s, 3), create(t, s, 1)
	mustAppend(t, s, b.ID, processing(b, 0))
	all := append(jobs(b), jobs(fin)...)
	unacked := claim(t, s) // b's image 0, lost with the "crash" below
	acked := claim(t, s)
	if unacked != all[0] || acked != all[1] {
		t.Fatalf("claimed %v, %v; want %v, %v", unacked, acked, all[0], all[1])
	}
	if err := s.Ack(t.Context(), acked); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	mustAppend(t, s, fin.ID, processing(fin, 0), completed(fin, 0)) // done follows, decided by the store
	before, beforeEvs := mustBatch(t, s, b.ID), mustEvents(t, s, b.ID, 0)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = open(t, op)
	sameBatch(t, mustBatch(t, s, b.ID), before)
	sameEvents(t, mustEvents(t, s, b.ID, 0), beforeEvs)
	if ids, err := s.Unfinished(t.Context()); err != nil || !slices.Equal(ids, []string{b.ID}) {
		t.Errorf("Unfinished after reopen = %v, %v; want [%s]", ids, err, b.ID)
	}
	// The unacked job is back, in whatever order the backend redelivers.
	want := []persistence.Job{unacked, all[2], all[3]}
	slices.SortFunc(want, func(x, y persistence.Job) int { return cmp.Compare(x.String(), y.String()) })
	if got := claimAll(t, s, 3); !slices.Equal(got, want) {
		t.Fatalf("after reopen claimed %v, want %v", got, want)
	}
	queueEmpty(t, s) // the acked job is not redelivered

	// The log goes on where it stopped.
	evs, _ := mustAppend(t, s, b.ID, processing(b, 0))
	if evs[0].Seq != before.LastSeq+1 || evs[0].Attempt != 2 {
		t.Errorf("append after reopen: seq %d attempt %d; want %d and 2", evs[0].Seq, evs[0].Attempt, before.LastSeq+1)
	}
}

// testClosed: after Close every method returns ErrClosed, Close included.
func testClosed(t *testing.T, op Opener) {
	s := open(t, op)
	b := create(t, s, 2)
	j := claim(t, s) // image 1 stays pending, so a Claim has work and cannot block
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	nb, queued := newBatch(t, 1)
	calls := []struct {
		name string
		call func() error
	}{
		{"Create", func() error { return s.Create(ctx, nb, queued) }},
		{"Batch", func() error { _, err := s.Batch(ctx, b.ID); return err }},
		{"Events", func() error { _, err := s.Events(ctx, b.ID, 0); return err }},
		{"Append", func() error { _, _, err := s.Append(ctx, b.ID, processing(b, 1)); return err }},
		{"Unfinished", func() error { _, err := s.Unfinished(ctx); return err }},
		{"Claim", func() error { _, err := s.Claim(ctx); return err }},
		{"Ack", func() error { return s.Ack(ctx, j) }},
		{"Requeue", func() error { return s.Requeue(ctx, j) }},
		{"Ping", func() error { return s.Ping(ctx) }},
		{"QueueDepth", func() error { _, _, err := s.QueueDepth(ctx); return err }},
		{"Close", s.Close},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); !errors.Is(err, persistence.ErrClosed) {
				t.Errorf("%s after Close = %v, want ErrClosed", c.name, err)
			}
		})
	}
}

// testCloseWakesClaim: a Claim waiting when the store closes returns
// ErrClosed instead of waiting for its ctx.
func testCloseWakesClaim(t *testing.T, op Opener) {
	s := open(t, op)
	got := goClaim(t.Context(), s)
	runtime.Gosched()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if r := recv(t, got, "Claim after Close"); !errors.Is(r.err, persistence.ErrClosed) {
		t.Fatalf("waiting Claim after Close = %v, %v; want ErrClosed", r.v, r.err)
	}
}
