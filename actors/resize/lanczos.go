package resize

import (
	"image"
	"image/color"
	"math"
	"sort"
)

// The last resize for planar sources (a JPEG's Y, Cb and Cr planes, or a
// gray one): Lanczos-3, separable, one plane at a time, like
// imaging.Resize, with two differences that matter.
//
// The window need not fall on pixel edges. libjpeg-turbo's DCT scaling
// decodes each 8×8 block to 8·f pixels, so the cover crop, a whole number
// of source pixels, lands between decoded pixels: rounding it to them
// would shift the output by up to half a decoded pixel (four source pixels
// at 1/8), which costs 10 dB of PSNR against a full-decode resize. Here
// each input sample has a position in image coordinates and each output
// pixel's taps are centred exactly where the crop says.
//
// Chroma stays subsampled, at its own positions: no full-size RGB copy,
// a third of imaging's work for 4:2:0, and YCbCr→RGB (affine) only on
// the small result.

// view is one 8-bit plane as the resize reads it: sample (i, j) is
// pix[j*stride+i], centred at (xs[i], ys[j]) in the image's coordinates
// (luma pixels). Positions increase.
type view struct {
	pix    []uint8
	stride int
	xs, ys []float64
	cx, cy int // pixels each sample covers along x and y: 1, or chroma's 2 or 4
}

// taps are the weights of one axis: output o reads the inputs from
// first[o] on, with weights w[off[o]:off[o+1]].
type taps struct {
	first, off []int
	w          []float32
}

func lanczos3(x float64) float64 {
	x = math.Abs(x)
	switch {
	case x >= 3:
		return 0
	case x < 1e-9:
		return 1
	}
	px := math.Pi * x
	return 3 * math.Sin(px) * math.Sin(px/3) / (px * px)
}

// kernelSteps is the kernel table's resolution: with linear interpolation
// between steps of 1/1024 the error stays under 1e-6, far below what an
// 8-bit result can show, and a lookup costs a fraction of two sines.
const kernelSteps = 1024

var kernelTable = func() (t [3*kernelSteps + 2]float64) {
	for i := range t {
		t[i] = lanczos3(float64(i) / kernelSteps)
	}
	return t
}()

// kernel is lanczos3 from the table.
func kernel(x float64) float64 {
	x = math.Abs(x) * kernelSteps
	if x >= 3*kernelSteps {
		return 0
	}
	i := int(x)
	return kernelTable[i] + (x-float64(i))*(kernelTable[i+1]-kernelTable[i])
}

// weigh works out the taps from samples at pos, each covering cover
// pixels, to n outputs evenly covering [lo, hi). A sample's weight is the
// kernel summed over the pixels it covers inside [lo, hi): a chroma
// sample weighs as the luma pixels it colours, which is what a full
// decode with its chroma replicated to every pixel (image/jpeg, then
// imaging) computes; pixels outside the window weigh nothing, as if
// cropped first. The kernel widens with the downscale ratio, never below
// one input pixel (upscaling). An output with nothing in reach takes the
// nearest sample.
func weigh(pos []float64, cover int, lo, hi float64, n int) taps {
	du := (hi - lo) / float64(n)
	unit := 1.0 // distance between the pixels a sample covers
	if len(pos) > 1 {
		unit = (pos[len(pos)-1] - pos[0]) / float64(len(pos)-1) / float64(cover)
	}
	scale := max(du, unit)
	reach := 3*scale + float64(cover)*unit/2
	idx := make([]int, 2*n+1)
	t := taps{first: idx[:n], off: idx[n:], w: make([]float32, 0, n*(int(2*reach/unit)/cover+2))}
	for o := range n {
		c := lo + (float64(o)+0.5)*du
		a := sort.SearchFloat64s(pos, c-reach)
		t.first[o] = a
		start := len(t.w)
		var sum float64
		for i := a; i < len(pos) && pos[i] < c+reach; i++ {
			var w float64
			for k := range cover {
				if x := pos[i] + (float64(k)-float64(cover-1)/2)*unit; x >= lo && x < hi {
					w += kernel((x - c) / scale)
				}
			}
			t.w = append(t.w, float32(w))
			sum += w
		}
		if sum == 0 {
			a = min(sort.SearchFloat64s(pos, c), len(pos)-1)
			if a > 0 && c-pos[a-1] < pos[a]-c {
				a--
			}
			t.first[o] = a
			t.w = append(t.w[:start], 1)
		} else {
			for i := start; i < len(t.w); i++ {
				t.w[i] = float32(float64(t.w[i]) / sum)
			}
		}
		t.off[o+1] = len(t.w)
	}
	return t
}

