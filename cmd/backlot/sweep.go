package main

import (
	"context"
	"time"

	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/blob"
	"github.com/backlot/backlot/persistence/blob/fsblob"
	"github.com/backlot/backlot/persistence/blob/s3blob"
)

// sweepOrphans removes what uploads cut by a crash left in the blob
// store: first the temp files of writes never committed (fsblob's
// SweepTemp, s3blob's SweepSpool), then the objects of batches that the store does not know,
// the uploads cut before their 202 (never acknowledged, so nothing a
// client was promised). Only what is older than a grace goes: local for
// the files under the data dir, grace for the batches' objects. 0 on the
// embedded store, which locks the data dir, so no upload can be under way
// at start; on a data dir shared by nodes on Redis, or a bucket (nothing
// locks it), orphanGrace, longer than any upload takes, so one under way
// on another node is left alone. It returns how many batches it removed.
func sweepOrphans(ctx context.Context, st persistence.Store, bs blob.Store, local, grace time.Duration) (int, error) {
	switch b := bs.(type) {
	case *fsblob.Store:
		if _, err := b.SweepTemp(ctx, local); err != nil {
			return 0, err
		}
	case *s3blob.Store: // its spool files, under the data dir too
		if _, err := b.SweepSpool(ctx, local); err != nil {
			return 0, err
		}
	}
	return persistence.SweepOrphans(ctx, st, bs, grace)
}

// orphanGrace is how old what an upload left must be before the sweep of
// a shared data dir (Redis) removes it: far longer than an upload takes
// (--body-idle-timeout bounds each pause, not the whole), and no longer
// than the default --retention keeps a finished batch.
const orphanGrace = 24 * time.Hour
