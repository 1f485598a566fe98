package http

import (
	"context"
	"errors"
	"fmt"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/sync/singleflight"

	"github.com/backlot/backlot/actors/resize"
	"github.com/backlot/backlot/persistence"
)

// Results are derived data: a resizer writes them without fsync and records
// their size and CRC-32C with the completed event, durably (see
// resize.writeAtomic). So before a result is served it is checked against
// that record, and one that a power cut took (missing, cut short, or
// holding what the disk had before) is rebuilt from its source, which was
// fsynced before the upload's 202. The same pipeline makes the same bytes;
// a rebuild that differs (another build's encoder) is served and logged.

// rebuilder collapses concurrent rebuilds of one result into one (flight)
// and bounds how many run at once (slots): after a power cut many reads may
// find their results gone, and each rebuild is a full resize.
type rebuilder struct {
	flight singleflight.Group
	slots  chan struct{}
}

func newRebuilder(n int) *rebuilder { return &rebuilder{slots: make(chan struct{}, max(n, 1))} }

// checkResult returns nil when im's result file at path holds what was
// recorded, rebuilding it first if it does not; an *Error (500
// result_lost) when it cannot be rebuilt.
func (s *Server) checkResult(ctx context.Context, b *persistence.Batch, im *persistence.Image, path string) error {
	err := resize.Verify(path, im.Bytes, im.Sum)
	if err == nil {
		return nil
	}
	if !errors.Is(err, resize.ErrResultLost) {
		return fmt.Errorf("check result: %w", err)
	}
	log := s.log.With("batch_id", b.ID, "image_id", im.ID)
	log.Warn("result lost: rebuilding it from its source", "err", err)
	_, err, _ = s.rebuilds.flight.Do(path, func() (any, error) {
		select {
		case s.rebuilds.slots <- struct{}{}:
			defer func() { <-s.rebuilds.slots }()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if resize.Verify(path, im.Bytes, im.Sum) == nil {
			return nil, nil // rebuilt while this waited for a slot
		}
		res, err := resize.Process(s.files.Source(b.ID, im.ID), path, b.Options, s.cfg.ResizeLimits)
		s.met.ResultRebuilt(err == nil) // once per rebuild, however many reads wait for it
		if err != nil {
			return nil, err
		}
		if res.Bytes != im.Bytes || (im.Sum != 0 && res.Sum != im.Sum) {
			log.Warn("rebuilt result differs from the recorded one (another build's encoder?); serving it",
				"bytes", res.Bytes, "recorded_bytes", im.Bytes, "sum", res.Sum, "recorded_sum", im.Sum)
		}
		log.Info("result rebuilt", "bytes", res.Bytes)
		return nil, nil
	})
	if err != nil {
		log.Error("result lost and not rebuilt", "err", err)
		return apiError(fiber.StatusInternalServerError, "result_lost",
			"the image's result file was lost and could not be rebuilt from its upload: "+resize.Message(err))
	}
	return nil
}
