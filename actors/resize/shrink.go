package resize

import (
	"image"
	"image/draw"
	"math/bits"
	"sync"
	"unsafe"
)

// The pre-shrink: before the Lanczos pass, average whole blocks of source
// pixels (a box filter) until the image is still at least twice the target
// on each side. Lanczos over a 4000-pixel row into 100 reads ~240 taps per
// output pixel in float64; a box over integer blocks reads each source byte
// once in integer arithmetic. Stopping at 2x leaves the final low-pass to
// Lanczos, so the box's soft roll-off stays above the output's Nyquist
// (quality_test.go holds the result to >= 35 dB of a pure Lanczos resize).

// span is a half-open run [lo, hi) of pixels averaged into one.
type span struct{ lo, hi int }

// blocks splits n pixels into runs that shrink them towards 2*t: runs of k
// or k+1 pixels (k = n / 2t), their edges rounded to the nearest pixel so
// no output pixel's centre is more than half a source pixel off. It returns
// nil when the shrink would be under 2x: not worth a pass.
func blocks(n, t int) []span {
	k := n / (2 * t)
	if k < 2 {
		return nil
	}
	m := n / k
	s := make([]span, m)
	edge := func(i int) int { return int((int64(i)*int64(n) + int64(m/2)) / int64(m)) }
	for i := range s {
		s[i] = span{edge(i), edge(i + 1)}
	}
	return s
}

// ones is the identity split, for the axis that is not shrunk.
func ones(n int) []span {
	s := make([]span, n)
	for i := range s {
		s[i] = span{i, i + 1}
	}
	return s
}

// planeSpans moves runs of the crop (starting at off) onto a plane whose
// origin is base and which is subsampled by 1<<shift. A chroma run covers
// every chroma sample its luma run touches, so it is never empty, and two
// neighbours may share an edge sample: a quarter-pixel blur of chroma,
// which the eye does not see.
func planeSpans(s []span, off, base, shift int) []span {
	b := base >> shift
	out := make([]span, len(s))
	for i, r := range s {
		out[i] = span{(off+r.lo)>>shift - b, (off+r.hi-1)>>shift + 1 - b}
	}
	return out
}

// shrinkPlane box-averages one 8-bit plane: dst pixel (i, j) is the rounded
// mean of src over xs[i] × ys[j].
func shrinkPlane(dst []uint8, dstStride int, src []uint8, srcStride int, xs, ys []span) {
	acc := make([]uint64, len(xs))
	for j, sy := range ys {
		clear(acc)
		for y := sy.lo; y < sy.hi; y++ {
			row := src[y*srcStride:]
			for i, sx := range xs {
				var s uint64
				for _, v := range row[sx.lo:sx.hi] {
					s += uint64(v)
				}
				acc[i] += s
			}
		}
		h := uint64(sy.hi - sy.lo)
		d := dst[j*dstStride : j*dstStride+len(xs)]
		for i, sx := range xs {
			area := h * uint64(sx.hi-sx.lo)
			d[i] = uint8((acc[i] + area/2) / area)
		}
	}
}

// ycbcrShifts gives the chroma subsampling of r as shifts of x and y.
func ycbcrShifts(r image.YCbCrSubsampleRatio) (hs, vs int) {
	switch r {
	case image.YCbCrSubsampleRatio422:
		return 1, 0
	case image.YCbCrSubsampleRatio420:
		return 1, 1
	case image.YCbCrSubsampleRatio440:
		return 0, 1
	case image.YCbCrSubsampleRatio411:
		return 2, 0
	case image.YCbCrSubsampleRatio410:
		return 2, 1
	}
	return 0, 0
}

// shrinkYCbCr averages straight from the decoder's planes, without a
// full-size RGB copy, onto the grid of the luma runs (off is their
// origin, in image coordinates); conversion to RGB waits for the small
// result, which is exact up to rounding since YCbCr→RGB is affine. The
// views' pixels live in the returned buffer, from the pool.
func shrinkYCbCr(m *image.YCbCr, off image.Point, xs, ys []span) ([3]view, []byte) {
	nx, ny := len(xs), len(ys)
	hs, vs := ycbcrShifts(m.SubsampleRatio)
	buf := getBytes(3 * nx * ny)
	px, py := spanCentres(xs, off.X), spanCentres(ys, off.Y)
	var v [3]view
	for i := range v {
		v[i] = view{pix: buf[i*nx*ny : (i+1)*nx*ny], stride: nx, xs: px, ys: py, cx: 1, cy: 1}
	}
	shrinkPlane(v[0].pix, nx, m.Y, m.YStride,
		planeSpans(xs, off.X, m.Rect.Min.X, 0), planeSpans(ys, off.Y, m.Rect.Min.Y, 0))
	cx, cy := planeSpans(xs, off.X, m.Rect.Min.X, hs), planeSpans(ys, off.Y, m.Rect.Min.Y, vs)
	shrinkPlane(v[1].pix, nx, m.Cb, m.CStride, cx, cy)
	shrinkPlane(v[2].pix, nx, m.Cr, m.CStride, cx, cy)
	return v, buf
}

