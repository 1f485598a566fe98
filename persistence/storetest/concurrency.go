package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/backlot/backlot/persistence"
)

// testConcurrentAppend: appenders racing on one batch never leave a gap or
// repeat a seq, and each image's attempts are numbered 1, 2, 3 … in its log.
func testConcurrentAppend(t *testing.T, op Opener) {
	const workers, per = 8, 20
	s := open(t, op)
	b := create(t, s, workers)

	start := make(chan struct{})
	got := make(chan result[[]uint64], workers)
	for w := range workers {
		go func() {
			<-start
			var mine []uint64
			for range per {
				evs, _, err := s.Append(t.Context(), b.ID, processing(b, w))
				if err != nil {
					got <- result[[]uint64]{mine, err}
					return
				}
				mine = append(mine, evs[0].Seq)
			}
			got <- result[[]uint64]{mine, nil}
		}()
	}
	close(start)
	var all []uint64
	for range workers {
		r := recv(t, got, "appender")
		if r.err != nil {
			t.Errorf("Append: %v", r.err)
		}
		all = append(all, r.v...)
	}
	slices.Sort(all)
	for i, seq := range all {
		if seq != uint64(i)+2 { // 1 is queued
			t.Fatalf("returned seqs %v: want 2…%d, each once", all, workers*per+1)
		}
	}

	log := mustEvents(t, s, b.ID, 0)
	contiguous(t, log, 1)
	if len(log) != 1+workers*per {
		t.Fatalf("log has %d events, want %d", len(log), 1+workers*per)
	}
	next := map[string]int{}
	for _, ev := range log[1:] {
		next[ev.ImageID]++
		if ev.Attempt != next[ev.ImageID] {
			t.Fatalf("image %s: attempt %d at seq %d, want %d", ev.ImageID, ev.Attempt, ev.Seq, next[ev.ImageID])
		}
	}
	nb := mustBatch(t, s, b.ID)
	if nb.LastSeq != uint64(1+workers*per) {
		t.Errorf("LastSeq = %d, want %d", nb.LastSeq, 1+workers*per)
	}
	for _, im := range nb.Images {
		if im.Attempts != per {
			t.Errorf("image %s: %d attempts, want %d", im.ID, im.Attempts, per)
		}
	}
}

// testConcurrentTerminal: of appenders racing to complete one image, exactly
// one succeeds; the others get ErrConflict, and the log has one terminal event.
func testConcurrentTerminal(t *testing.T, op Opener) {
	const racers = 8
	s := open(t, op)
	b := create(t, s, 1)
	mustAppend(t, s, b.ID, processing(b, 0))

	start := make(chan struct{})
	errs := make(chan error, racers)
	var wg sync.WaitGroup
	for range racers {
		wg.Go(func() {
			<-start
			_, _, err := s.Append(t.Context(), b.ID, completed(b, 0))
			errs <- err
		})
	}
	close(start)
	wins := 0
	for range racers {
		switch err := recv(t, errs, "racer"); {
		case err == nil:
			wins++
		case !errors.Is(err, persistence.ErrConflict):
			t.Errorf("losing Append = %v, want ErrConflict", err)
		}
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d appenders completed the image, want exactly 1", wins)
	}
	log := mustEvents(t, s, b.ID, 0)
	if got := types(log); !slices.Equal(got, []persistence.EventType{persistence.EventQueued, persistence.EventProcessing, persistence.EventCompleted, persistence.EventDone}) {
		t.Errorf("log = %v, want queued, processing, completed, done", got)
	}
	if nb := mustBatch(t, s, b.ID); nb.Completed != 1 || nb.LastSeq != 4 {
		t.Errorf("batch: completed %d, LastSeq %d; want 1 and 4", nb.Completed, nb.LastSeq)
	}
}

// testConcurrentLastTerminals: writers racing to record the last terminal
// events of different images (each judging from its own, stale, view of
// the batch) still leave exactly one done, last in the log, decided by
// the store in the write that made the batch finished. No writer adds
// done, and nothing is left to repair afterwards.
func testConcurrentLastTerminals(t *testing.T, op Opener) {
	s := open(t, op)
	const n = 8
	b := create(t, s, n)
	for i := range n {
		mustAppend(t, s, b.ID, processing(b, i))
	}
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := range n {
		go func() {
			<-start
			ev := completed(b, i)
			if i%2 == 1 {
				ev = failed(b, i, "bad")
			}
			_, _, err := s.Append(t.Context(), b.ID, ev)
			errs <- err
		}()
	}
	close(start)
	for range n {
		if err := recv(t, errs, "racer"); err != nil {
			t.Errorf("Append of a distinct image's terminal event: %v", err)
		}
	}
	log := mustEvents(t, s, b.ID, 0)
	contiguous(t, log, 1)
	dones := 0
	for _, ev := range log {
		if ev.Type == persistence.EventDone {
			dones++
		}
	}
	if dones != 1 || log[len(log)-1].Type != persistence.EventDone || len(log) != 1+2*n+1 {
		t.Fatalf("log = %v: want %d events ending in exactly one done", types(log), 2+2*n)
	}
	if d := log[len(log)-1]; d.Total != n || d.Completed != n/2 || d.Failed != n/2 {
		t.Errorf("done = %+v, want %d of %d completed and %d failed", d, n/2, n, n/2)
	}
	if nb := mustBatch(t, s, b.ID); !nb.Done {
		t.Errorf("batch not done after its last terminal event: %+v", nb)
	}
}
