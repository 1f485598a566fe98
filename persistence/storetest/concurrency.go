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
	if got := types(log); !slices.Equal(got, []persistence.EventType{persistence.EventQueued, persistence.EventProcessing, persistence.EventCompleted}) {
		t.Errorf("log = %v, want queued, processing, completed", got)
	}
	if nb := mustBatch(t, s, b.ID); nb.Completed != 1 || nb.LastSeq != 3 {
		t.Errorf("batch: completed %d, LastSeq %d; want 1 and 3", nb.Completed, nb.LastSeq)
	}
}
