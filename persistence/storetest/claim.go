package storetest

import (
	"context"
	"errors"
	"runtime"
	"testing"
)

// testClaimWokenByRequeue: a Claim waiting on an empty queue returns the job
// that Requeue puts back, not only one that Create adds.
func testClaimWokenByRequeue(t *testing.T, op Opener) {
	s := open(t, op)
	b := create(t, s, 1)
	j := claim(t, s)
	got := goClaim(t.Context(), s)
	runtime.Gosched() // let the claimer reach its wait; correctness does not depend on it
	select {
	case r := <-got:
		t.Fatalf("Claim on an empty queue returned %v, %v", r.v, r.err)
	default:
	}
	if err := s.Requeue(t.Context(), j); err != nil {
		t.Fatalf("Requeue: %v", err)
	}
	if r := recv(t, got, "Claim after Requeue"); r.err != nil || r.v != jobs(b)[0] {
		t.Fatalf("Claim = %v, %v; want the requeued %v", r.v, r.err, jobs(b)[0])
	}
}

// testClaimCanceledMeanwhile: a Claim whose ctx ends while it waits takes no
// job, not even one created before it has returned; the job stays first in
// line for the next claimer.
func testClaimCanceledMeanwhile(t *testing.T, op Opener) {
	s := open(t, op)
	ctx, cancel := context.WithCancel(t.Context())
	got := goClaim(ctx, s)
	runtime.Gosched()
	cancel()
	b := create(t, s, 2) // may reach the store before the claimer has seen the cancel
	if r := recv(t, got, "Claim after cancel"); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("Claim canceled while waiting = %v, %v; want context.Canceled", r.v, r.err)
	}
	for _, want := range jobs(b) {
		if j := claim(t, s); j != want {
			t.Fatalf("claimed %v, want %v: the canceled Claim must leave the queue as it was", j, want)
		}
	}
	queueEmpty(t, s)
}
