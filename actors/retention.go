package actors

import (
	"context"
	"fmt"
	"time"

	"github.com/backlot/backlot/persistence/blob"
)

// retentionBatch is how many expired batches one sweep deletes at most, so
// a long backlog is worked off in bounded steps.
const retentionBatch = 100

// janitor deletes finished batches older than the retention period: first
// from the store (so no client is told of files that are gone), then their
// objects in the blob store (DeletePrefix of the batch). Objects of a batch
// deleted from the store but not from the blob store (a crash in between)
// are removed by the start-up sweep of unrecorded batches.
// It runs every period/10 (at least every second, at most hourly).
func (s *System) janitor(ctx context.Context, period time.Duration) {
	defer close(s.janitorDone)
	every := min(max(period/10, time.Second), time.Hour)
	if s.cfg.RetentionEvery > 0 {
		every = s.cfg.RetentionEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := s.Sweep(ctx, time.Now().Add(-period))
		if err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("retention sweep", "err", err, "deleted", n)
		} else if n > 0 {
			s.cfg.Logger.Info("retention: deleted finished batches", "count", n, "older_than", period)
		}
	}
}

// Sweep deletes every batch done before cut, with its sources and
// results; it returns how many it deleted.
func (s *System) Sweep(ctx context.Context, cut time.Time) (int, error) {
	r, deleted := s.cfg.Store, 0
	for {
		ids, err := r.Expired(ctx, cut, retentionBatch)
		if err != nil {
			return deleted, err
		}
		for _, id := range ids {
			if err := r.Delete(ctx, id); err != nil {
				return deleted, err
			}
			if err := s.cfg.Blobs.DeletePrefix(ctx, blob.BatchPrefix(id)); err != nil {
				return deleted, fmt.Errorf("delete batch %s's objects: %w", id, err)
			}
			deleted++
		}
		if len(ids) < retentionBatch {
			return deleted, nil
		}
	}
}
