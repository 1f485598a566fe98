package resize

import "image"

// ladder holds the intermediates the variants of one image are resized
// from: the decoded planes (rung 0), then each rung a 2×2 box average of
// the one before, made only when a variant needs it. Each variant is
// resized from the smallest rung that still holds at least its target's
// samples over its crop (the rule dctScale applies to the decode), so
// Lanczos only ever shrinks by less than 2× and a thumbnail costs a
// thumbnail's work although the decode was made for the largest variant:
// the half-size rung is what a decode for the smaller variant alone would
// have had (libjpeg-turbo's 1/2 scale, which dctScale would have picked).
//
// Only planar decodes (*image.YCbCr, *image.Gray at the origin) climb;
// any other image stays one rung.
type ladder struct {
	rungs  []rung
	cx, cy int  // chroma subsampling, as dctScale counts it
	climb  bool // false: every pick is rung 0
}

type rung struct {
	img    image.Image
	scale  float64 // pixels per source pixel
	pooled []byte
}

func newLadder(d decoded, climb bool) *ladder {
	l := &ladder{rungs: []rung{{img: d.img, scale: d.scale}}, cx: 1, cy: 1, climb: climb}
	if m, ok := d.img.(*image.YCbCr); ok {
		hs, vs := ycbcrShifts(m.SubsampleRatio)
		l.cx, l.cy = 1<<hs, 1<<vs
	}
	return l
}

// pick returns the image and scale to resize p from.
func (l *ladder) pick(p plan) (image.Image, float64) {
	fits := func(s float64) bool {
		return float64(p.crop.Dx())*s >= float64(chromaMargin(l.cx)*p.w) &&
			float64(p.crop.Dy())*s >= float64(chromaMargin(l.cy)*p.h)
	}
	i := 0
	for l.climb {
		next := l.rungs[i].scale / 2
		if !fits(next) {
			break
		}
		if i+1 == len(l.rungs) {
			r, ok := halve(l.rungs[i])
			if !ok {
				break
			}
			l.rungs = append(l.rungs, r)
		}
		i++
	}
	return l.rungs[i].img, l.rungs[i].scale
}

// release gives the rungs it made back to the pool (rung 0 is the
// decode's, released with it).
func (l *ladder) release() {
	for _, r := range l.rungs[1:] {
		putBytes(r.pooled)
	}
	l.rungs = l.rungs[:1]
}

// halve is r at half the size, each plane 2×2 box-averaged (an odd last
// row or column averaged with itself); ok is false for an image that is
// not planar at the origin or is too small to halve.
func halve(r rung) (rung, bool) {
	b := r.img.Bounds()
	if b.Min != (image.Point{}) || b.Dx() < 2 || b.Dy() < 2 {
		return rung{}, false
	}
	w, h := (b.Dx()+1)/2, (b.Dy()+1)/2
	switch m := r.img.(type) {
	case *image.Gray:
		buf := getBytes(w * h)
		halvePlane(buf, w, h, m.Pix, m.Stride, b.Dx(), b.Dy())
		return rung{img: &image.Gray{Pix: buf[:w*h], Stride: w, Rect: image.Rect(0, 0, w, h)}, scale: r.scale / 2, pooled: buf}, true
	case *image.YCbCr:
		hs, vs := ycbcrShifts(m.SubsampleRatio)
		scw, sch := (b.Dx()+(1<<hs)-1)>>hs, (b.Dy()+(1<<vs)-1)>>vs // the source's chroma planes
		cw, ch := (w+(1<<hs)-1)>>hs, (h+(1<<vs)-1)>>vs
		ny, nc := w*h, cw*ch
		buf := getBytes(ny + 2*nc)
		y := &image.YCbCr{Y: buf[:ny:ny], Cb: buf[ny : ny+nc : ny+nc], Cr: buf[ny+nc : ny+2*nc : ny+2*nc],
			YStride: w, CStride: cw, SubsampleRatio: m.SubsampleRatio, Rect: image.Rect(0, 0, w, h)}
		halvePlane(y.Y, w, h, m.Y, m.YStride, b.Dx(), b.Dy())
		halvePlane(y.Cb, cw, ch, m.Cb, m.CStride, scw, sch)
		halvePlane(y.Cr, cw, ch, m.Cr, m.CStride, scw, sch)
		return rung{img: y, scale: r.scale / 2, pooled: buf}, true
	}
	return rung{}, false
}

// halvePlane writes the dw×dh 2×2 box average of the sw×sh plane src
// into dst (stride dw); dw = ceil(sw/2), dh = ceil(sh/2), except that a
// plane of one sample a side keeps it.
func halvePlane(dst []uint8, dw, dh int, src []uint8, stride, sw, sh int) {
	even := sw / 2 // output columns with two source columns
	for j := range dh {
		r0 := src[min(2*j, sh-1)*stride:][:sw]
		r1 := src[min(2*j+1, sh-1)*stride:][:sw]
		d := dst[j*dw : j*dw+dw]
		halveRow(d, r0, r1, even)
		if even < dw { // an odd last column, averaged with itself
			d[even] = uint8((2*uint32(r0[sw-1]) + 2*uint32(r1[sw-1]) + 2) >> 2)
		}
	}
}

// halveRowGo is halveRow in Go: the pure-Go build's, and what the C one
// is tested against.
func halveRowGo(d, r0, r1 []uint8, even int) {
	for i := range even {
		a, b := r0[2*i:2*i+2], r1[2*i:2*i+2]
		d[i] = uint8((uint32(a[0]) + uint32(a[1]) + uint32(b[0]) + uint32(b[1]) + 2) >> 2)
	}
}

// ladderCost bounds the rungs above a planar form of n planes (chroma
// subsampled by 1<<hs, 1<<vs) that variants vs can climb to: a quarter of
// the planes' bytes, a sixteenth, …, each rounded up to the pool's power
// of two, while some variant still fits (see pick).
func ladderCost(fm form, crops []plan) int64 {
	if !fm.planar || len(crops) < 2 {
		return 0
	}
	cx, cy := 1<<fm.hs, 1<<fm.vs
	if fm.n == 1 {
		cx, cy = 1, 1
	}
	var c int64
	w, h, s := fm.w, fm.h, fm.scale
	for w >= 2 && h >= 2 {
		s /= 2
		any := false
		for _, p := range crops {
			if float64(p.crop.Dx())*s >= float64(chromaMargin(cx)*p.w) && float64(p.crop.Dy())*s >= float64(chromaMargin(cy)*p.h) {
				any = true
			}
		}
		if !any {
			break
		}
		w, h = (w+1)/2, (h+1)/2
		planes := int64(w) * int64(h)
		if fm.n == 3 {
			planes += 2 * int64((w+cx-1)/cx) * int64((h+cy-1)/cy)
		}
		c += pow2(planes)
	}
	return c
}
