package pebble_test

import (
	"path/filepath"
	"testing"

	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/pebble"
	"github.com/backlot/backlot/persistence/storetest"
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
