package storetest

import (
	"errors"
	"sync"
	"testing"

	"github.com/backlot/backlot/persistence"
)

// testFence: each Fence
// gives a greater token; an AppendFenced with the latest token writes, one
// with an older token returns ErrFenced (which is also ErrConflict) and
// writes nothing; an unknown batch is ErrNotFound; and two writers racing,
// each fencing in turn and appending with its token, leave a log without a
// gap, a repeat or a second terminal event, every refused write refused
// for being fenced.
func testFence(t *testing.T, op Opener) {
	s := open(t, op)
	f := s
	ctx := t.Context()
	if _, err := f.Fence(ctx, "no-such-batch"); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("Fence(unknown) = %v, want ErrNotFound", err)
	}
	b := create(t, s, 2)
	old, err := f.Fence(ctx, b.ID)
	if err != nil {
		t.Fatalf("Fence: %v", err)
	}
	if evs, _, err := f.AppendFenced(ctx, b.ID, old, processing(b, 0)); err != nil || evs[0].Seq != 2 {
		t.Fatalf("AppendFenced(latest) = %v, %v; want seq 2", evs, err)
	}
	cur, err := f.Fence(ctx, b.ID)
	if err != nil || cur <= old {
		t.Fatalf("second Fence = %d, %v; want a token above %d", cur, err, old)
	}
	before, beforeEvs := mustBatch(t, s, b.ID), mustEvents(t, s, b.ID, 0)
	_, _, err = f.AppendFenced(ctx, b.ID, old, completed(b, 0))
	if !errors.Is(err, persistence.ErrFenced) || !errors.Is(err, persistence.ErrConflict) {
		t.Fatalf("AppendFenced(older token) = %v, want ErrFenced wrapping ErrConflict", err)
	}
	sameBatch(t, mustBatch(t, s, b.ID), before)
	sameEvents(t, mustEvents(t, s, b.ID, 0), beforeEvs)
	if _, _, err := f.AppendFenced(ctx, b.ID, old); !errors.Is(err, persistence.ErrFenced) {
		t.Fatalf("AppendFenced(older token, no events) = %v, want ErrFenced", err)
	}
	if evs, nb, err := f.AppendFenced(ctx, b.ID, cur); err != nil || len(evs) != 0 || nb.LastSeq != before.LastSeq {
		t.Fatalf("AppendFenced(latest, no events) = %v, %v, %v; want the batch as stored", evs, nb, err)
	}
	if _, _, err := f.AppendFenced(ctx, b.ID, cur, completed(b, 0)); err != nil {
		t.Fatalf("AppendFenced(latest) after a refusal: %v", err)
	}
	if _, _, err := f.AppendFenced(ctx, "no-such-batch", cur, processing(b, 1)); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("AppendFenced(unknown) = %v, want ErrNotFound", err)
	}

	// Two writers take the batch from each other 20 times each, each
	// appending processing then a terminal event for image 1 while it
	// holds a token: whatever interleaving, the log stays valid.
	const rounds = 20
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 2*rounds*2)
	for range 2 {
		wg.Go(func() {
			<-start
			for range rounds {
				tok, err := f.Fence(ctx, b.ID)
				if err != nil {
					errs <- err
					return
				}
				for _, ev := range []persistence.Event{processing(b, 1), failed(b, 1, "x")} {
					if _, _, err := f.AppendFenced(ctx, b.ID, tok, ev); err != nil && !errors.Is(err, persistence.ErrConflict) {
						errs <- err
					}
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("racing writers: %v", err)
	}
	log := mustEvents(t, s, b.ID, 0)
	contiguous(t, log, 1)
	terminals := map[string]int{}
	for _, ev := range log {
		if ev.Type.Terminal() {
			terminals[ev.ImageID]++
		}
	}
	for id, n := range terminals {
		if n != 1 {
			t.Fatalf("image %s has %d terminal events in %v", id, n, types(log))
		}
	}
	if nb := mustBatch(t, s, b.ID); nb.LastSeq != uint64(len(log)) || nb.Failed != 1 || nb.Completed != 1 {
		t.Fatalf("batch LastSeq %d completed %d failed %d, log of %d", nb.LastSeq, nb.Completed, nb.Failed, len(log))
	}
}
