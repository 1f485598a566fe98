package actors

import (
	"context"
	"testing"
	"time"

	"github.com/backlot/backlot/persistence"
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
