package actors

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/testkit"
)

// TestSubscriberSkipsUpToAfter: whatever a delivery holds, a subscription
// yields only events past its resume point, each once (a fan-out to a
// subscriber whose Last-Event-ID is ahead of the supervisor's log).
func TestSubscriberSkipsUpToAfter(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := e.sys.Drain(ctx); err != nil { // nothing is claimed: the batch stays at seq 1
		t.Fatal(err)
	}
	b := e.create(t, nil)
	sub := e.sys.Subscribe(b.ID, 3)
	defer sub.Close()
	ev := func(seq uint64) persistence.Event {
		return persistence.Event{Seq: seq, BatchID: b.ID, Type: persistence.EventProcessing, ImageID: b.Images[0].ID, Attempt: 1}
	}
	e.sys.engine.Send(sub.pid, delivery{events: []persistence.Event{ev(2), ev(3), ev(4)}})
	e.sys.engine.Send(sub.pid, delivery{events: []persistence.Event{ev(4), ev(5)}})
	var got []uint64
	timeout := time.After(10 * time.Second)
	for len(got) < 2 {
		select {
		case ch, ok := <-sub.C():
			if !ok {
				t.Fatalf("subscription closed; got %v", got)
			}
			for _, e := range ch.Events {
				got = append(got, e.Seq)
			}
		case <-timeout:
			t.Fatalf("got %v, want [4 5]", got)
		}
	}
	if len(got) != 2 || got[0] != 4 || got[1] != 5 {
		t.Fatalf("got %v, want [4 5]", got)
	}
}

// fenceless fails Fence with ErrUnavailable while down is set, as a
// Redis store does while its primary fails over (a token no replica
// holds is not handed out).
type fenceless struct {
	persistence.Store
	down   atomic.Bool
	failed atomic.Int64
}

func (f *fenceless) Fence(ctx context.Context, id string) (uint64, error) {
	if f.down.Load() {
		f.failed.Add(1)
		return 0, fmt.Errorf("fence batch %s: %w", id, persistence.ErrUnavailable)
	}
	return f.Store.Fence(ctx, id)
}

// TestSubscriberWaitsForTheStore: a stream opened while the store cannot
// give its batch's supervisor a token stays open (no error, no end) and
// gets the whole log once the store answers again.
func TestSubscriberWaitsForTheStore(t *testing.T) {
	var st *fenceless
	e := newEnv(t, func(c *Config) {
		st = &fenceless{Store: c.Store}
		st.down.Store(true)
		c.Store = st
	})
	b := e.create(t, jpegOf(t, 64, 64), jpegOf(t, 64, 64))
	sub := e.sys.Subscribe(b.ID, 0)
	testkit.Eventually(t, 10*time.Second, "a supervisor to fail to fence", func() bool { return st.failed.Load() >= 2 })
	st.down.Store(false)
	evs := collect(t, sub, 30*time.Second) // fails on an error chunk
	if len(evs) != 6 || evs[0].Type != persistence.EventQueued || evs[5].Type != persistence.EventDone {
		t.Fatalf("events %v", types(evs))
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d: %v", i+1, ev.Seq, types(evs))
		}
	}
}
