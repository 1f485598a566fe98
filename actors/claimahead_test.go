package actors

import (
	"fmt"
	"testing"

	"github.com/backlot/backlot/persistence"
)

// running counts, along a batch's log, the images between their
// processing and their terminal event, and returns the most at once.
func running(t *testing.T, evs []persistence.Event) int {
	t.Helper()
	open, most := map[string]bool{}, 0
	for _, ev := range evs {
		switch {
		case ev.Type == persistence.EventProcessing:
			open[ev.ImageID] = true
		case ev.Type.Terminal():
			delete(open, ev.ImageID)
		}
		most = max(most, len(open))
	}
	if len(open) != 0 {
		t.Fatalf("images still processing at the end: %v", open)
	}
	return most
}

// TestClaimAhead: the pool takes at most Workers + ClaimAhead jobs out of
// the queue, so at most that many images of a batch are processing at
// once; with ClaimAhead negative (none) one resizer runs the images
// strictly one after another.
func TestClaimAhead(t *testing.T) {
	for _, c := range []struct{ workers, ahead, most int }{
		{1, -1, 1},
		{1, 1, 2},
		{2, 0, 4}, // the default: as many ahead as workers
	} {
		t.Run(fmt.Sprintf("workers=%d,ahead=%d", c.workers, c.ahead), func(t *testing.T) {
			e := newEnv(t, func(cfg *Config) { cfg.Workers, cfg.ClaimAhead = c.workers, c.ahead })
			img := jpegOf(t, 64, 48)
			srcs := make([][]byte, 12)
			for i := range srcs {
				srcs[i] = img
			}
			b := e.create(t, srcs...)
			evs := follow(t, e.sys.Subscribe(b.ID, 0))
			if got := running(t, evs); got > c.most || got < 1 {
				t.Fatalf("%d images processing at once, want 1..%d: %v", got, c.most, types(evs))
			}
			if last := evs[len(evs)-1]; last.Type != persistence.EventDone || last.Completed != len(srcs) {
				t.Fatalf("last event %+v, want done with %d completed", last, len(srcs))
			}
		})
	}
}
