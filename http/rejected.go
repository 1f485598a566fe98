package http

import (
	"context"
	"errors"
	"time"

	"github.com/backlot/backlot/persistence/blob"
)

// Bounds of the removal of a rejected upload's objects while the blob
// store is unreachable: tried again after 1 s, doubling to 30 s, for at
// most rejectedFor. What is left after that (or after a crash) is the
// orphan sweep's (persistence.SweepOrphans).
const (
	rejectedFirst = time.Second
	rejectedMax   = 30 * time.Second
	rejectedFor   = 15 * time.Minute
)

// removeRejected deletes the objects a rejected upload put (its batch's
// prefix), so that a failure between the PUTs and the batch's commit
// leaves nothing behind. When the blob store cannot be reached (the very
// outage that failed the upload, often), it goes on trying in the
// background, with backoff, until it succeeds, rejectedFor has passed or
// the server shuts down.
func (s *Server) removeRejected(ctx context.Context, batchID string) {
	prefix := blob.BatchPrefix(batchID)
	err := s.blobs.DeletePrefix(ctx, prefix)
	if err == nil {
		return
	}
	if !errors.Is(err, blob.ErrUnavailable) {
		s.log.Error("remove rejected batch files", "batch_id", batchID, "err", err)
		return
	}
	s.log.Warn("remove rejected batch files: blob store unreachable; trying again in the background", "batch_id", batchID, "err", err)
	go func() {
		wait, until := rejectedFirst, time.Now().Add(rejectedFor)
		for {
			t := time.NewTimer(wait)
			select {
			case <-s.closing:
				t.Stop()
				s.log.Warn("rejected batch files left to the orphan sweep: shutting down", "batch_id", batchID)
				return
			case <-t.C:
			}
			err := s.blobs.DeletePrefix(ctx, prefix)
			switch {
			case err == nil:
				s.log.Info("rejected batch files removed", "batch_id", batchID)
				return
			case !errors.Is(err, blob.ErrUnavailable) || time.Now().After(until):
				s.log.Error("rejected batch files left to the orphan sweep", "batch_id", batchID, "err", err)
				return
			}
			wait = min(2*wait, rejectedMax)
		}
	}()
}
