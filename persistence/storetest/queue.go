package storetest

import (
	"cmp"
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/backlot/backlot/persistence"
)

// testClaimFIFO: jobs come out in the order they went in: batch by batch,
// image by image.
func testClaimFIFO(t *testing.T, op Opener) {
	s := open(t, op)
	a, b := create(t, s, 3), create(t, s, 2)
	for _, want := range append(jobs(a), jobs(b)...) {
		if j := claim(t, s); j != want {
			t.Fatalf("claimed %v, want %v", j, want)
		}
	}
}

// testClaimBlocksUntilCreate: Claim on an empty queue waits, and returns the
// first job of a batch created meanwhile.
func testClaimBlocksUntilCreate(t *testing.T, op Opener) {
	s := open(t, op)
	got := goClaim(t.Context(), s)
	runtime.Gosched() // let the claimer reach its wait; correctness does not depend on it
	select {
	case r := <-got:
		t.Fatalf("Claim on an empty queue returned %v, %v", r.v, r.err)
	default:
	}
	b := create(t, s, 2)
	r := recv(t, got, "Claim after Create")
	if r.err != nil || r.v != jobs(b)[0] {
		t.Fatalf("Claim = %v, %v; want %v", r.v, r.err, jobs(b)[0])
	}
	if j := claim(t, s); j != jobs(b)[1] {
		t.Fatalf("claimed %v, want %v", j, jobs(b)[1])
	}
}

// testClaimCanceled: Claim returns ctx.Err() when its ctx ends, whether
// before the call or while it waits, and takes no job then.
func testClaimCanceled(t *testing.T, op Opener) {
	s := open(t, op)

	ctx, cancel := context.WithCancel(t.Context())
	got := goClaim(ctx, s)
	runtime.Gosched()
	cancel()
	if r := recv(t, got, "Claim after cancel"); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("waiting Claim after cancel = %v, %v; want context.Canceled", r.v, r.err)
	}

	b := create(t, s, 1)
	if j, err := s.Claim(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Claim with a canceled ctx = %v, %v; want context.Canceled", j, err)
	}
	if j := claim(t, s); j != jobs(b)[0] {
		t.Fatalf("claimed %v, want %v: a canceled Claim must not take the job", j, jobs(b)[0])
	}
}

// testAck: an acked job is gone; acking it again, or acking a job that is
// pending and not claimed, is not an error and changes nothing.
func testAck(t *testing.T, op Opener) {
	s := open(t, op)
	b := create(t, s, 2)
	ctx := t.Context()
	j := claim(t, s)
	for range 2 {
		if err := s.Ack(ctx, j); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
	if err := s.Ack(ctx, jobs(b)[1]); err != nil { // pending, not in flight
		t.Fatalf("Ack of a pending job: %v", err)
	}
	if j := claim(t, s); j != jobs(b)[1] {
		t.Fatalf("claimed %v, want %v: Ack must not drop a pending job", j, jobs(b)[1])
	}
	if err := s.Requeue(ctx, j); err != nil { // acked: no longer in flight
		t.Fatalf("Requeue of an acked job: %v", err)
	}
	queueEmpty(t, s)
}

// testRequeue: a requeued job goes to the end of the queue and is claimed
// again; requeueing a job that is not in flight changes nothing.
func testRequeue(t *testing.T, op Opener) {
	s := open(t, op)
	b := create(t, s, 3)
	all, ctx := jobs(b), t.Context()

	if err := s.Requeue(ctx, all[1]); err != nil { // pending, not in flight
		t.Fatalf("Requeue of a pending job: %v", err)
	}
	first := claim(t, s)
	if first != all[0] {
		t.Fatalf("claimed %v, want %v", first, all[0])
	}
	if err := s.Requeue(ctx, first); err != nil {
		t.Fatalf("Requeue: %v", err)
	}
	for _, want := range []persistence.Job{all[1], all[2], all[0]} {
		if j := claim(t, s); j != want {
			t.Fatalf("claimed %v, want %v (the requeued job last, and once)", j, want)
		}
		if err := s.Ack(ctx, want); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
	queueEmpty(t, s)
}

// testConcurrentClaim: claimers racing over many jobs get each exactly once.
func testConcurrentClaim(t *testing.T, op Opener) {
	const claimers, batches, per = 4, 20, 10
	s := open(t, op)
	want := map[persistence.Job]bool{}
	for range batches {
		for _, j := range jobs(create(t, s, per)) {
			want[j] = true
		}
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	got := make(chan persistence.Job, batches*per)
	errs := make(chan error, claimers)
	var wg sync.WaitGroup
	for range claimers {
		wg.Go(func() {
			for {
				j, err := s.Claim(ctx)
				if err != nil {
					errs <- err
					return
				}
				got <- j
			}
		})
	}
	seen := map[persistence.Job]bool{}
	for range batches * per {
		j := recv(t, got, "claimed job")
		if seen[j] || !want[j] {
			t.Fatalf("claimed %v twice or unknown", j)
		}
		seen[j] = true
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
	queueEmpty(t, s)
}

// testQueueDepth: the counts of pending and in-flight jobs follow Create,
// Claim, Requeue and Ack.
func testQueueDepth(t *testing.T, op Opener) {
	s := open(t, op)
	qs := s
	depth := func(wantPending, wantInflight int) {
		t.Helper()
		p, f, err := qs.QueueDepth(t.Context())
		if err != nil || p != wantPending || f != wantInflight {
			t.Fatalf("QueueDepth = %d, %d, %v; want %d, %d", p, f, err, wantPending, wantInflight)
		}
	}
	depth(0, 0)
	create(t, s, 3)
	depth(3, 0)
	j := claim(t, s)
	depth(2, 1)
	if err := s.Requeue(t.Context(), j); err != nil {
		t.Fatal(err)
	}
	depth(3, 0)
	j = claim(t, s)
	if err := s.Ack(t.Context(), j); err != nil {
		t.Fatal(err)
	}
	depth(2, 0)
}

// testPing: a store that can ping says it is reachable.
func testPing(t *testing.T, op Opener) {
	s := open(t, op)
	p := s
	if err := p.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// claimAll claims n jobs and returns them sorted, for comparing sets.
func claimAll(t *testing.T, s persistence.Store, n int) []persistence.Job {
	t.Helper()
	out := make([]persistence.Job, n)
	for i := range out {
		out[i] = claim(t, s)
	}
	slices.SortFunc(out, func(a, b persistence.Job) int { return cmp.Compare(a.String(), b.String()) })
	return out
}

// testConcurrentRequeue: two Requeues of one claimed job racing (two
// timers of a pool firing together) move it back once: it is claimed
// once more, then nothing is pending.
func testConcurrentRequeue(t *testing.T, op Opener) {
	s := open(t, op)
	ctx := t.Context()
	for range 20 {
		b := create(t, s, 1)
		j := claim(t, s)
		if j != jobs(b)[0] {
			t.Fatalf("claimed %v, want %v", j, jobs(b)[0])
		}
		errs := make(chan error, 2)
		for range 2 {
			go func() { errs <- s.Requeue(ctx, j) }()
		}
		for range 2 {
			if err := recv(t, errs, "Requeue"); err != nil {
				t.Fatalf("Requeue: %v", err)
			}
		}
		if again := claim(t, s); again != j {
			t.Fatalf("claimed %v after the requeues, want %v", again, j)
		}
		if err := s.Ack(ctx, j); err != nil {
			t.Fatalf("Ack: %v", err)
		}
		queueEmpty(t, s) // a second copy would be claimed before the marker
	}
}
