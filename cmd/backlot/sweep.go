package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/blob"
	"github.com/backlot/backlot/persistence/blob/fsblob"
)

// sweepOrphans removes what uploads cut by a crash left in the blob
// store: first the temp files of writes never committed (fsblob's
// SweepTemp), then the objects of batches that the store does not know,
// the uploads cut before their 202 (never acknowledged, so nothing a
// client was promised). Only what is older than grace goes: 0 on the
// embedded store, which locks the data dir, so no upload can be under way
// at start; on a data dir shared by nodes on Redis, orphanGrace, longer
// than any upload takes, so one under way on another node is left alone.
// It returns how many batches it removed.
func sweepOrphans(ctx context.Context, st persistence.Store, bs blob.Store, grace time.Duration) (int, error) {
	if fs, ok := bs.(*fsblob.Store); ok {
		if _, err := fs.SweepTemp(ctx, grace); err != nil {
			return 0, err
		}
	}
	// The batches present, in key order: a batch's objects are listed
	// together, with the newest one's time. Only under BatchesPrefix: the
	// data dir also holds the embedded store's file.
	var ids []string
	newest := map[string]time.Time{}
	err := bs.List(ctx, blob.BatchesPrefix, func(info blob.Info) error {
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
			continue // maybe an upload under way on another node
		}
		_, err := st.Batch(ctx, id)
		switch {
		case err == nil:
			continue
		case errors.Is(err, persistence.ErrNotFound):
			if err := bs.DeletePrefix(ctx, blob.BatchPrefix(id)); err != nil {
				return removed, fmt.Errorf("remove orphan %s: %w", id, err)
			}
			removed++
		default:
			return removed, err
		}
	}
	return removed, nil
}

// orphanGrace is how old what an upload left must be before the sweep of
// a shared data dir (Redis) removes it: far longer than an upload takes
// (--body-idle-timeout bounds each pause, not the whole), and no longer
// than the default --retention keeps a finished batch.
const orphanGrace = 24 * time.Hour
