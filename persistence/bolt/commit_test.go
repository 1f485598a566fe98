package bolt

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
)

var bucketTest = []byte("test")

// holdCommitter starts a write that blocks inside its transaction until the
// returned release is called, so that writes sent meanwhile queue up.
func holdCommitter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	inside, gate := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- s.update(func(tx *bbolt.Tx) error {
			close(inside)
			<-gate
			_, err := tx.CreateBucketIfNotExists(bucketTest)
			return err
		})
	}()
	<-inside
	return func() {
		close(gate)
		if err := <-errc; err != nil {
			t.Errorf("held write: %v", err)
		}
	}
}

// waitQueued polls (bounded) until n writes wait for the committer.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for len(s.writes) < n { // a channel's length has no event to wait on
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued, want %d", len(s.writes), n)
		}
		<-tick.C
	}
}

func put(k string, fail bool) func(*bbolt.Tx) error {
	return func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketTest).Put([]byte(k), []byte("v")); err != nil {
			return err
		}
		if fail {
			return fmt.Errorf("refused %s", k)
		}
		return nil
	}
}

func keys(t *testing.T, s *Store) map[string]bool {
	t.Helper()
	got := map[string]bool{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketTest).ForEach(func(k, _ []byte) error {
			got[string(k)] = true
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestGroupCommit: writes that queue behind a commit share the next one,
// and a write that fails in a group fails alone, leaving nothing behind,
// while the others of its group are committed.
func TestGroupCommit(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "backlot.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	for _, failing := range []int{-1, 3} {
		t.Run(fmt.Sprintf("failing=%d", failing), func(t *testing.T) {
			release := holdCommitter(t, s)
			before := s.commits.Load()
			const n = 8
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = s.update(put(fmt.Sprintf("%d-%d", failing, i), i == failing))
				}()
			}
			waitQueued(t, s, n)
			release()
			wg.Wait()

			got := keys(t, s)
			for i, err := range errs {
				k := fmt.Sprintf("%d-%d", failing, i)
				if i == failing {
					if err == nil || got[k] {
						t.Errorf("failing write %d: err %v, key written %v; want an error and no key", i, err, got[k])
					}
					continue
				}
				if err != nil || !got[k] {
					t.Errorf("write %d: err %v, key written %v; want committed", i, err, got[k])
				}
			}
			commits := s.commits.Load() - before
			want := int64(2) // the held write, then all n together
			if failing >= 0 {
				want = 1 + n - 1 // the held one; the group rolled back (no commit); each alone but the failing one
			}
			if commits != want {
				t.Errorf("%d commits for the held write and %d queued ones, want %d", commits, n, want)
			}
		})
	}
}

// TestUpdateAfterClose: writes racing Close get an error, never hang.
func TestUpdateAfterClose(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "backlot.db"))
	if err != nil {
		t.Fatal(err)
	}
	release := holdCommitter(t, s)
	errs := make(chan error, 4)
	for range 4 {
		go func() { errs <- s.update(put("x", false)) }()
	}
	waitQueued(t, s, 4)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	for range 4 {
		// Each either made it into the last commit or was refused.
		if err := <-errs; err != nil && !errors.Is(err, bbolt.ErrDatabaseNotOpen) {
			t.Errorf("write racing Close: %v", err)
		}
	}
	if err := s.update(put("y", false)); !errors.Is(err, bbolt.ErrDatabaseNotOpen) {
		t.Errorf("write after Close: %v, want ErrDatabaseNotOpen", err)
	}
}
