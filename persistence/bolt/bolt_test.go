package bolt_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/bolt"
	"github.com/backlot/backlot/persistence/storetest"
	"github.com/google/uuid"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		path := filepath.Join(t.TempDir(), "backlot.db")
		return func(t *testing.T) persistence.Store {
			t.Helper()
			s, err := bolt.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}

// TestOpenLocked: a file held by another Store is refused after the lock
// timeout rather than waited on for ever.
func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backlot.db")
	s := mustOpen(t, path)

	got := make(chan error, 1)
	go func() {
		s2, err := bolt.Open(path)
		if err == nil {
			s2.Close()
		}
		got <- err
	}()
	select {
	case err := <-got:
		if err == nil {
			t.Fatal("second Open of a held file succeeded")
		}
		t.Logf("second Open: %v", err)
	case <-time.After(30 * time.Second): // deadlock guard, not a speed assertion
		t.Fatal("second Open of a held file is still waiting")
	}

	// Once the holder closes, the file opens again.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mustOpen(t, path)
}

func mustOpen(tb testing.TB, path string) *bolt.Store {
	tb.Helper()
	s, err := bolt.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// benchBatch creates a batch of n images in s.
func benchBatch(b *testing.B, s *bolt.Store, n int) *persistence.Batch {
	b.Helper()
	images := make([]persistence.Image, n)
	for i := range images {
		images[i] = persistence.Image{ID: uuid.NewString(), Name: "x.jpg", Format: "jpeg"}
	}
	batch, ev, err := persistence.NewBatch(uuid.NewString(), time.Now(), persistence.DefaultOptions(), images)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Create(context.Background(), batch, ev); err != nil {
		b.Fatal(err)
	}
	return batch.Clone()
}

// BenchmarkAppend: one processing event per op, each a durable commit, on a
// batch of 100 images whose log grows as it runs.
func BenchmarkAppend(b *testing.B) {
	s := mustOpen(b, filepath.Join(b.TempDir(), "backlot.db"))
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

// BenchmarkClaimAck: one Claim and one Ack per op (two durable commits), with
// jobs created outside the timer.
func BenchmarkClaimAck(b *testing.B) {
	s := mustOpen(b, filepath.Join(b.TempDir(), "backlot.db"))
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
