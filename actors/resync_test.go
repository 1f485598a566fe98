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

// TestSupervisorClosesABatchAnotherWriterFinished: another writer records
// the last terminal event but one behind the supervisor's back; the
// supervisor's own last terminal event then leaves every image terminal in
// the store though its mirror did not expect it, and it records done all
// the same (each writer judging by its own mirror would leave the batch
// without done forever).
func TestSupervisorClosesABatchAnotherWriterFinished(t *testing.T) {
	var st persistence.Store
	e := newEnv(t, func(c *Config) { st = c.Store; c.Store = noClaims{c.Store} })
	src := jpegOf(t, 64, 48)
	b := e.create(t, src, src)
	sub := e.sys.Subscribe(b.ID, 0)
	first := <-sub.C() // the supervisor has loaded the batch
	im0 := b.Images[0].ID
	other := []persistence.Event{
		{Type: persistence.EventProcessing, BatchID: b.ID, ImageID: im0, At: time.Now().UTC()},
		{Type: persistence.EventCompleted, BatchID: b.ID, ImageID: im0, Width: 1, Height: 1, Bytes: 1, At: time.Now().UTC()},
	}
	if _, _, err := st.Append(t.Context(), b.ID, other...); err != nil {
		t.Fatal(err)
	}
	e.sys.engine.Send(e.sys.manager, claimed{job: persistence.Job{BatchID: b.ID, ImageID: b.Images[1].ID}})
	evs := append(first.Events, follow(t, sub)...)
	if got := types(evs); len(got) != 6 || got[5] != persistence.EventDone {
		t.Fatalf("stream %v: want the whole log ending in done", got)
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("seqs of %v: a gap or repeat", types(evs))
		}
	}
}
