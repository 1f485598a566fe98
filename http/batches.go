package http

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/backlot/backlot/persistence"
)

// loadBatch reads the batch named by the :batch parameter, matched
// case-insensitively (API.md); a malformed id is a 404 like an unknown one,
// and never reaches the store.
func (s *Server) loadBatch(c *fiber.Ctx) (*persistence.Batch, error) {
	id, ok := persistence.CanonicalID(c.Params("batch"))
	if !ok {
		return nil, errNotFound
	}
	b, err := s.store.Batch(c.UserContext(), id)
	switch {
	case errors.Is(err, persistence.ErrNotFound):
		return nil, errNotFound
	case errors.Is(err, persistence.ErrUnavailable):
		return nil, unavailable("store_unavailable", "the store is unreachable; retry later")
	case err != nil:
		return nil, err
	}
	return b, nil
}

type imageView struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	State    string `json:"state"`
	Attempts int    `json:"attempts"`
	URL      string `json:"url"`
	Error    string `json:"error,omitempty"`
	Width    int    `json:"width,omitempty"`
	Height   int    `json:"height,omitempty"`
	Bytes    int64  `json:"bytes,omitempty"`
	// Variants, once completed, in a batch with variants.
	Variants []variantView `json:"variants,omitempty"`
}

type batchView struct {
	BatchID   string              `json:"batchId"`
	State     string              `json:"state"`
	Total     int                 `json:"total"`
	Completed int                 `json:"completed"`
	Failed    int                 `json:"failed"`
	CreatedAt string              `json:"createdAt"`
	Options   persistence.Options `json:"options"`
	Images    []imageView         `json:"images"`
	Events    string              `json:"events"`
}

// status handles GET /api/images/:batch.
func (s *Server) status(c *fiber.Ctx) error {
	b, err := s.loadBatch(c)
	if err != nil {
		return err
	}
	v := batchView{
		BatchID: b.ID, State: string(b.State()), Total: len(b.Images),
		Completed: b.Completed, Failed: b.Failed,
		CreatedAt: b.CreatedAt.UTC().Format(time.RFC3339),
		Options:   b.Options, Images: make([]imageView, len(b.Images)),
		Events: "/api/images/" + b.ID + "/events",
	}
	for i, im := range b.Images {
		v.Images[i] = imageView{
			ID: im.ID, Name: im.Name, State: string(im.State), Attempts: im.Attempts,
			URL: outputURL(b.ID, im.ID, b.Options), Error: im.Error,
			Width: im.Width, Height: im.Height, Bytes: im.Bytes,
			Variants: variantViews(b.ID, im.ID, im.Variants),
		}
	}
	return c.JSON(v)
}

// result handles GET /api/images/:batch/:image and
// /api/images/:batch/:image/:variant: the resized image (the named
// variant, or the first) once completed, read from the blob store
// (checked against its record and rebuilt if a power cut took it:
// results.go), 409 with its state before; 404 for a variant the batch
// does not have (a batch without variants has one, "default").
func (s *Server) result(c *fiber.Ctx) error {
	b, err := s.loadBatch(c)
	if err != nil {
		return err
	}
	var im *persistence.Image
	if id, ok := persistence.CanonicalID(c.Params("image")); ok {
		im = b.Image(id)
	}
	if im == nil {
		return apiError(fiber.StatusNotFound, "not_found", "no such image in this batch")
	}
	v := b.Options.Outputs()[0]
	if name := c.Params("variant"); name != "" {
		var ok bool
		if v, ok = b.Options.Output(name); !ok {
			return apiError(fiber.StatusNotFound, "not_found", "no such variant in this batch")
		}
	}
	if im.State != persistence.ImageCompleted {
		e := apiError(fiber.StatusConflict, "not_ready", "the image is "+string(im.State)+", not completed")
		e.Extra = map[string]any{"state": string(im.State)}
		if im.Error != "" {
			e.Extra["imageError"] = im.Error
		}
		return e
	}
	// A result never changes once its image completed: its ETag is the
	// recorded CRC-32C and length of its bytes, and a client that has it
	// gets 304 without the object being opened.
	rec, ok := outputOf(b, im, v.Name)
	if !ok { // a completed event always records every variant (Batch.Apply)
		return fmt.Errorf("image %s of batch %s has no record of variant %q", im.ID, b.ID, v.Name)
	}
	etag := fmt.Sprintf(`"%08x-%d"`, rec.Sum, rec.Bytes)
	c.Set(fiber.HeaderETag, etag)
	c.Set(fiber.HeaderCacheControl, resultCacheControl)
	if inm := c.Get(fiber.HeaderIfNoneMatch); inm != "" && etagMatch(inm, etag) {
		return c.SendStatus(fiber.StatusNotModified)
	}
	if ok, err := s.redirectResult(c, b, im, v, rec); ok || err != nil {
		return err
	}
	obj, err := s.openResult(c.UserContext(), b, im, v, rec)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, v.Format.ContentType())
	return c.SendStream(obj, int(obj.Size())) // fasthttp closes obj when sent
}

// resultCacheControl is how a client may cache a result, proxied or
// fetched from the object store: it never changes once completed.
const resultCacheControl = "private, max-age=31536000, immutable"

// outputOf is the record of im's output named name: the image's own
// fields in a batch without variants, else its variant's.
func outputOf(b *persistence.Batch, im *persistence.Image, name string) (persistence.Output, bool) {
	if len(b.Options.Variants) == 0 {
		return persistence.Output{Name: name, Width: im.Width, Height: im.Height, Bytes: im.Bytes, Sum: im.Sum}, true
	}
	for _, o := range im.Variants {
		if o.Name == name {
			return o, true
		}
	}
	return persistence.Output{}, false
}

// etagMatch reports whether an If-None-Match header names etag: "*", or
// a list of tags, weak or strong (RFC 9110: If-None-Match compares
// weakly).
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}
