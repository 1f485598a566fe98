package persistence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/backlot/backlot/persistence/blob"
)

// SweepOrphans removes the objects of batches that st does not know:
// uploads cut before their 202 (a crash between the PUTs and the commit,
// or a rejected upload whose objects could not be removed while the blob
// store was away), and batches deleted from st whose objects were not
// (retention interrupted between the two). Nothing of them was
// acknowledged, or what was has expired. It lists blobs by
// BatchesPrefix and leaves alone every batch st holds, whatever its age,
// and every batch with an object newer than grace: an upload may be under
// way, here or on another node, whose batch is not recorded yet. With
// grace 0 everything unrecorded goes, which is only safe while nothing
// can be uploading (the embedded store at start: it locks the data dir).
// It returns how many batches it removed.
func SweepOrphans(ctx context.Context, st Store, blobs blob.Store, grace time.Duration) (int, error) {
	// The batches present, in key order: a batch's objects are listed
	// together, with the newest one's time.
	var ids []string
	newest := map[string]time.Time{}
	err := blobs.List(ctx, blob.BatchesPrefix, func(info blob.Info) error {
		if id, ok := blob.BatchOf(info.Key); ok {
			if len(ids) == 0 || ids[len(ids)-1] != id {
				ids = append(ids, id)
			}
			if info.ModTime.After(newest[id]) {
				newest[id] = info.ModTime
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	cut := time.Now().Add(-grace)
	removed := 0
	for _, id := range ids {
		if grace > 0 && newest[id].After(cut) {
			continue // maybe an upload under way
		}
		_, err := st.Batch(ctx, id)
		switch {
		case err == nil:
			continue
		case errors.Is(err, ErrNotFound):
			if err := blobs.DeletePrefix(ctx, blob.BatchPrefix(id)); err != nil {
				return removed, fmt.Errorf("remove orphan %s: %w", id, err)
			}
			removed++
		default:
			return removed, err
		}
	}
	return removed, nil
}

// StartSweeper runs SweepOrphans with grace every period (hourly when
// every <= 0), for as long as the node runs: a rejected upload whose
// objects the blob store's outage kept, or a retention pass cut between
// the store and the blobs, leaves objects that no restart may come to
// remove. Stop it like a Janitor.
func StartSweeper(st Store, blobs blob.Store, grace, every time.Duration, log *slog.Logger) *Janitor {
	if every <= 0 {
		every = time.Hour
	}
	return startLoop(every, func(ctx context.Context) {
		n, err := SweepOrphans(ctx, st, blobs, grace)
		if err != nil && ctx.Err() == nil {
			log.Warn("orphan sweep", "err", err, "removed", n)
		} else if n > 0 {
			log.Info("orphan sweep: removed the objects of unrecorded batches", "batches", n, "older_than", grace)
		}
	})
}
