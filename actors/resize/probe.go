package resize

import (
	"bufio"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"strings"
	"sync"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"
)

// Info is what a header tells about an image.
type Info struct {
	Format        string // as Sniff names it
	Width, Height int
}

// Probe reads src's magic number and decodes only its header, never the
// pixels, so the HTTP layer can reject a file (415, 413) at upload time for
// the price of a few reads.
//
// Errors wrap ErrUnsupported (not one of the six formats, or a header that
// does not decode, or a header declaring an empty image) or ErrTooManyPixels
// (width*height > maxPixels; maxPixels <= 0 means no limit). Anything else
// is an I/O error.
func Probe(src Source, maxPixels int64) (Info, error) {
	info, _, err := probeConfig(src, maxPixels)
	return info, err
}

// probeConfig is probe that also returns the header's configuration (its
// colour model tells Footprint the decoded pixel type).
func probeConfig(r io.ReaderAt, maxPixels int64) (info Info, cfg image.Config, err error) {
	var head [sniffLen]byte
	n, err := r.ReadAt(head[:], 0)
	if err != nil && err != io.EOF {
		return Info{}, cfg, fmt.Errorf("read header: %w", err)
	}
	format, ok := Sniff(head[:n])
	if !ok {
		return Info{}, cfg, fmt.Errorf("%w: not a JPEG, PNG, GIF, WebP, BMP, TIFF, HEIC/HEIF or AVIF file", ErrUnsupported)
	}
	if _, ok := codecs[format]; !ok {
		return Info{}, cfg, fmt.Errorf("%w: this build cannot read %s images (it was built without libheif)", ErrNoDecoder, strings.ToUpper(format))
	}
	src := newSource(r)
	br := getReader(src)
	defer putReader(br)
	cfg, err = decodeConfig(format, br)
	if err != nil {
		if src.err != nil {
			return Info{}, cfg, fmt.Errorf("read %s header: %w", format, src.err)
		}
		return Info{}, cfg, fmt.Errorf("%w: %s header: %v", ErrUnsupported, format, err)
	}
	w, h := cfg.Width, cfg.Height
	if w <= 0 || h <= 0 {
		return Info{}, cfg, fmt.Errorf("%w: %s header declares an empty %dx%d image", ErrUnsupported, format, w, h)
	}
	// Division, not w*h: a hostile header must not overflow the check.
	if maxPixels > 0 && int64(w) > maxPixels/int64(h) {
		return Info{}, cfg, fmt.Errorf("%w: %dx%d is over the limit of %d pixels", ErrTooManyPixels, w, h, maxPixels)
	}
	return Info{Format: format, Width: w, Height: h}, cfg, nil
}

// decodeConfig calls the format's own header decoder, so a PNG is never
// read by the JPEG decoder because a registry guessed. Third-party decoders
// have panicked on hostile headers before; that is an undecodable header,
// not a crash.
func decodeConfig(format string, r io.Reader) (cfg image.Config, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("decoder panicked: %v", v)
		}
	}()
	c, ok := codecs[format]
	if !ok {
		return image.Config{}, fmt.Errorf("no decoder for %q", format)
	}
	return c.config(r)
}

// decode is decodeConfig's twin for the pixels; gif yields its first frame.
// Panics are left to the caller, which owns the whole attempt.
func decode(format string, r io.Reader) (image.Image, error) {
	c, ok := codecs[format]
	if !ok {
		return nil, fmt.Errorf("no decoder for %q", format)
	}
	return c.decode(r)
}

// codecs are the decoders of the six formats Sniff knows, by its names.
var codecs = map[string]struct {
	config func(io.Reader) (image.Config, error)
	decode func(io.Reader) (image.Image, error)
}{
	"jpeg": {jpeg.DecodeConfig, jpeg.Decode},
	"png":  {png.DecodeConfig, png.Decode},
	"gif":  {gif.DecodeConfig, gif.Decode},
	"webp": {webp.DecodeConfig, webp.Decode},
	"bmp":  {bmp.DecodeConfig, bmp.Decode},
	"tiff": {tiff.DecodeConfig, tiff.Decode},
}

// source reads a file from its start and remembers the first real read
// error, so that a failed decode can be told apart: a read error is I/O
// (transient), anything else is the bytes' fault (permanent). Decoders turn
// io.EOF into their own "unexpected EOF", which is the bytes' fault.
type source struct {
	r   io.Reader
	err error
}

func newSource(r io.ReaderAt) *source {
	return &source{r: io.NewSectionReader(r, 0, math.MaxInt64)}
}

func (s *source) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// readers are reused: png, gif and the x/image decoders wrap any reader
// that lacks ReadByte in a fresh bufio.Reader of their own.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 32<<10) }}

func getReader(r io.Reader) *bufio.Reader {
	br := readers.Get().(*bufio.Reader)
	br.Reset(r)
	return br
}

func putReader(br *bufio.Reader) {
	br.Reset(nil)
	readers.Put(br)
}
