package resize

import (
	"bufio"
	"context"
	"fmt"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"sync"
	"time"

	"github.com/backlot/backlot/actors/resize/turbojpeg"
	"github.com/backlot/backlot/actors/resize/webp"
	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/blob"
)

// errAbandoned ends a worker whose caller already returned ErrTimeout;
// nobody reads it but the worker itself.
var errAbandoned = fmt.Errorf("attempt abandoned: %w", ErrTimeout)

// encodable hands each encoder a type it has a fast path for, in place
// where it can. image/jpeg's writer converts *image.RGBA, *image.YCbCr and
// *image.Gray blockwise but falls back to At() per pixel (an interface call
// and a color allocation each) for *image.NRGBA; image/png copies *image.NRGBA
// rows as they are.
func encodable(img *image.NRGBA, f persistence.Format, gray bool) image.Image {
	if f == persistence.FormatWebP || f == persistence.FormatAVIF {
		return img // libwebp and libavif take RGBA rows and keep alpha
	}
	if gray { // the source had no colour and no alpha: R = G = B
		g := image.NewGray(img.Rect)
		for i := range g.Pix {
			g.Pix[i] = img.Pix[4*i]
		}
		return g
	}
	if f == persistence.FormatPNG {
		return img
	}
	// JPEG has no alpha: composite onto white, the usual page colour. Once
	// every alpha is 0xff, NRGBA and RGBA share one memory layout.
	for p := img.Pix; len(p) >= 4; p = p[4:] {
		if a := uint32(p[3]); a != 0xff {
			for c := range 3 {
				p[c] = uint8((uint32(p[c])*a + 0xff*(0xff-a) + 0x7f) / 0xff)
			}
			p[3] = 0xff
		}
	}
	return &image.RGBA{Pix: img.Pix, Stride: img.Stride, Rect: img.Rect}
}

// planarEncoder reports whether outputs in format f are encoded from
// 4:2:0 YCbCr planes (resampleYCbCr) when the source is a colour JPEG's
// planes shown as stored: JPEG (libjpeg-turbo's planes-in encode, or
// image/jpeg, which takes an *image.YCbCr as it is) and WebP (libwebp,
// which a build without cgo cannot write anyway). PNG and AVIF take RGB.
func planarEncoder(f persistence.Format) bool {
	return f == persistence.FormatJPEG || f == persistence.FormatWebP && webp.Available
}

func encode(w io.Writer, img image.Image, o persistence.Variant) error {
	switch o.Format {
	case persistence.FormatPNG:
		return pngEncoder.Encode(w, img)
	case persistence.FormatWebP, persistence.FormatAVIF:
		if m, ok := img.(*image.YCbCr); ok {
			return webp.EncodeYCbCr(w, m, o.Quality) // planarEncoder: WebP only
		}
		return encodeCodec(w, img.(*image.NRGBA), o.Format, o.Quality)
	}
	if turbojpeg.Available {
		// libjpeg-turbo's SIMD encoder: several times image/jpeg's speed
		// on a thumbnail, the same baseline 4:2:0 JPEG at the same quality.
		b := img.Bounds()
		_, gray := img.(*image.Gray)
		buf := getBytes(turbojpeg.EncodeBound(b.Dx(), b.Dy(), gray))
		defer putBytes(buf)
		out, err := turbojpeg.Encode(img, o.Quality, buf)
		if err == nil {
			_, err = w.Write(out)
			return err
		}
		// An image type the binding does not take: image/jpeg has it.
	}
	return jpeg.Encode(w, img, &jpeg.Options{Quality: o.Quality})
}

// writeOutput writes a result to the object out creates, so that a
// reader sees the old object or the whole new one, never a part: the
// store publishes it at Commit, which the caller makes (pending.commit)
// once every output of the attempt is written, or not (pending.abort).
//
// The result is not durable (no CreateOptions.Durable, no Sync): a result
// is derived data. The caller records its size and Sum with the completed
// event, whose commit is durable, and a reader checks both (Verify) and
// rebuilds a result that a power cut took from its source, which was
// synced before the upload's 202. A process crash loses nothing either
// way: the page cache outlives the process. (Syncing the file and its
// directory cost a resizer two fsyncs per image: 15-20 % of images/s at
// 640x480 on the reference machine.)
//
// Encoder errors that are not write errors are the image's fault:
// permanent.
func writeOutput(out func() (blob.Writer, error), write func(io.Writer) error) (p *pending, err error) {
	t := time.Now()
	w, err := out()
	created := time.Since(t)
	if err != nil {
		return nil, fmt.Errorf("create result: %w", err)
	}
	defer func() {
		if err != nil {
			_ = w.Abort()
		}
	}()
	cw := &countWriter{w: w}
	bw := writers.Get().(*bufio.Writer)
	bw.Reset(cw)
	defer func() { bw.Reset(nil); writers.Put(bw) }()
	if err := write(bw); err != nil {
		if cw.err != nil {
			return nil, fmt.Errorf("write result: %w", cw.err)
		}
		return nil, permanent(fmt.Errorf("encode: %w", err))
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("write result: %w", err)
	}
	return &pending{w: w, n: cw.n, sum: cw.sum, io: created + cw.took}, nil
}

// pending is a written output not yet committed; its Writer ends with
// exactly one of commit and abort (abort after commit does nothing).
type pending struct {
	w    blob.Writer
	n    int64
	sum  uint32
	io   time.Duration // in the store: creating the object and writing to it (stageTimes.write)
	done bool
}

func (p *pending) commit() error {
	p.done = true
	// The Writer's Create was given its context; Commit needs no other.
	if _, err := p.w.Commit(context.Background()); err != nil {
		return fmt.Errorf("commit result: %w", err)
	}
	return nil
}

func (p *pending) abort() {
	if !p.done {
		p.done = true
		_ = p.w.Abort()
	}
}

// countWriter counts and checksums what reaches the object and keeps the
// first write error, which tells I/O failures from encoder failures.
type countWriter struct {
	w    io.Writer
	n    int64
	sum  uint32
	err  error
	took time.Duration // in w.Write
}

func (c *countWriter) Write(p []byte) (int, error) {
	t := time.Now()
	n, err := c.w.Write(p)
	c.took += time.Since(t)
	c.n += int64(n)
	c.sum = crc32.Update(c.sum, castagnoli, p[:n])
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}

// Pools for the writers' buffers; like bufs they hold nothing between calls.
var (
	writers    = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 32<<10) }}
	pngEncoder = &png.Encoder{BufferPool: &pngBuffers{}}
)

type pngBuffers struct{ p sync.Pool }

func (b *pngBuffers) Get() *png.EncoderBuffer {
	e, _ := b.p.Get().(*png.EncoderBuffer)
	return e
}

func (b *pngBuffers) Put(e *png.EncoderBuffer) { b.p.Put(e) }
