package http

import (
	"context"
	"errors"
	"fmt"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/sync/singleflight"

	"github.com/backlot/backlot/actors/resize"
	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/blob"
)

// Results are derived data: a resizer writes them without a sync and
// records their size and CRC-32C with the completed event, durably (see
// resize.writeResult). So before a result is served it is checked against
// that record, and one that a power cut took (missing, cut short, or
// holding what the disk had before) is rebuilt from its source, which was
// synced before the upload's 202. The same pipeline makes the same bytes;
// a rebuild that differs (another build's encoder) is served and logged.

// rebuilder collapses concurrent rebuilds of one result into one (flight)
// and bounds how many run at once (slots): after a power cut many reads may
// find their results gone, and each rebuild is a full resize.
type rebuilder struct {
	flight singleflight.Group
	slots  chan struct{}
}

func newRebuilder(n int) *rebuilder { return &rebuilder{slots: make(chan struct{}, max(n, 1))} }

// openResult opens im's result in the blob store once it holds what was
// recorded, rebuilding it first if it does not. The caller closes the
// object (SendStream does). An *Error (500 result_lost) when it cannot be
// rebuilt.
func (s *Server) openResult(ctx context.Context, b *persistence.Batch, im *persistence.Image, v persistence.Variant, rec persistence.Output) (blob.Object, error) {
	key := resize.ResultKey(b.ID, im.ID, b.Options, v)
	obj, err := s.checkedResult(ctx, key, rec)
	if err == nil {
		return obj, nil
	}
	if !errors.Is(err, resize.ErrResultLost) {
		return nil, fmt.Errorf("check result: %w", err)
	}
	log := s.log.With("batch_id", b.ID, "image_id", im.ID)
	log.Warn("result lost: rebuilding it from its source", "err", err)
	_, err, _ = s.rebuilds.flight.Do(key, func() (any, error) {
		select {
		case s.rebuilds.slots <- struct{}{}:
			defer func() { <-s.rebuilds.slots }()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if obj, err := s.checkedResult(ctx, key, rec); err == nil {
			obj.Close()
			return nil, nil // rebuilt while this waited for a slot
		}
		res, err := s.rebuild(ctx, b, im, v, key)
		s.met.ResultRebuilt(err == nil) // once per rebuild, however many reads wait for it
		if err != nil {
			return nil, err
		}
		if res.Bytes != rec.Bytes || (rec.Sum != 0 && res.Sum != rec.Sum) {
			log.Warn("rebuilt result differs from the recorded one (another build's encoder?); serving it",
				"variant", v.Name, "bytes", res.Bytes, "recorded_bytes", rec.Bytes, "sum", res.Sum, "recorded_sum", rec.Sum)
		}
		log.Info("result rebuilt", "bytes", res.Bytes)
		return nil, nil
	})
	if err != nil {
		log.Error("result lost and not rebuilt", "err", err)
		return nil, apiError(fiber.StatusInternalServerError, "result_lost",
			"the image's result file was lost and could not be rebuilt from its upload: "+resize.Message(err))
	}
	// As rebuilt: served even if it differs from the record (logged).
	return s.blobs.Open(ctx, key)
}

// checkedResult opens the result under key and checks it against its
// record (resize.Verify); a missing one is lost too (wrapping
// resize.ErrResultLost).
func (s *Server) checkedResult(ctx context.Context, key string, rec persistence.Output) (blob.Object, error) {
	obj, err := s.blobs.Open(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, fmt.Errorf("%w: it is missing", resize.ErrResultLost)
	}
	if err != nil {
		return nil, err
	}
	sum := rec.Sum
	if wc, ok := s.blobs.(blob.WholeCommits); ok && wc.CommitsWhole() {
		sum = 0 // the store holds what was committed, whole: its length tells enough
	}
	if err := resize.Verify(obj, rec.Bytes, sum); err != nil {
		obj.Close()
		return nil, err
	}
	return obj, nil
}

// errUploadGone is a rebuild's error when the source is missing too: the
// client's message names no key.
var errUploadGone = errors.New("the upload is missing")

// rebuild makes im's output v again from its source, as a resizer does
// (actors' resizer.process), under the resizers' limits and budget: only
// v, from the same decode as when all the variants were made
// (resize.Rebuild), so the same bytes.
func (s *Server) rebuild(ctx context.Context, b *persistence.Batch, im *persistence.Image, v persistence.Variant, key string) (resize.Result, error) {
	src, err := s.blobs.Open(ctx, blob.SourceKey(b.ID, im.ID))
	if errors.Is(err, blob.ErrNotFound) {
		return resize.Result{}, errUploadGone
	}
	if err != nil {
		return resize.Result{}, fmt.Errorf("open source: %w", err)
	}
	// Not the request's ctx: a rebuild other reads wait for (flight)
	// commits even if this one's client has gone.
	wctx := context.WithoutCancel(ctx)
	return resize.Rebuild(src, func(persistence.Variant) (blob.Writer, error) {
		return s.blobs.Create(wctx, key, blob.CreateOptions{UseReserve: true})
	}, b.Options, v.Name, s.cfg.ResizeLimits)
}

// redirectResult answers 307 to a signed GET of im's result in the blob
// store when Config.Presign asks for it and the store signs URLs
// (blob.Presigner), after a HEAD shows the object as recorded; ok is
// false when the result is to be proxied instead (no presigning, or the
// result lost: openResult rebuilds it). The redirect is not cached (its
// URL expires); the client's cache keeps the object's answer.
func (s *Server) redirectResult(c *fiber.Ctx, b *persistence.Batch, im *persistence.Image, v persistence.Variant, rec persistence.Output) (ok bool, err error) {
	ps, can := s.blobs.(blob.Presigner)
	if s.cfg.Presign <= 0 || !can {
		return false, nil
	}
	key := resize.ResultKey(b.ID, im.ID, b.Options, v)
	info, err := s.blobs.Stat(c.UserContext(), key)
	switch {
	case errors.Is(err, blob.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("stat result: %w", err)
	case info.Size != rec.Bytes:
		return false, nil
	}
	u, err := ps.PresignGet(c.UserContext(), key, s.cfg.Presign, resultCacheControl)
	if err != nil {
		return false, err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return true, c.Redirect(u.String(), fiber.StatusTemporaryRedirect)
}
