package actors

import (
	"context"
	"testing"
	"time"

	"github.com/backlot/backlot/persistence"
)

// noClaims is a store whose queue never yields a job, so a test decides
// what the supervisor is told was claimed.
type noClaims struct{ persistence.Store }

func (noClaims) Claim(ctx context.Context) (persistence.Job, error) {
	<-ctx.Done()
	return persistence.Job{}, ctx.Err()
}

// TestSupervisorResyncsAfterAnotherWriter: a second writer (a duplicate
// supervisor while members disagree on the owner) appends behind the
// supervisor's back; the supervisor's next append comes back with a seq it
// did not expect, and it reads the missed events from the store and passes
// them on first, so its subscribers see no gap.
func TestSupervisorResyncsAfterAnotherWriter(t *testing.T) {
	var st persistence.Store
	e := newEnv(t, func(c *Config) { st = c.Store; c.Store = noClaims{c.Store} })
	src := jpegOf(t, 64, 48)
	b := e.create(t, src, src)
	sub := e.sys.Subscribe(b.ID, 0)
	defer sub.Close()
	var got []persistence.Event
	next := func() {
		t.Helper()
		select {
		case ch, ok := <-sub.C():
			if !ok {
				t.Fatalf("subscription closed after %v", got)
			}
			got = append(got, ch.Events...)
		case <-time.After(10 * time.Second):
			t.Fatalf("no chunk after %v", got)
		}
	}
	next() // queued
	other := persistence.Event{Type: persistence.EventProcessing, BatchID: b.ID, ImageID: b.Images[0].ID, At: time.Now().UTC()}
	if _, _, err := st.Append(t.Context(), b.ID, other); err != nil {
		t.Fatal(err)
	}
	e.sys.engine.Send(e.sys.manager, claimed{job: persistence.Job{BatchID: b.ID, ImageID: b.Images[1].ID}})
	for len(got) < 3 {
		next()
	}
	for i, ev := range got[:3] {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("seqs %v: a gap or repeat", got)
		}
	}
	if got[1].ImageID != b.Images[0].ID || got[2].ImageID != b.Images[1].ID {
		t.Fatalf("events %+v: want the other writer's, then ours", got)
	}
}
