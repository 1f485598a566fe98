package redis_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/redis"
	"github.com/backlot/backlot/persistence/redis/redistest"
)

// Outage tests stop, kill and restart their own redis-server.

// TestRedisKilled: with Redis gone (SIGKILL), every method returns an error
// wrapping ErrUnavailable instead of hanging, a Claim blocked on the server
// included, and Ping fails; once Redis is back the same Store works again.
func TestRedisKilled(t *testing.T) {
	srv := redistest.Start(t)
	s := mustOpen(t, srv, redis.Options{Prefix: "down", NodeID: "a"})
	b := create(t, s, 2)
	j := claim(t, s)
	claim(t, s)
	blocked := goClaim(t.Context(), s) // the queue is empty: it waits on the server
	waitBlocked(t, rawClient(t, srv), 1)

	srv.Kill(t)
	if r := recv(t, blocked, "Claim blocked when Redis died"); !errors.Is(r.err, persistence.ErrUnavailable) {
		t.Fatalf("blocked Claim = %v, %v; want ErrUnavailable", r.job, r.err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	fresh, queued := newBatch(t, 1)
	for _, c := range []struct {
		name string
		call func() error
	}{
		{"Ping", func() error { return s.Ping(ctx) }},
		{"Create", func() error { return s.Create(ctx, fresh, queued) }},
		{"Batch", func() error { _, err := s.Batch(ctx, b.ID); return err }},
		{"Events", func() error { _, err := s.Events(ctx, b.ID, 0); return err }},
		{"Append", func() error { _, _, err := s.Append(ctx, b.ID, processing(b, 0)); return err }},
		{"Unfinished", func() error { _, err := s.Unfinished(ctx); return err }},
		{"Claim", func() error { _, err := s.Claim(ctx); return err }},
		{"Ack", func() error { return s.Ack(ctx, j) }},
		{"Requeue", func() error { return s.Requeue(ctx, j) }},
		{"QueueDepth", func() error { _, _, err := s.QueueDepth(ctx); return err }},
		{"ReapNow", func() error { _, err := s.ReapNow(ctx); return err }},
		{"Expired", func() error { _, err := s.Expired(ctx, time.Now(), 10); return err }},
		{"Delete", func() error { return s.Delete(ctx, b.ID) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { done <- c.call() }()
			if err := recv(t, done, c.name); !errors.Is(err, persistence.ErrUnavailable) {
				t.Errorf("%s with Redis down = %v, want ErrUnavailable", c.name, err)
			}
		})
	}

	srv.Restart(t) // no AOF: an empty Redis comes back
	eventually(t, "Ping once Redis is back", func() (bool, error) { return s.Ping(ctx) == nil, nil })
	nb := create(t, s, 1)
	if got := claim(t, s); got != jobOf(nb, 0) {
		t.Fatalf("claimed %v after the restart, want %v", got, jobOf(nb, 0))
	}
}

// TestRestartKeepsData: with AOF on, what the store wrote survives Redis
// stopping (SIGTERM, which flushes the AOF) and starting again on the same
// directory: batches, logs, the unfinished set and the in-flight job, which
// the node takes back when it reopens. The open Store reconnects by itself.
func TestRestartKeepsData(t *testing.T) {
	srv := redistest.Start(t, redistest.WithAOF())
	o := redis.Options{Prefix: "aof", NodeID: "a"}
	s := mustOpen(t, srv, o)
	b := create(t, s, 2)
	if _, _, err := s.Append(t.Context(), b.ID, processing(b, 0), completed(b, 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(t.Context(), claim(t, s)); err != nil {
		t.Fatal(err)
	}
	inflight := claim(t, s)
	wantBatch, err := s.Batch(t.Context(), b.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantEvents, err := s.Events(t.Context(), b.ID, 0)
	if err != nil {
		t.Fatal(err)
	}

	srv.Stop(t)
	srv.Restart(t)
	ctx := t.Context()
	eventually(t, "Ping once Redis is back", func() (bool, error) { return s.Ping(ctx) == nil, nil })
	if got, err := s.Batch(ctx, b.ID); err != nil || !reflect.DeepEqual(got, wantBatch) {
		t.Errorf("batch after restart = %+v, %v\nwant %+v", got, err, wantBatch)
	}
	if got, err := s.Events(ctx, b.ID, 0); err != nil || !reflect.DeepEqual(got, wantEvents) {
		t.Errorf("events after restart = %+v, %v\nwant %+v", got, err, wantEvents)
	}
	if ids, err := s.Unfinished(ctx); err != nil || !slices.Equal(ids, []string{b.ID}) {
		t.Errorf("Unfinished after restart = %v, %v; want [%s]", ids, err, b.ID)
	}
	depth(t, s, 0, 1)

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, srv, o)
	if got := claim(t, s); got != inflight {
		t.Fatalf("reopened node claimed %v, want its in-flight job %v", got, inflight)
	}
}