// resize resamples v to the nx×ny grid the taps describe, into dst
// (stride nx); tmp is scratch of ny*len(v.xs). The vertical pass goes
// first, over whole rows: its loops run along contiguous memory, and the
// horizontal pass, whose short per-output loops cost more per tap, then
// runs on ny rows instead of all the input's. Its results are rounded to
// 8 bits before the horizontal pass: that is what libvips' vips_resize
// does (reducev, then reduceh, on 8-bit images), and sharp's output is
// what ours is compared with (bench/variants.sh): a WebP encode at q85
// turns the ±1 differences that keeping the float would leave in a fifth
// of the samples into an SSIM of 0.9645 between the two outputs, against
// 0.9727 with the rounding (on sharp's own decode of the same JPEG:
// TestSharpMatch). With cgo the same loops run as C (lanczos_cgo.go),
// which the compiler vectorises.
func (v view) resize(tx, ty taps, dst []uint8, tmp []float32) {
	if !resizeC(v, tx, ty, dst, tmp) {
		v.resizeGo(tx, ty, dst, tmp)
	}
}

// columns is the run [c0, c1) of input columns any output reads.
func (tx taps) columns() (c0, c1 int) {
	nx := len(tx.first)
	return tx.first[0], tx.first[nx-1] + tx.off[nx] - tx.off[nx-1]
}

// resizeGo is resize in Go: the pure-Go build's, and the reference the C
// one is tested against.
func (v view) resizeGo(tx, ty taps, dst []uint8, tmp []float32) {
	nx, ny := len(tx.first), len(ty.first)
	c0, c1 := tx.columns()
	w := c1 - c0
	for o := range ny {
		acc := tmp[o*w : (o+1)*w]
		clear(acc)
		ws := ty.w[ty.off[o]:ty.off[o+1]]
		at := func(k int) []uint8 { // input row k of this output, the columns read
			return v.pix[(ty.first[o]+k)*v.stride+c0:][:len(acc)]
		}
		k := 0
		for ; k+4 <= len(ws); k += 4 { // four rows a time: a quarter of the loads and stores of acc
			w0, w1, w2, w3 := ws[k], ws[k+1], ws[k+2], ws[k+3]
			r0, r1, r2, r3 := at(k), at(k+1), at(k+2), at(k+3)
			for i := range acc {
				acc[i] += w0*float32(r0[i]) + w1*float32(r1[i]) + w2*float32(r2[i]) + w3*float32(r3[i])
			}
		}
		for ; k < len(ws); k++ {
			wt, r := ws[k], at(k)
			for i := range acc {
				acc[i] += wt * float32(r[i])
			}
		}
		for i, a := range acc { // rounded to 8 bits between the passes, as libvips does
			acc[i] = float32(clampf(a))
		}
	}
	for o := range ny {
		row := tmp[o*w : (o+1)*w]
		d := dst[o*nx : (o+1)*nx]
		for j := range d {
			ws := tx.w[tx.off[j]:tx.off[j+1]]
			src := row[tx.first[j]-c0:]
			src = src[:len(ws)]
			var s float32
			for k, wt := range ws {
				s += wt * src[k]
			}
			d[j] = clampf(s)
		}
	}
}

func clampf(v float32) uint8 {
	switch {
	case v <= 0:
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v + 0.5)
}

// window is the part of the image that reaches the output, in image
// coordinates, fractional after a DCT-scaled decode.
type window struct{ x0, y0, x1, y1 float64 }

// planeView is the view of a whole plane (subsampled by 1<<hs, 1<<vs,
// origin at the image's min) over the samples that overlap w.
func planeView(pix []uint8, stride int, min image.Point, hs, vs int, w window, n image.Point) view {
	i0, i1 := overlap(w.x0, w.x1, min.X, hs, n.X)
	j0, j1 := overlap(w.y0, w.y1, min.Y, vs, n.Y)
	pos := make([]float64, 0, i1-i0+j1-j0)
	pos = centres(pos, i0, i1, min.X, hs)
	pos = centres(pos, j0, j1, min.Y, vs)
	return view{pix: pix[j0*stride+i0:], stride: stride,
		xs: pos[:i1-i0], ys: pos[i1-i0:], cx: 1 << hs, cy: 1 << vs}
}

