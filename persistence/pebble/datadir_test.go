package pebble_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/bolt"
	"github.com/backlot/backlot/persistence/pebble"
	cpebble "github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/google/uuid"
)

// oldDataDir makes a data directory of an earlier version: a bbolt store
// written through its API, holding a finished batch, a batch half done
// with a job claimed and never acked (in flight when the node died), a
// requeued job and a fresh batch. It returns the dir and what a Claim
// after reopening the bbolt file hands out, in order.
func oldDataDir(t *testing.T) (string, []persistence.Job) {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	s, err := bolt.Open(filepath.Join(dir, "backlot.db"))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	done, half, requeued, fresh := newBatch(t, s, at, 2), newBatch(t, s, at, 2), newBatch(t, s, at, 1), newBatch(t, s, at, 3)
	for range 2 + 2 + 1 { // done's two, half's two, requeued's one
		if _, err := s.Claim(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for i, im := range done.Images {
		appendOK(t, s, done.ID, persistence.Event{Type: persistence.EventProcessing, BatchID: done.ID, ImageID: im.ID, Attempt: 1, At: at},
			persistence.Event{Type: persistence.EventCompleted, BatchID: done.ID, ImageID: im.ID, Attempt: 1, At: at.Add(time.Duration(i+1) * time.Second), Width: 10, Height: 10, Bytes: 99, Sum: 7})
		if err := s.Ack(ctx, persistence.Job{BatchID: done.ID, ImageID: im.ID}); err != nil {
			t.Fatal(err)
		}
	}
	im := half.Images[0]
	appendOK(t, s, half.ID, persistence.Event{Type: persistence.EventProcessing, BatchID: half.ID, ImageID: im.ID, Attempt: 1, At: at},
		persistence.Event{Type: persistence.EventFailed, BatchID: half.ID, ImageID: im.ID, Attempt: 1, Error: "bad", At: at})
	if err := s.Ack(ctx, persistence.Job{BatchID: half.ID, ImageID: im.ID}); err != nil {
		t.Fatal(err)
	}
	if err := s.Requeue(ctx, persistence.Job{BatchID: requeued.ID, ImageID: requeued.Images[0].ID}); err != nil {
		t.Fatal(err)
	}
	_ = fresh
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// What the old store itself would hand out after a restart, from a copy.
	cp := filepath.Join(t.TempDir(), "backlot.db")
	copyFile(t, filepath.Join(dir, "backlot.db"), cp)
	c, err := bolt.Open(cp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return dir, claimAll(t, c)
}

func newBatch(t *testing.T, s persistence.Store, at time.Time, n int) *persistence.Batch {
	t.Helper()
	ims := make([]persistence.Image, n)
	for i := range ims {
		ims[i] = persistence.Image{ID: uuid.NewString(), Name: "p.jpg", Format: "jpeg"}
	}
	b, q, err := persistence.NewBatch(uuid.NewString(), at, persistence.Options{Width: 10, Height: 10}, ims)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Create(t.Context(), b, q); err != nil {
		t.Fatal(err)
	}
	return b
}

func appendOK(t *testing.T, s persistence.Store, id string, evs ...persistence.Event) {
	t.Helper()
	if _, _, err := s.Append(t.Context(), id, evs...); err != nil {
		t.Fatal(err)
	}
}

func claimAll(t *testing.T, s persistence.Store) []persistence.Job {
	t.Helper()
	pending, inflight, err := s.QueueDepth(t.Context())
	if err != nil || inflight != 0 {
		t.Fatalf("QueueDepth: %d pending, %d in flight, %v", pending, inflight, err)
	}
	var out []persistence.Job
	for range pending {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second) // a deadlock guard
		j, err := s.Claim(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, j)
	}
	return out
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	r, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, r); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// contents is everything a store tells through its API about the batches
// it holds: each batch, its log, the unfinished and the expired ones.
type contents struct {
	Batches    map[string]*persistence.Batch
	Events     map[string][]persistence.Event
	Unfinished []string
	Expired    []string
}

func read(t *testing.T, s persistence.Store, ids []string) contents {
	t.Helper()
	ctx := t.Context()
	c := contents{Batches: map[string]*persistence.Batch{}, Events: map[string][]persistence.Event{}}
	for _, id := range ids {
		b, err := s.Batch(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := s.Events(ctx, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		c.Batches[id], c.Events[id] = b, evs
	}
	var err error
	if c.Unfinished, err = s.Unfinished(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Expired, err = s.Expired(ctx, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), 100); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestOpenDataDirMoves: a data dir of an earlier version is moved to
// Pebble at the first open, whole: every batch, log, index and pending job
// (the one in flight at the crash included, in the order the old store
// would have handed them out), and the old file is set aside.
func TestOpenDataDirMoves(t *testing.T) {
	dir, wantJobs := oldDataDir(t)
	old, err := bolt.Open(filepath.Join(dir, "backlot.db"))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := batchIDs(t, old)
	if err != nil {
		t.Fatal(err)
	}
	want := read(t, old, ids)
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	if len(want.Unfinished) != 3 || len(want.Expired) != 1 || len(wantJobs) != 1+1+3 {
		t.Fatalf("the old store is not what the test meant to make: %d unfinished, %d expired, %d jobs", len(want.Unfinished), len(want.Expired), len(wantJobs))
	}

	var moved []pebble.MoveStats
	s, err := pebble.OpenDataDir(dir, pebble.Options{}, func(st pebble.MoveStats) { moved = append(moved, st) })
	if err != nil {
		t.Fatal(err)
	}
	if len(moved) != 1 || moved[0].Batches != 4 || moved[0].Jobs != 5 || moved[0].Events != 6+3+1+1 {
		// events: queued, 2 × (processing, completed), done; queued, processing, failed; two queued
		t.Errorf("moved %+v, want one move of 4 batches, 11 events, 5 jobs", moved)
	}
	if got := read(t, s, ids); !reflect.DeepEqual(got, want) {
		t.Errorf("after the move:\n%+v\nwant\n%+v", got, want)
	}
	if got := claimAll(t, s); !reflect.DeepEqual(got, wantJobs) {
		t.Errorf("claimed %v, want %v", got, wantJobs)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"backlot.db": false, "backlot.db.moved": true, "store": true, "store.new": false} {
		if _, err := os.Stat(filepath.Join(dir, name)); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", name, err == nil, want)
		}
	}

	// Opened again, nothing moves, and the acks of the claims above
	// stand (they were never acked: all five are pending again).
	s = openDataDir(t, dir, func(pebble.MoveStats) { t.Error("moved a second time") })
	if got := read(t, s, ids); !reflect.DeepEqual(got, want) {
		t.Errorf("reopened:\n%+v\nwant\n%+v", got, want)
	}
	if got := claimAll(t, s); !reflect.DeepEqual(got, wantJobs) {
		t.Errorf("reopened, claimed %v, want %v", got, wantJobs)
	}
}

// TestOpenDataDirMoveCutShort: a crash during the move leaves a
// half-filled store.new, made again from the old file; a crash after its
// rename leaves store beside backlot.db, which is only set aside.
func TestOpenDataDirMoveCutShort(t *testing.T) {
	dir, wantJobs := oldDataDir(t)
	if err := os.MkdirAll(filepath.Join(dir, "store.new"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "store.new", "MANIFEST-000001"), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	moves := 0
	s := openDataDir(t, dir, func(pebble.MoveStats) { moves++ })
	if got := claimAll(t, s); moves != 1 || !reflect.DeepEqual(got, wantJobs) {
		t.Errorf("%d moves, claimed %v, want 1 move and %v", moves, got, wantJobs)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// The rename of the old file did not happen: it is done now, and
	// nothing is moved again over the store.
	if err := os.Rename(filepath.Join(dir, "backlot.db.moved"), filepath.Join(dir, "backlot.db")); err != nil {
		t.Fatal(err)
	}
	s = openDataDir(t, dir, func(pebble.MoveStats) { moves++ })
	if got := claimAll(t, s); moves != 1 || !reflect.DeepEqual(got, wantJobs) {
		t.Errorf("%d moves, claimed %v, want still 1 move and %v", moves, got, wantJobs)
	}
	if _, err := os.Stat(filepath.Join(dir, "backlot.db")); err == nil {
		t.Error("backlot.db is still there")
	}
}

// TestOpenDataDirFresh: a new data dir gets an empty Pebble store.
func TestOpenDataDirFresh(t *testing.T) {
	dir := t.TempDir()
	s := openDataDir(t, dir, func(pebble.MoveStats) { t.Error("moved from nothing") })
	if ids, err := s.Unfinished(t.Context()); err != nil || len(ids) != 0 {
		t.Fatalf("Unfinished: %v %v", ids, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "store")); err != nil || !fi.IsDir() {
		t.Fatalf("store: %v", err)
	}
}

func openDataDir(t *testing.T, dir string, moved func(pebble.MoveStats)) *pebble.Store {
	t.Helper()
	s, err := pebble.OpenDataDir(dir, pebble.Options{}, moved)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// batchIDs lists every batch of a bbolt store through Export.
func batchIDs(t *testing.T, s *bolt.Store) ([]string, error) {
	t.Helper()
	ids, _ := s.Unfinished(t.Context())
	exp, err := s.Expired(t.Context(), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), 100)
	return append(ids, exp...), err
}

// TestOpenDataDirHeld: while another holder has the data dir (a second
// process moving it), OpenDataDir refuses at once and moves nothing.
func TestOpenDataDirHeld(t *testing.T) {
	dir, _ := oldDataDir(t)
	lock, err := cpebble.LockDirectory(dir, vfs.Default)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := pebble.OpenDataDir(dir, pebble.Options{}, nil); err == nil {
		s.Close()
		t.Fatal("opened a data dir another holder has locked")
	} else {
		t.Logf("refused: %v", err)
	}
	for name, want := range map[string]bool{"backlot.db": true, "store": false, "store.new": false} {
		if _, err := os.Stat(filepath.Join(dir, name)); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", name, err == nil, want)
		}
	}
	if err := lock.Close(); err != nil {
		t.Fatal(err)
	}
	openDataDir(t, dir, nil)
}

// TestOpenDataDirForeignOldFile: a backlot.db beside store that is not
// the file store was made from (an earlier version started on the data
// dir after the move and took batches) is refused, not set aside over the
// backup; so is the right file when a backup is already there.
func TestOpenDataDirForeignOldFile(t *testing.T) {
	dir, _ := oldDataDir(t)
	s := openDataDir(t, dir, nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	backup, err := os.ReadFile(filepath.Join(dir, "backlot.db.moved"))
	if err != nil {
		t.Fatal(err)
	}
	// An earlier version's fresh file, with a batch of its own.
	b, err := bolt.Open(filepath.Join(dir, "backlot.db"))
	if err != nil {
		t.Fatal(err)
	}
	newBatch(t, b, time.Now(), 1)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err := pebble.OpenDataDir(dir, pebble.Options{}, nil); err == nil {
		s.Close()
		t.Fatal("started with a backlot.db that was never moved")
	} else if !strings.Contains(err.Error(), "not the file") {
		t.Errorf("refused with %v, want it to say the file was not moved", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "backlot.db.moved")); !bytes.Equal(got, backup) {
		t.Error("the backup was replaced")
	}

	// The moved file itself back in place, with the backup still there.
	if err := os.Remove(filepath.Join(dir, "backlot.db")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "backlot.db.moved"), filepath.Join(dir, "backlot.db")); err != nil {
		t.Fatal(err)
	}
	if s, err := pebble.OpenDataDir(dir, pebble.Options{}, nil); err == nil {
		s.Close()
		t.Fatal("set the moved file aside over its backup")
	} else if !strings.Contains(err.Error(), "already") {
		t.Errorf("refused with %v, want it to name the backup", err)
	}
}
