package redis_test

import (
	"context"
	"testing"

	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/redis"
	"github.com/backlot/backlot/persistence/redis/redistest"
)

// The benchmarks mirror bolt's, on a local redis-server with AOF on
// (appendfsync everysec, as docker-compose.yml runs it), so the two
// backends' figures compare.

// BenchmarkAppend: one processing event per op (WATCH, GET+LLEN, MULTI/EXEC:
// three round trips) on a batch of 100 images whose log grows as it runs.
func BenchmarkAppend(b *testing.B) {
	srv := redistest.Start(b, redistest.WithAOF())
	s := mustOpen(b, srv, redis.Options{Prefix: "bench", NodeID: "a"})
	batch := create(b, s, 100)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		im := batch.Images[i%len(batch.Images)]
		i++
		ev := persistence.Event{Type: persistence.EventProcessing, BatchID: batch.ID, ImageID: im.ID}
		if _, _, err := s.Append(ctx, batch.ID, ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClaimAck: one Claim and one Ack per op (BLMOVE, LREM), with jobs
// created outside the timer.
func BenchmarkClaimAck(b *testing.B) {
	srv := redistest.Start(b, redistest.WithAOF())
	s := mustOpen(b, srv, redis.Options{Prefix: "bench", NodeID: "a"})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		create(b, s, 1)
		b.StartTimer()
		j, err := s.Claim(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Ack(ctx, j); err != nil {
			b.Fatal(err)
		}
	}
}
