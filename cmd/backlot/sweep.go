package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/backlot/backlot/persistence"
)

// sweepOrphans removes batch directories that the store does not know: the
// files of an upload cut by a crash before its 202 (never acknowledged, so
// nothing a client was promised). Only safe while no upload is running on
// this data dir, i.e. at start on the embedded store, which holds a file
// lock on the directory.
func sweepOrphans(ctx context.Context, st persistence.Store, files persistence.Files) (int, error) {
	entries, err := os.ReadDir(files.BatchDir(""))
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, e := range entries {
		id := e.Name()
		_, err := st.Batch(ctx, id)
		switch {
		case err == nil:
			continue
		case errors.Is(err, persistence.ErrNotFound):
			if err := os.RemoveAll(files.BatchDir(id)); err != nil {
				return removed, fmt.Errorf("remove orphan %s: %w", id, err)
			}
			removed++
		default:
			return removed, err
		}
	}
	return removed, nil
}
