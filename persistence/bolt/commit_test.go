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

// lingerStore opens a store whose lingers last an hour and report their
// start on the returned channel, so a test decides when each one ends:
// by an urgent write, a full group or Close, never by the clock.
func lingerStore(t *testing.T) (*Store, chan int) {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "backlot.db"))
	if err != nil {
		t.Fatal(err)
	}
	lingered := make(chan int, 1)
	s.linger, s.lingered = time.Hour, lingered
	if err := s.updateNow(func(tx *bbolt.Tx) error { _, err := tx.CreateBucketIfNotExists(bucketTest); return err }); err != nil {
		t.Fatal(err)
	}
	return s, lingered
}

// outcome waits for a write's error, failing the test after a bound far
// beyond any commit (the lingers here last an hour: a write still waiting
// then is one the linger should have let go).
func outcome(t *testing.T, errc <-chan error, what string) {
	t.Helper()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s still waits for its commit", what)
	}
}

func async(f func() error) <-chan error {
	errc := make(chan error, 1)
	go func() { errc <- f() }()
	return errc
}

// TestLingerJoins: writes that arrive while a group lingers join it, up to
// maxGroup, and the full group commits at once in one transaction.
func TestLingerJoins(t *testing.T) {
	s, lingered := lingerStore(t)
	defer s.Close()
	before := s.commits.Load()
	first := async(func() error { return s.update(put("first", false)) })
	if n := <-lingered; n != 1 {
		t.Fatalf("lingering with %d writes, want 1", n)
	}
	var rest []<-chan error
	for i := range maxGroup - 1 {
		rest = append(rest, async(func() error { return s.update(put(fmt.Sprint(i), false)) }))
	}
	outcome(t, first, "first write")
	for i, errc := range rest {
		outcome(t, errc, fmt.Sprintf("write %d", i))
	}
	if c := s.commits.Load() - before; c != 1 {
		t.Errorf("%d commits for a full group, want 1", c)
	}
	if got := keys(t, s); len(got) != maxGroup {
		t.Errorf("%d keys written, want %d", len(got), maxGroup)
	}
}

// TestLingerUrgent: an urgent write (an upload's Create) never lingers, and
// one that arrives during a linger ends it: both commit together at once.
func TestLingerUrgent(t *testing.T) {
	s, lingered := lingerStore(t)
	defer s.Close()
	before := s.commits.Load()
	outcome(t, async(func() error { return s.updateNow(put("alone", false)) }), "urgent write on an idle store")
	select {
	case n := <-lingered:
		t.Fatalf("an urgent write lingered (group of %d)", n)
	default:
	}

	lazy := async(func() error { return s.update(put("lazy", false)) })
	<-lingered
	outcome(t, async(func() error { return s.updateNow(put("urgent", false)) }), "urgent write ending a linger")
	outcome(t, lazy, "lingering write")
	if c := s.commits.Load() - before; c != 2 {
		t.Errorf("%d commits, want 2 (the lone urgent write; the lingering one with the urgent one)", c)
	}
	if got := keys(t, s); !got["alone"] || !got["lazy"] || !got["urgent"] {
		t.Errorf("keys %v", got)
	}
}

// TestLingerClose: Close during a linger commits the lingering group.
func TestLingerClose(t *testing.T) {
	s, lingered := lingerStore(t)
	path := s.db.Path()
	lazy := async(func() error { return s.update(put("lazy", false)) })
	<-lingered
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	outcome(t, lazy, "write lingering at Close")
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := keys(t, r); !got["lazy"] {
		t.Errorf("after Close and Open: keys %v, want lazy", got)
	}
}
