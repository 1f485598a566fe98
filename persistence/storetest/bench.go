package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/backlot/backlot/persistence"
)

// The benchmarks every backend runs, so their figures compare:
//
//	func BenchmarkAppend(b *testing.B)   { storetest.BenchAppend(b, openStore(b)) }
//	func BenchmarkClaimAck(b *testing.B) { storetest.BenchClaimAck(b, openStore(b)) }

// BenchAppend: one processing event per op, each a durable write, on a
// batch of 100 images whose log grows as it runs.
func BenchAppend(b *testing.B, s persistence.Store) {
	batch := benchBatch(b, s, 100)
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

// BenchClaimAck: one Claim and one Ack per op, with the jobs created
// outside the timer.
func BenchClaimAck(b *testing.B, s persistence.Store) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		benchBatch(b, s, 1)
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

func benchBatch(b *testing.B, s persistence.Store, n int) *persistence.Batch {
	b.Helper()
	images := make([]persistence.Image, n)
	for i := range images {
		images[i] = persistence.Image{ID: uuid.NewString(), Name: fmt.Sprintf("img%d.jpg", i), Format: "jpeg"}
	}
	batch, ev, err := persistence.NewBatch(uuid.NewString(), time.Now(), persistence.DefaultOptions(), images)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Create(context.Background(), batch, ev); err != nil {
		b.Fatal(err)
	}
	return batch
}
