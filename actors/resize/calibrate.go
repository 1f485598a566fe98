package resize

import (
	"bytes"
	"context"

	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/blob"
)

// PipelineOnce runs Process on src, with the default options but for the
// box, fit, format and quality given ("" and 0 keep a default), into an
// output that counts and drops the bytes: what one image costs the
// pipeline alone, with no server around it (the bench's calibration).
func PipelineOnce(src []byte, width, height int, fit, format string, quality int) (Result, error) {
	opts := persistence.DefaultOptions()
	opts.Width, opts.Height = width, height
	if fit != "" {
		opts.Fit = persistence.Fit(fit)
	}
	if format != "" {
		opts.Format = persistence.Format(format)
	}
	if quality > 0 {
		opts.Quality = quality
	}
	out := func(persistence.Variant) (blob.Writer, error) { return &discard{}, nil }
	return Process(bytes.NewReader(src), out, opts, Limits{})
}

// discard is a blob.Writer that keeps nothing.
type discard struct{ n int64 }

func (d *discard) Write(p []byte) (int, error) { d.n += int64(len(p)); return len(p), nil }
func (d *discard) Commit(context.Context) (blob.Info, error) {
	return blob.Info{Key: "discard", Size: d.n}, nil
}
func (d *discard) Abort() error { return nil }
