package bolt_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/bolt"
	"github.com/backlot/backlot/persistence/storetest"
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

// BenchmarkAppend and BenchmarkClaimAck: the shared store benchmarks, each
// write a durable commit.
func BenchmarkAppend(b *testing.B) {
	storetest.BenchAppend(b, mustOpen(b, filepath.Join(b.TempDir(), "backlot.db")))
}

func BenchmarkClaimAck(b *testing.B) {
	storetest.BenchClaimAck(b, mustOpen(b, filepath.Join(b.TempDir(), "backlot.db")))
}
