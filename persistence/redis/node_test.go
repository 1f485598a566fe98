package redis_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/redis"
	"github.com/backlot/backlot/persistence/redis/redistest"
)

// Tests of what only a shared, networked queue has: several nodes, leases.
// Every node of a test shares its prefix; nodes differ by NodeID.

// TestLeaseExpiryRedelivers: node A claims a job and stops renewing its
// lease (Close stops the heartbeat and requeues nothing); once the lease
// expires, node B's reaper puts the job back and B claims it.
func TestLeaseExpiryRedelivers(t *testing.T) {
	srv := redistest.Start(t)
	a := mustOpen(t, srv, redis.Options{Prefix: "lease", NodeID: "a", LeaseTTL: 300 * time.Millisecond})
	b := mustOpen(t, srv, redis.Options{Prefix: "lease", NodeID: "b"})
	batch := create(t, a, 1)
	if j := claim(t, a); j != jobOf(batch, 0) {
		t.Fatalf("A claimed %v, want %v", j, jobOf(batch, 0))
	}
	if err := a.Close(); err != nil {
		t.Fatalf("Close A: %v", err)
	}
	eventually(t, "B reaps A's job after A's lease expires", func() (bool, error) {
		n, err := b.ReapNow(t.Context())
		return n == 1, err
	})
	depth(t, b, 1, 0)
	if j := claim(t, b); j != jobOf(batch, 0) {
		t.Fatalf("B claimed %v, want A's job %v", j, jobOf(batch, 0))
	}
	// A dead node emptied by the reaper leaves the node set.
	if n, err := b.ReapNow(t.Context()); n != 0 || err != nil {
		t.Errorf("second ReapNow = %d, %v; want 0, nil", n, err)
	}
	depth(t, b, 0, 1) // B's claim only: A is no longer counted
}