// overlap gives the run [i0, i1) of a plane's n samples, each covering
// 1<<shift pixels from base, that overlaps [lo, hi); never empty.
func overlap(lo, hi float64, base, shift, n int) (int, int) {
	b := base >> shift
	i0 := int(math.Floor(lo/float64(int(1)<<shift))) - b
	i1 := int(math.Ceil(hi/float64(int(1)<<shift))) - b
	i0 = max(0, min(i0, n-1))
	i1 = max(i0+1, min(i1, n))
	return i0, i1
}

// centres appends the positions of samples [i0, i1) of a plane as above.
func centres(p []float64, i0, i1, base, shift int) []float64 {
	for i := i0; i < i1; i++ {
		p = append(p, (float64(i+base>>shift)+0.5)*float64(int(1)<<shift))
	}
	return p
}

// spanCentres are the positions of box-shrunk samples: the centres of the
// luma runs they average, off being the runs' origin.
func spanCentres(s []span, off int) []float64 {
	p := make([]float64, len(s))
	for k, r := range s {
		p[k] = float64(off) + float64(r.lo+r.hi)/2
	}
	return p
}

// planar is a planar source ready for the last resize: its views (one
// for gray, Y, Cb and Cr for colour) over the window, box-shrunk first
// where the window is at least four times the target; pooled holds the
// shrunk samples, if any.
type planar struct {
	views  [3]view
	n      int
	win    window
	pooled []byte
}

func (pl *planar) release() { putBytes(pl.pooled) }

// planarViews sets up resamplePlanar's and resampleYCbCr's resize of img
// (*image.YCbCr or *image.Gray) for p; scale is decoded pixels per source
// pixel (1, or libjpeg-turbo's factor).
func planarViews(img image.Image, p plan, scale float64) planar {
	b := img.Bounds()
	w := window{
		x0: float64(b.Min.X) + float64(p.crop.Min.X)*scale, x1: float64(b.Min.X) + float64(p.crop.Max.X)*scale,
		y0: float64(b.Min.Y) + float64(p.crop.Min.Y)*scale, y1: float64(b.Min.Y) + float64(p.crop.Max.Y)*scale,
	}
	pl := planar{win: w}
	// The luma pixels the window overlaps: the box pre-shrink's domain.
	lx0, lx1 := overlap(w.x0, w.x1, b.Min.X, 0, b.Dx())
	ly0, ly1 := overlap(w.y0, w.y1, b.Min.Y, 0, b.Dy())
	xs, ys := blocks(lx1-lx0, p.w), blocks(ly1-ly0, p.h)
	shrunk := xs != nil || ys != nil
	if shrunk {
		if xs == nil {
			xs = ones(lx1 - lx0)
		}
		if ys == nil {
			ys = ones(ly1 - ly0)
		}
	}
	off := image.Pt(b.Min.X+lx0, b.Min.Y+ly0)
	switch m := img.(type) {
	case *image.YCbCr:
		pl.n = 3
		if shrunk {
			pl.views, pl.pooled = shrinkYCbCr(m, off, xs, ys)
			break
		}
		hs, vs := ycbcrShifts(m.SubsampleRatio)
		cn := image.Pt((b.Max.X+(1<<hs)-1)>>hs-b.Min.X>>hs, (b.Max.Y+(1<<vs)-1)>>vs-b.Min.Y>>vs)
		pl.views[0] = planeView(m.Y, m.YStride, b.Min, 0, 0, w, b.Size())
		pl.views[1] = planeView(m.Cb, m.CStride, b.Min, hs, vs, w, cn)
		pl.views[2] = planeView(m.Cr, m.CStride, b.Min, hs, vs, w, cn)
	case *image.Gray:
		pl.n = 1
		if shrunk {
			pl.views[0], pl.pooled = shrinkGray(m, off, xs, ys)
			break
		}
		pl.views[0] = planeView(m.Pix, m.Stride, b.Min, 0, 0, w, b.Size())
	}
	return pl
}

