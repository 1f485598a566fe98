package actors

import (
	"testing"
	"time"

	"github.com/backlot/backlot/persistence"
)

// TestSupervisorStopsWhenItsBatchMoves: a node joins and the batch's owner
// becomes the new node. The supervisor on the old node hands the batch
// over and stops at once (not at its next message); its subscriber
// follows the batch to the new owner, and the rest of the batch is
// supervised there, still resized by the old node's pool, which claimed
// the job. The stream has no gap or repeat, the log one terminal per image.
func TestSupervisorStopsWhenItsBatchMoves(t *testing.T) {
	w := newClusterWorld(t)
	a := w.start(t, "a", withManualClaims, nil)
	addrB := freeAddr(t)
	src := jpegOf(t, 64, 48)
	bt := createBatch(t, a.store, w.blobs, func(id string) bool {
		return Owner(id, []string{a.addr(), addrB}) == addrB
	}, src, src)
	sub := a.sys.Subscribe(bt.ID, 0)
	var got []persistence.Event
	claimOn(a, persistence.Job{BatchID: bt.ID, ImageID: bt.Images[0].ID})
	for len(got) < 3 { // queued, processing, completed: supervised on a
		select {
		case ch := <-sub.C():
			got = append(got, ch.Events...)
		case <-time.After(20 * time.Second):
			t.Fatalf("first image not done: %v", types(got))
		}
	}
	supA := a.sys.engine.Registry.GetPID("batch", bt.ID+".1")
	if supA == nil {
		t.Fatal("no supervisor on a")
	}

	b := w.startAt(t, "b", addrB, withManualClaims, nil, a.addr())
	dumpOnFailure(t, a, b)
	waitMembers(t, a, b)
	waitFor(t, 10*time.Second, "a's supervisor to stop", func() bool {
		return a.sys.engine.Registry.GetPID("batch", bt.ID+".1") == nil
	})
	if n := len(a.logs.lines("supervisor hands its batch over")); n != 1 {
		t.Fatalf("%d hand-overs logged on a, want 1", n)
	}

	claimOn(a, persistence.Job{BatchID: bt.ID, ImageID: bt.Images[1].ID})
	got = append(got, collect(t, sub, 30*time.Second)...)
	checkStream(t, bt, got)
	checkLog(t, a.store, bt)
	// logged just after the fan-out that ended the stream
	waitFor(t, 10*time.Second, "b's supervisor to log the batch done", func() bool {
		for _, rec := range b.logs.lines("batch state") {
			if rec["to"] == "done" {
				return true
			}
		}
		return false
	})
}

// TestLostMessagesAreSentAgain: the owner of a batch is a member whose
// actors are not running (a node restarting under the same address), so
// the claims of another node's pool and a subscriber's Subscribe sent
// there are dead letters. The pool sends each claim again after
// HeldTimeout and the subscriber subscribes again after SubscribeTimeout,
// until the owner is back; then the batch completes and the stream is
// whole. Without the timeouts nothing would ever send them again (the
// claiming node is alive, so no lease expires).
func TestLostMessagesAreSentAgain(t *testing.T) {
	w := newClusterWorld(t)
	fast := func(c *Config) { c.HeldTimeout, c.SubscribeTimeout = 300*time.Millisecond, 300*time.Millisecond }
	a := w.start(t, "a", nil, fast)
	b := w.start(t, "b", nil, fast, a.addr())
	dumpOnFailure(t, a, b)
	waitMembers(t, a, b)
	b.stopSystem(t)

	src := jpegOf(t, 64, 48)
	bt := createBatch(t, a.store, w.blobs, func(id string) bool {
		return Owner(id, []string{a.addr(), b.addr()}) == b.addr()
	}, src, src)
	sub := a.sys.Subscribe(bt.ID, 0)
	waitFor(t, 20*time.Second, "claims and a subscribe sent again", func() bool {
		return len(a.logs.lines("no word on a claimed job; sending it again")) >= 2 &&
			len(a.logs.lines("no delivery in time; subscribing again")) >= 1
	})
	b.startSystem(t)
	evs := collect(t, sub, 30*time.Second)
	checkStream(t, bt, evs)
	checkLog(t, a.store, bt)
	t.Logf("claims sent again %d times, subscribes %d times before the owner came back",
		len(a.logs.lines("no word on a claimed job; sending it again")), len(a.logs.lines("no delivery in time; subscribing again")))
}
