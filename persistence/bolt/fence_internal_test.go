package bolt

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/backlot/backlot/persistence"
)

// TestFencesOnlyForUnfinished: the tokens kept in memory are those of
// batches in progress: a batch's goes when its done is written, and a
// done batch fenced again (a late subscriber's supervisor) keeps none,
// while its token is still greater than every one given before. So a
// node that never deletes batches does not grow the map.
func TestFencesOnlyForUnfinished(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	var last uint64
	for range 50 {
		im := persistence.Image{ID: uuid.NewString(), Name: "a.png"}
		b, q, err := persistence.NewBatch(uuid.NewString(), time.Now(), persistence.DefaultOptions(), []persistence.Image{im})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Create(ctx, b, q); err != nil {
			t.Fatal(err)
		}
		tok, err := s.Fence(ctx, b.ID)
		if err != nil || tok <= last {
			t.Fatalf("Fence = %d, %v; want a token above %d", tok, err, last)
		}
		last = tok
		evs := []persistence.Event{
			{Type: persistence.EventProcessing, BatchID: b.ID, ImageID: im.ID},
			{Type: persistence.EventCompleted, BatchID: b.ID, ImageID: im.ID},
		}
		if _, nb, err := s.AppendFenced(ctx, b.ID, tok, evs...); err != nil || !nb.Done {
			t.Fatalf("AppendFenced: %v (done %v)", err, nb != nil && nb.Done)
		}
		again, err := s.Fence(ctx, b.ID)
		if err != nil || again <= last {
			t.Fatalf("Fence of a done batch = %d, %v; want a token above %d", again, err, last)
		}
		last = again
	}
	if n := s.fences.Len(); n != 0 {
		t.Fatalf("%d tokens kept after every batch finished, want 0", n)
	}
}