// resizeInto resamples the planes of pl: luma to lw×lh into y, chroma
// (when there is any) to cw×ch into cb and cr, each over the window
// widened to cover a whole number of chroma samples (2cw×2ch output
// pixels for a 4:2:0 output; cw = lw for a full-size one).
func (pl *planar) resizeInto(lw, lh int, y []uint8, cw, ch int, cb, cr []uint8) {
	cols := 0
	for _, v := range pl.views[:pl.n] {
		cols = max(cols, len(v.xs))
	}
	tmp := floats.get(max(lh, ch) * cols)
	defer floats.put(tmp)
	w := pl.win
	v := pl.views[0]
	tx, ty := weigh(v.xs, v.cx, w.x0, w.x1, lw), weigh(v.ys, v.cy, w.y0, w.y1, lh)
	v.resize(tx, ty, y, tmp)
	if pl.n == 3 { // Cb and Cr share positions
		// A chroma sample covers k output pixels a side (2 for a 4:2:0
		// output, whose last sample of an odd width or height reaches
		// half a pixel past the window, as a JPEG's own last one does).
		x1, y1 := w.x1, w.y1
		if k := (lw + cw - 1) / cw; k*cw != lw {
			x1 = w.x0 + (w.x1-w.x0)/float64(lw)*float64(k*cw)
		}
		if k := (lh + ch - 1) / ch; k*ch != lh {
			y1 = w.y0 + (w.y1-w.y0)/float64(lh)*float64(k*ch)
		}
		v = pl.views[1]
		tx, ty = weigh(v.xs, v.cx, w.x0, x1, cw), weigh(v.ys, v.cy, w.y0, y1, ch)
		pl.views[1].resize(tx, ty, cb, tmp)
		pl.views[2].resize(tx, ty, cr, tmp)
	}
}

// resamplePlanar is resample for *image.YCbCr and *image.Gray: box
// pre-shrink where the window is at least four times the target, then
// Lanczos per plane to p.w×p.h, then RGB. scale is decoded pixels per
// source pixel (1, or libjpeg-turbo's factor).
func resamplePlanar(img image.Image, p plan, scale float64) *image.NRGBA {
	pl := planarViews(img, p, scale)
	defer pl.release()
	np := p.w * p.h
	planes := getBytes(pl.n * np)
	defer putBytes(planes)
	if pl.n == 3 {
		pl.resizeInto(p.w, p.h, planes[:np], p.w, p.h, planes[np:2*np], planes[2*np:3*np])
	} else {
		pl.resizeInto(p.w, p.h, planes[:np], 0, 0, nil, nil)
	}

	out := image.NewNRGBA(image.Rect(0, 0, p.w, p.h))
	yp := planes[:np]
	if pl.n == 1 {
		for i, y := range yp {
			q := out.Pix[4*i : 4*i+4 : 4*i+4]
			q[0], q[1], q[2], q[3] = y, y, y, 0xff
		}
		return out
	}
	cb, cr := planes[np:2*np], planes[2*np:3*np]
	for i, y := range yp {
		r, g, bl := color.YCbCrToRGB(y, cb[i], cr[i])
		q := out.Pix[4*i : 4*i+4 : 4*i+4]
		q[0], q[1], q[2], q[3] = r, g, bl, 0xff
	}
	return out
}

// resampleYCbCr is resamplePlanar for a colour source whose output
// goes to a 4:2:0 encoder (JPEG, WebP) as it is shown (no orientation,
// no colour transform): Y at p.w×p.h and Cb, Cr at half that, rounded
// up, each resized from the source's planes. It skips the RGB image, the
// encoder's conversion back and its chroma averaging, and two thirds of
// the chroma resize. Its pixels are pooled: put them back with putBytes
// once encoded.
func resampleYCbCr(img *image.YCbCr, p plan, scale float64) (*image.YCbCr, []byte) {
	pl := planarViews(img, p, scale)
	defer pl.release()
	cw, ch := (p.w+1)/2, (p.h+1)/2
	ny, nc := p.w*p.h, cw*ch
	buf := getBytes(ny + 2*nc)
	out := &image.YCbCr{Y: buf[:ny:ny], Cb: buf[ny : ny+nc : ny+nc], Cr: buf[ny+nc : ny+2*nc : ny+2*nc],
		YStride: p.w, CStride: cw, SubsampleRatio: image.YCbCrSubsampleRatio420, Rect: image.Rect(0, 0, p.w, p.h)}
	pl.resizeInto(p.w, p.h, out.Y, cw, ch, out.Cb, out.Cr)
	return out, buf
}
