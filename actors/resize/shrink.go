package resize

import (
	"image"
	"image/color"
	"image/draw"
	"sync"
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
// full-size RGB copy, and converts only the small result to RGB. Averaging
// before conversion is exact up to rounding: YCbCr→RGB is affine.
// The result's Pix comes from the pool; the caller gives it back.
func shrinkYCbCr(m *image.YCbCr, off image.Point, xs, ys []span) *image.NRGBA {
	nx, ny := len(xs), len(ys)
	hs, vs := ycbcrShifts(m.SubsampleRatio)
	planes := getBytes(3 * nx * ny)
	defer putBytes(planes)
	yp, cb, cr := planes[:nx*ny], planes[nx*ny:2*nx*ny], planes[2*nx*ny:]
	shrinkPlane(yp, nx, m.Y, m.YStride,
		planeSpans(xs, off.X, m.Rect.Min.X, 0), planeSpans(ys, off.Y, m.Rect.Min.Y, 0))
	cx, cy := planeSpans(xs, off.X, m.Rect.Min.X, hs), planeSpans(ys, off.Y, m.Rect.Min.Y, vs)
	shrinkPlane(cb, nx, m.Cb, m.CStride, cx, cy)
	shrinkPlane(cr, nx, m.Cr, m.CStride, cx, cy)
	out := &image.NRGBA{Pix: getBytes(4 * nx * ny), Stride: 4 * nx, Rect: image.Rect(0, 0, nx, ny)}
	for i := range yp {
		r, g, b := color.YCbCrToRGB(yp[i], cb[i], cr[i])
		p := out.Pix[4*i : 4*i+4 : 4*i+4]
		p[0], p[1], p[2], p[3] = r, g, b, 0xff
	}
	return out
}

// shrinkGray is shrinkYCbCr for grayscale JPEGs (and PNGs): one plane.
func shrinkGray(m *image.Gray, off image.Point, xs, ys []span) *image.Gray {
	nx, ny := len(xs), len(ys)
	out := &image.Gray{Pix: getBytes(nx * ny), Stride: nx, Rect: image.Rect(0, 0, nx, ny)}
	shrinkPlane(out.Pix, nx, m.Pix, m.Stride,
		planeSpans(xs, off.X, m.Rect.Min.X, 0), planeSpans(ys, off.Y, m.Rect.Min.Y, 0))
	return out
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

// bufs recycles the scratch and shrink-output buffers, the large
// allocations this package makes itself (the decoders' own are out of
// reach). It holds no state that outlives one call.
var bufs sync.Pool

func getBytes(n int) []byte {
	if p, ok := bufs.Get().(*[]byte); ok && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]byte, n)
}

func putBytes(b []byte) {
	if cap(b) == 0 {
		return
	}
	bufs.Put(&b)
}
