package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/blob"
	"github.com/backlot/backlot/persistence/blob/fsblob"
)

// sweepOrphans removes what uploads cut by a crash left in the blob
// store: first the temp files of writes never committed (fsblob's
// SweepTemp, with no grace: nothing writes yet), then the objects of
// batches that the store does not know, the uploads cut before their 202
// (never acknowledged, so nothing a client was promised). It returns how
// many batches it removed. Only safe while no upload is running on this
// data dir, i.e. at start on the embedded store, which holds a file lock
// on the directory.
func sweepOrphans(ctx context.Context, st persistence.Store, bs blob.Store) (int, error) {
	if fs, ok := bs.(*fsblob.Store); ok {
		if _, err := fs.SweepTemp(ctx, 0); err != nil {
			return 0, err
		}
	}
	// The batches present, in key order: a batch's objects are listed
	// together. Only under BatchesPrefix: the data dir also holds the
	// embedded store's file.
	var ids []string
	err := bs.List(ctx, blob.BatchesPrefix, func(info blob.Info) error {
		if id, ok := blob.BatchOf(info.Key); ok && (len(ids) == 0 || ids[len(ids)-1] != id) {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, id := range ids {
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
