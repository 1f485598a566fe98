package persistence_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/blob"
	"github.com/backlot/backlot/persistence/blob/fsblob"
	"github.com/backlot/backlot/persistence/bolt"
)

// TestRetire: the batches done before the cut go, record and objects;
// one done after it and one still running stay, with theirs.
func TestRetire(t *testing.T) {
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	blobs, err := fsblob.New(dir, fsblob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	mk := func(doneAt time.Time) *persistence.Batch {
		t.Helper()
		im := persistence.Image{ID: uuid.NewString(), Name: "a.png"}
		b, q, err := persistence.NewBatch(uuid.NewString(), base, persistence.DefaultOptions(), []persistence.Image{im})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Create(ctx, b, q); err != nil {
			t.Fatal(err)
		}
		if _, err := blob.Put(ctx, blobs, blob.SourceKey(b.ID, im.ID), strings.NewReader("bytes"), blob.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if !doneAt.IsZero() {
			evs := []persistence.Event{
				{Type: persistence.EventProcessing, BatchID: b.ID, ImageID: im.ID, At: doneAt},
				{Type: persistence.EventFailed, BatchID: b.ID, ImageID: im.ID, Error: "x", At: doneAt},
			}
			if _, _, err := st.Append(ctx, b.ID, evs...); err != nil {
				t.Fatal(err)
			}
		}
		return b
	}
	old1, old2 := mk(base.Add(time.Hour)), mk(base.Add(2*time.Hour))
	recent, running := mk(base.Add(5*time.Hour)), mk(time.Time{})
	n, err := persistence.Retire(ctx, st, blobs, base.Add(3*time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("Retire = %d, %v; want 2", n, err)
	}
	objects := func(b *persistence.Batch) int {
		t.Helper()
		count := 0
		if err := blobs.List(ctx, blob.BatchPrefix(b.ID), func(blob.Info) error { count++; return nil }); err != nil {
			t.Fatal(err)
		}
		return count
	}
	for _, b := range []*persistence.Batch{old1, old2} {
		if _, err := st.Batch(ctx, b.ID); !errors.Is(err, persistence.ErrNotFound) || objects(b) != 0 {
			t.Errorf("retired batch %s: %v, %d objects left", b.ID, err, objects(b))
		}
	}
	for _, b := range []*persistence.Batch{recent, running} {
		if _, err := st.Batch(ctx, b.ID); err != nil || objects(b) != 1 {
			t.Errorf("kept batch %s: %v, %d objects", b.ID, err, objects(b))
		}
	}
}
