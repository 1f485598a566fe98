package bolt

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	bbolt "go.etcd.io/bbolt"

	"github.com/backlot/backlot/persistence"
)

// TestMemoNeverStale: the decoded batches an append reuses are those of
// the bytes stored now. A batch rewritten behind the memo's back is read
// as rewritten, a refused append leaves the batch as it was, and a done
// batch leaves the memo.
func TestMemoNeverStale(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	ims := []persistence.Image{{ID: uuid.NewString(), Name: "a.png"}, {ID: uuid.NewString(), Name: "b.png"}, {ID: uuid.NewString(), Name: "c.png"}}
	b, q, err := persistence.NewBatch(uuid.NewString(), time.Now(), persistence.DefaultOptions(), ims)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, b, q); err != nil {
		t.Fatal(err)
	}
	ev := func(typ persistence.EventType, im string) persistence.Event {
		return persistence.Event{Type: typ, BatchID: b.ID, ImageID: im}
	}
	if _, _, err := s.Append(ctx, b.ID, ev(persistence.EventProcessing, ims[0].ID), ev(persistence.EventProcessing, ims[1].ID)); err != nil {
		t.Fatal(err)
	}

	// Behind the memo's back: image 0 fails, as another writer could have
	// recorded it.
	err = s.db.Update(func(tx *bbolt.Tx) error {
		var sb persistence.Batch
		if err := json.Unmarshal(tx.Bucket(bucketBatches).Get([]byte(b.ID)), &sb); err != nil {
			return err
		}
		f := ev(persistence.EventFailed, ims[0].ID)
		f.Error = "rewritten"
		if err := sb.Apply(&f); err != nil {
			return err
		}
		v, err := json.Marshal(&sb)
		if err != nil {
			return err
		}
		return tx.Bucket(bucketBatches).Put([]byte(b.ID), v)
	})
	if err != nil {
		t.Fatal(err)
	}
	_, nb, err := s.Append(ctx, b.ID, ev(persistence.EventCompleted, ims[1].ID))
	if err != nil {
		t.Fatal(err)
	}
	if nb.Failed != 1 || nb.Completed != 1 || nb.Images[0].Error != "rewritten" {
		t.Fatalf("after a rewrite and an append: failed %d completed %d, image 0 error %q; want 1, 1, %q",
			nb.Failed, nb.Completed, nb.Images[0].Error, "rewritten")
	}

	// A refused append (image 0 is finished) changes nothing.
	if _, _, err := s.Append(ctx, b.ID, ev(persistence.EventCompleted, ims[0].ID)); !errors.Is(err, persistence.ErrConflict) {
		t.Fatalf("completing a failed image: %v, want ErrConflict", err)
	}
	got, err := s.Batch(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.LastSeq != nb.LastSeq || got.Completed != 1 || got.Failed != 1 {
		t.Fatalf("after a refused append: LastSeq %d completed %d failed %d; want %d, 1, 1", got.LastSeq, got.Completed, got.Failed, nb.LastSeq)
	}

	// What callers get is theirs: changing it changes nothing stored.
	got.Images[2].State = persistence.ImageCompleted
	got.Completed = 99
	if _, nb, err = s.Append(ctx, b.ID, ev(persistence.EventProcessing, ims[2].ID), ev(persistence.EventCompleted, ims[2].ID)); err != nil {
		t.Fatal(err)
	}
	if !nb.Done || nb.Completed != 2 {
		t.Fatalf("last image: done %v completed %d, want done with 2", nb.Done, nb.Completed)
	}
	if n := s.memo.Len(); n != 0 {
		t.Fatalf("%d batches memoised after the only one finished, want 0", n)
	}
}
