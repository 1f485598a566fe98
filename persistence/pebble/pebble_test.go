package pebble_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/pebble"
	"github.com/backlot/backlot/persistence/storetest"
	"github.com/google/uuid"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		dir := filepath.Join(t.TempDir(), "store")
		return func(t *testing.T) persistence.Store {
			t.Helper()
			s, err := pebble.Open(dir, pebble.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}

// TestOpenLocked: a directory held by another Store is refused at once,
// and opens again once the holder has closed it.
func TestOpenLocked(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s := mustOpen(t, dir)
	if s2, err := pebble.Open(dir, pebble.Options{}); err == nil {
		s2.Close()
		t.Fatal("second Open of a held directory succeeded")
	} else {
		t.Logf("second Open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mustOpen(t, dir)
}

func mustOpen(tb testing.TB, dir string) *pebble.Store {
	tb.Helper()
	s, err := pebble.Open(dir, pebble.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkAppend and BenchmarkClaimAck: the shared store benchmarks, each
// write a synced commit.
func BenchmarkAppend(b *testing.B) {
	storetest.BenchAppend(b, mustOpen(b, filepath.Join(b.TempDir(), "store")))
}

func BenchmarkClaimAck(b *testing.B) {
	storetest.BenchClaimAck(b, mustOpen(b, filepath.Join(b.TempDir(), "store")))
}

// TestIDs: the keys hold ids of one length, so the store takes only the
// ids persistence.ValidID allows: another is refused at Create and is
// unknown everywhere else (an id that is a prefix of another's could
// otherwise read or delete that one's log).
func TestIDs(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "store"))
	ctx := t.Context()
	b, q, err := persistence.NewBatch("batch", time.Now(), persistence.Options{Width: 1, Height: 1}, []persistence.Image{{ID: uuid.NewString()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, b, q); err == nil {
		t.Fatal("created a batch with id \"batch\"")
	}
	if ids, err := s.Unfinished(ctx); err != nil || len(ids) != 0 {
		t.Fatalf("after the refusal: unfinished %v, %v", ids, err)
	}
	for name, call := range map[string]func() error{
		"Batch":  func() error { _, err := s.Batch(ctx, "batch"); return err },
		"Events": func() error { _, err := s.Events(ctx, "batch", 0); return err },
		"Append": func() error {
			_, _, err := s.Append(ctx, "batch", persistence.Event{Type: persistence.EventDone})
			return err
		},
		"Fence":  func() error { _, err := s.Fence(ctx, "batch"); return err },
		"Delete": func() error { return s.Delete(ctx, "batch") },
	} {
		if err := call(); !errors.Is(err, persistence.ErrNotFound) {
			t.Errorf("%s(\"batch\") = %v, want ErrNotFound", name, err)
		}
	}
}