// TestLiveLeaseKept: a node renewing its lease keeps its in-flight jobs; so
// does a node closed moments ago, until its lease runs out. A restart of the
// same node takes them back at once, without waiting for the lease.
func TestLiveLeaseKept(t *testing.T) {
	srv := redistest.Start(t)
	o := redis.Options{Prefix: "live", NodeID: "a"} // default 10 s lease
	a := mustOpen(t, srv, o)
	b := mustOpen(t, srv, redis.Options{Prefix: "live", NodeID: "b"})
	batch := create(t, a, 1)
	claim(t, a)
	if n, err := b.ReapNow(t.Context()); n != 0 || err != nil {
		t.Fatalf("ReapNow with A alive = %d, %v; want 0, nil", n, err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := b.ReapNow(t.Context()); n != 0 || err != nil {
		t.Fatalf("ReapNow right after A closed = %d, %v; want 0: Close does not give up the lease", n, err)
	}
	depth(t, b, 0, 1)

	a = mustOpen(t, srv, o) // A restarts
	depth(t, a, 1, 0)
	if j := claim(t, a); j != jobOf(batch, 0) {
		t.Fatalf("restarted A claimed %v, want %v", j, jobOf(batch, 0))
	}
}

// TestNodesClaimDistinctJobs: claimers on two nodes racing over one pending
// list each get every job exactly once between them.
func TestNodesClaimDistinctJobs(t *testing.T) {
	const batches, per, claimersPerNode = 20, 10, 2
	srv := redistest.Start(t)
	nodes := []*redis.Store{
		mustOpen(t, srv, redis.Options{Prefix: "race", NodeID: "a"}),
		mustOpen(t, srv, redis.Options{Prefix: "race", NodeID: "b"}),
	}
	want := map[persistence.Job]bool{}
	for i := range batches {
		b := create(t, nodes[i%2], per)
		for k := range per {
			want[jobOf(b, k)] = true
		}
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	type claimed struct {
		node int
		job  persistence.Job
	}
	got := make(chan claimed, batches*per)
	errs := make(chan error, 2*claimersPerNode)
	var wg sync.WaitGroup
	for n, s := range nodes {
		for range claimersPerNode {
			wg.Go(func() {
				for {
					j, err := s.Claim(ctx)
					if err != nil {
						errs <- err
						return
					}
					got <- claimed{n, j}
				}
			})
		}
	}
	seen, perNode := map[persistence.Job]bool{}, [2]int{}
	for range batches * per {
		c := recv(t, got, "claimed job")
		if seen[c.job] || !want[c.job] {
			t.Fatalf("node %d claimed %v twice or unknown", c.node, c.job)
		}
		seen[c.job] = true
		perNode[c.node]++
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Claim = %v, want context.Canceled", err)
		}
	}
	if len(got) != 0 {
		t.Fatalf("%d jobs claimed more than once", len(got))
	}
	t.Logf("jobs per node: %v", perNode)
	depth(t, nodes[0], 0, batches*per)
}

// TestNodesRaceTerminal: appenders on two nodes racing to complete one image
// (as after a redelivery): exactly one wins, the others get ErrConflict, and
// the log holds one terminal event. Within a node appends to a batch are
// serialised, so this is the WATCH/EXEC retry at work.
func TestNodesRaceTerminal(t *testing.T) {
	const perNode = 4
	srv := redistest.Start(t)
	a := mustOpen(t, srv, redis.Options{Prefix: "term", NodeID: "a"})
	b := mustOpen(t, srv, redis.Options{Prefix: "term", NodeID: "b"})
	batch := create(t, a, 1)
	if _, _, err := a.Append(t.Context(), batch.ID, processing(batch, 0)); err != nil {
		t.Fatal(err)
	}

	start := make(chan struct{})
	errs := make(chan error, 2*perNode)
	for _, s := range []*redis.Store{a, b, a, b, a, b, a, b} {
		go func() {
			<-start
			_, _, err := s.Append(t.Context(), batch.ID, completed(batch, 0))
			errs <- err
		}()
	}
	close(start)
	wins := 0
	for range 2 * perNode {
		switch err := recv(t, errs, "racer"); {
		case err == nil:
			wins++
		case !errors.Is(err, persistence.ErrConflict):
			t.Errorf("losing Append = %v, want ErrConflict", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d appenders completed the image, want exactly 1", wins)
	}
	log, err := b.Events(t.Context(), batch.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var types []persistence.EventType
	for _, ev := range log {
		types = append(types, ev.Type)
	}
	if want := []persistence.EventType{persistence.EventQueued, persistence.EventProcessing, persistence.EventCompleted, persistence.EventDone}; !slices.Equal(types, want) {
		t.Errorf("log = %v, want %v", types, want)
	}
}

// TestNodesAppendNoGaps: two nodes appending to one batch as fast as they
// can never leave a gap or repeat a seq, and every append lands once.
func TestNodesAppendNoGaps(t *testing.T) {
	const workersPerNode, per = 3, 30
	srv := redistest.Start(t)
	nodes := []*redis.Store{
		mustOpen(t, srv, redis.Options{Prefix: "gap", NodeID: "a"}),
		mustOpen(t, srv, redis.Options{Prefix: "gap", NodeID: "b"}),
	}
	batch := create(t, nodes[0], 2*workersPerNode)

	start := make(chan struct{})
	done := make(chan error, 2*workersPerNode)
	for n, s := range nodes {
		for w := range workersPerNode {
			img := n*workersPerNode + w
			go func() {
				<-start
				for range per {
					if _, _, err := s.Append(t.Context(), batch.ID, processing(batch, img)); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
		}
	}
	close(start)
	for range 2 * workersPerNode {
		if err := recv(t, done, "appender"); err != nil {
			t.Errorf("Append: %v", err)
		}
	}
	log, err := nodes[1].Events(t.Context(), batch.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 1+2*workersPerNode*per {
		t.Fatalf("log has %d events, want %d", len(log), 1+2*workersPerNode*per)
	}
	attempts := map[string]int{}
	for i, ev := range log {
		if ev.Seq != uint64(i)+1 {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
		if i > 0 {
			attempts[ev.ImageID]++
			if ev.Attempt != attempts[ev.ImageID] {
				t.Fatalf("image %s: attempt %d at seq %d, want %d", ev.ImageID, ev.Attempt, ev.Seq, attempts[ev.ImageID])
			}
		}
	}
}
