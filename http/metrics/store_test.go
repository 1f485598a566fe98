package metrics_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/backlot/backlot/http/metrics"
	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/bolt"
	"github.com/backlot/backlot/persistence/redis"
	"github.com/backlot/backlot/persistence/redis/redistest"
)

// TestStoreHidesNothing: the timing wrapper passes every capability of the
// contract through to the store it wraps (the queue's depth, fencing,
// retention, ping) for both backends: none reads as a default through it
// (a QueueDepth of 0 would silently turn backpressure off).
func TestStoreHidesNothing(t *testing.T) {
	b, err := bolt.Open(filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	srv := redistest.Start(t)
	r, err := redis.Open(t.Context(), redis.Options{URL: srv.URL, NodeID: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for name, st := range map[string]persistence.Store{"bolt": b, "redis": r} {
		t.Run(name, func(t *testing.T) {
			w, ctx := metrics.New().Store(st), t.Context()
			images := []persistence.Image{{ID: uuid.NewString(), Name: "a.png"}, {ID: uuid.NewString(), Name: "b.png"}}
			batch, queued, err := persistence.NewBatch(uuid.NewString(), time.Now(), persistence.DefaultOptions(), images)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Create(ctx, batch, queued); err != nil {
				t.Fatal(err)
			}
			if p, f, err := w.QueueDepth(ctx); err != nil || p != 2 || f != 0 {
				t.Errorf("QueueDepth through the wrapper = %d, %d, %v; want 2 pending", p, f, err)
			}
			if err := w.Ping(ctx); err != nil {
				t.Errorf("Ping: %v", err)
			}
			old, err := w.Fence(ctx, batch.ID)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Fence(ctx, batch.ID); err != nil { // a newer writer, behind the wrapper's back
				t.Fatal(err)
			}
			ev := persistence.Event{Type: persistence.EventProcessing, BatchID: batch.ID, ImageID: images[0].ID}
			if _, _, err := w.AppendFenced(ctx, batch.ID, old, ev); !errors.Is(err, persistence.ErrFenced) {
				t.Errorf("AppendFenced with a stale token through the wrapper = %v, want ErrFenced", err)
			}
			if err := w.Delete(ctx, batch.ID); !errors.Is(err, persistence.ErrConflict) {
				t.Errorf("Delete of an unfinished batch through the wrapper = %v, want ErrConflict", err)
			}
			if ids, err := w.Expired(ctx, time.Now().Add(time.Hour), 10); err != nil || len(ids) != 0 {
				t.Errorf("Expired = %v, %v; want none", ids, err)
			}
		})
	}
}