// shrinkGray is shrinkYCbCr for grayscale JPEGs (and PNGs): one plane.
func shrinkGray(m *image.Gray, off image.Point, xs, ys []span) (view, []byte) {
	nx, ny := len(xs), len(ys)
	buf := getBytes(nx * ny)
	shrinkPlane(buf, nx, m.Pix, m.Stride,
		planeSpans(xs, off.X, m.Rect.Min.X, 0), planeSpans(ys, off.Y, m.Rect.Min.Y, 0))
	return view{pix: buf, stride: nx, xs: spanCentres(xs, off.X), ys: spanCentres(ys, off.Y), cx: 1, cy: 1}, buf
}

// shrinkAny handles every other decoded type (paletted GIF, NRGBA PNG,
// CMYK JPEG, ...) one row at a time through draw.Draw, which has fast paths
// for the common ones. It averages premultiplied RGBA, the only space in
// which averaging pixels with alpha is right.
func shrinkAny(m image.Image, off image.Point, xs, ys []span) *image.RGBA {
	nx, ny := len(xs), len(ys)
	w := xs[nx-1].hi
	row := &image.RGBA{Pix: getBytes(4 * w), Stride: 4 * w, Rect: image.Rect(0, 0, w, 1)}
	defer putBytes(row.Pix)
	out := &image.RGBA{Pix: getBytes(4 * nx * ny), Stride: 4 * nx, Rect: image.Rect(0, 0, nx, ny)}
	acc := make([]uint64, 4*nx)
	for j, sy := range ys {
		clear(acc)
		for y := sy.lo; y < sy.hi; y++ {
			draw.Draw(row, row.Rect, m, image.Pt(off.X, off.Y+y), draw.Src)
			for i, sx := range xs {
				var r, g, b, a uint64
				for p := row.Pix[4*sx.lo : 4*sx.hi]; len(p) >= 4; p = p[4:] {
					r += uint64(p[0])
					g += uint64(p[1])
					b += uint64(p[2])
					a += uint64(p[3])
				}
				acc[4*i] += r
				acc[4*i+1] += g
				acc[4*i+2] += b
				acc[4*i+3] += a
			}
		}
		h := uint64(sy.hi - sy.lo)
		d := out.Pix[j*out.Stride : j*out.Stride+4*nx]
		for i, sx := range xs {
			area := h * uint64(sx.hi-sx.lo)
			for c := range 4 {
				d[4*i+c] = uint8((acc[4*i+c] + area/2) / area)
			}
		}
	}
	return out
}

// pool recycles the large buffers this package makes itself (a JPEG's
// bytes, decoded planes, shrink and resize scratch; the decoders' own are
// out of reach), in power-of-two size classes so that a request never
// takes, and then drops, a buffer of another kind: class c holds slices of
// capacity >= 1<<c. Nothing in them outlives one call.
//
// The pools hold a pointer to the first element, not a slice: a pointer
// goes into an interface without an allocation, a slice header does not.
type pool[T any] struct{ classes [bits.UintSize]sync.Pool }

func (p *pool[T]) get(n int) []T {
	if n <= 0 {
		return nil
	}
	c := bits.Len(uint(n - 1)) // n <= 1<<c
	if e, ok := p.classes[c].Get().(*T); ok {
		return unsafe.Slice(e, 1<<c)[:n]
	}
	return make([]T, n, 1<<c)
}

func (p *pool[T]) put(s []T) {
	if cap(s) == 0 {
		return
	}
	// Class c promises 1<<c elements; a longer slice keeps its tail unused.
	p.classes[bits.Len(uint(cap(s)))-1].Put(unsafe.SliceData(s[:cap(s)]))
}

var (
	bytesPool pool[byte]
	floats    pool[float32]
)

func getBytes(n int) []byte { return bytesPool.get(n) }
func putBytes(b []byte)     { bytesPool.put(b) }
