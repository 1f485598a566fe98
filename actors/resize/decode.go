package resize

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"sync"

	"github.com/backlot/backlot/actors/resize/turbojpeg"
	"github.com/backlot/backlot/persistence"
)

// Decoder names this build's JPEG decoder: "libjpeg-turbo" (built with
// cgo) or "go" (image/jpeg, CGO_ENABLED=0). Other formats always decode
// in Go.
func Decoder() string {
	if turbojpeg.Available {
		return "libjpeg-turbo"
	}
	return "go"
}

// decoded is a source image ready for resample: the stored pixels, at a
// reduced size when the decoder scaled them, and how they are shown.
type decoded struct {
	img    image.Image
	w, h   int     // the source's size in pixels, which the plan is made for
	scale  float64 // img's pixels per source pixel: 1, or a DCT scaling factor
	orient int     // Exif orientation (JPEG), 1..8
	pooled []byte  // img's pixels when they came from the pool
}

// release gives img's pixels back to the pool; img is gone after it.
func (d *decoded) release() {
	putBytes(d.pooled)
	*d = decoded{}
}

// decodeSource decodes f, which probe has judged to be info. opts (with
// defaults) tell the JPEG decoder how small it may decode.
func decodeSource(f Source, info Info, opts persistence.Options) (decoded, error) {
	return decodeSourceFallback(f, info, []persistence.Variant{asVariant(opts)}, true)
}

// decodeSourceFallback is decodeSource; without fallback, a JPEG that
// libjpeg-turbo fails on fails here, rather than going to image/jpeg (the
// caller found that image/jpeg would need more memory than it may have).
//
// With several outputs vs the decode serves them all: a JPEG is decoded at
// the DCT scale of the output needing the most pixels (dctScaleAll).
func decodeSourceFallback(f Source, info Info, vs []persistence.Variant, fallback bool) (decoded, error) {
	if info.Format == "jpeg" && turbojpeg.Available {
		// libjpeg-turbo decodes from memory. A file far larger than its
		// pixels could need (junk after the image) is streamed instead.
		if size := f.Size(); size <= 8*int64(info.Width)*int64(info.Height)+1<<20 {
			return decodeTurbo(f, int(size), info, vs, fallback)
		}
	}
	orient := 1
	if info.Format == "jpeg" {
		head := getBytes(exifHeadLen)
		n, _ := f.ReadAt(head, 0) // a read error here shows again in decode
		orient = exifOrientation(head[:n])
		putBytes(head)
	}
	if info.Format == "tiff" {
		// One big strip: re-stripped on the fly (tiffstrip.go).
		if img, ok, err := decodeRestripped(f); ok {
			if err != nil {
				return decoded{}, err
			}
			b := img.Bounds()
			return decoded{img: img, w: b.Dx(), h: b.Dy(), scale: 1, orient: orient}, nil
		}
	}
	s := newSource(f)
	br := getReader(s)
	img, err := decode(info.Format, br)
	putReader(br)
	if err != nil {
		if s.err != nil {
			return decoded{}, fmt.Errorf("read source: %w", s.err)
		}
		return decoded{}, permanent(fmt.Errorf("decode %s: %w", info.Format, err))
	}
	b := img.Bounds()
	return decoded{img: img, w: b.Dx(), h: b.Dy(), scale: 1, orient: orient}, nil
}

// decodeTurbo decodes a JPEG through libjpeg-turbo at the DCT scale
// dctScale picks: a YCbCr or grayscale one to its planes, a CMYK, YCCK or
// RGB one to pixels and then planes (decodePixels). Whatever
// libjpeg-turbo declines (an unusual subsampling, a file image/jpeg would
// refuse) or fails on (truncated or corrupt data, stopped at
// the first warning) goes to image/jpeg, which has the last word: a file
// a pure-Go build decodes (one with a harmless flaw libjpeg warns about,
// say) decodes here too, and one it fails fails here with the same
// message ("decode jpeg: unexpected EOF" for a truncated one), followed
// by libjpeg-turbo's.
func decodeTurbo(file Source, size int, info Info, vs []persistence.Variant, fallback bool) (decoded, error) {
	data, err := readAll(file, size)
	if err != nil {
		return decoded{}, err
	}
	defer putBytes(data)
	orient := exifOrientation(data[:min(len(data), exifHeadLen)])
	img, f, pooled, terr := decodeScaled(data, info, orient, vs)
	if terr == nil {
		return decoded{img: img, w: info.Width, h: info.Height, scale: float64(f.Num) / float64(f.Denom),
			orient: orient, pooled: pooled}, nil
	}
	if !fallback {
		return decoded{}, permanent(fmt.Errorf("decode jpeg: libjpeg-turbo: %v; image/jpeg would need more memory than this node gives one image: %w", terr, ErrTooMuchMemory))
	}
	img, err = jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		var te *turbojpeg.Error
		if errors.As(terr, &te) {
			return decoded{}, permanent(fmt.Errorf("decode jpeg: %w (%v)", err, te))
		}
		return decoded{}, permanent(fmt.Errorf("decode jpeg: %w", err))
	}
	b := img.Bounds()
	return decoded{img: img, w: b.Dx(), h: b.Dy(), scale: 1, orient: orient}, nil
}

// decodeScaled is the libjpeg-turbo decode: planes in a pooled buffer, at
// the factor f.
func decodeScaled(data []byte, info Info, orient int, vs []persistence.Variant) (img image.Image, f turbojpeg.Factor, buf []byte, err error) {
	h, err := turbojpeg.ReadHeader(data)
	if err != nil {
		return nil, f, nil, err
	}
	if h.Pixels && goDecodes(data) {
		return decodePixels(data, h, orient, vs)
	}
	if !h.Planar {
		return nil, f, nil, errors.New("not a YCbCr, grayscale, CMYK, YCCK or RGB JPEG image/jpeg decodes")
	}
	// probe checked the pixel limit on image/jpeg's reading of the header.
	if h.Width != info.Width || h.Height != info.Height {
		return nil, f, nil, fmt.Errorf("libjpeg-turbo reads %dx%d, image/jpeg %dx%d", h.Width, h.Height, info.Width, info.Height)
	}
	cx, cy := 1, 1
	if !h.Gray {
		hs, vs := ycbcrShifts(h.Ratio)
		cx, cy = 1<<hs, 1<<vs
	}
	f = dctScaleAll(loadFactors(), h.Width, h.Height, cx, cy, orient, vs)
	buf = getBytes(h.Size(f))
	img, err = turbojpeg.Decode(data, f, buf)
	if err != nil {
		putBytes(buf)
		return nil, f, nil, err
	}
	return img, f, buf, nil
}

// decodePixels is the libjpeg-turbo decode of a CMYK, YCCK or RGB JPEG:
// packed pixels at the factor f, converted to YCbCr 4:4:4 planes (CMYK
// to RGB through its embedded profile, or as image/draw does without
// one, then RGB to YCbCr) so that resample's planar
// path places the crop between decoded pixels exactly, as for a YCbCr
// JPEG. Against image/jpeg's full decode this keeps the DCT scaling's
// savings, and the memory: a progressive CMYK file holds 2-byte
// coefficients in libjpeg, not image/jpeg's 4-byte ones plus a YCbCr and
// a CMYK copy (24 bytes a pixel in all).
func decodePixels(data []byte, h turbojpeg.Header, orient int, outs []persistence.Variant) (image.Image, turbojpeg.Factor, []byte, error) {
	hs, vs := ycbcrShifts(h.Ratio)
	f := dctScaleAll(loadFactors(), h.Width, h.Height, 1<<hs, 1<<vs, orient, outs)
	px := getBytes(h.PixelSize(f))
	defer putBytes(px)
	m, err := turbojpeg.DecodePixels(data, f, px)
	if err != nil {
		return nil, f, nil, err
	}
	b := m.Bounds()
	w, n := b.Dx(), b.Dx()*b.Dy()
	buf := getBytes(3 * n)
	y := &image.YCbCr{Y: buf[:n:n], Cb: buf[n : 2*n : 2*n], Cr: buf[2*n : 3*n : 3*n],
		YStride: w, CStride: w, SubsampleRatio: image.YCbCrSubsampleRatio444, Rect: b}
	_, cmyk := m.(*image.CMYK)
	p := px[:4*n]
	if cmyk {
		if t := cmykTransform(data); t != nil {
			t.ApplyCMYK(p) // RGB from here on
			cmyk = false
		}
	}
	for i := range n {
		q := p[4*i : 4*i+4 : 4*i+4]
		r, g, bl := q[0], q[1], q[2]
		if cmyk {
			r, g, bl = color.CMYKToRGB(q[0], q[1], q[2], q[3])
		}
		y.Y[i], y.Cb[i], y.Cr[i] = color.RGBToYCbCr(r, g, bl)
	}
	return y, f, buf, nil
}

// goDecodes reports whether image/jpeg decodes the CMYK, YCCK or RGB
// JPEG data too, and as libjpeg does: a 4-component one needs Adobe's
// marker and one of the two samplings image/jpeg takes; a 3-component one
// must be RGB to both. What it refuses goes to image/jpeg, which has the
// last word.
func goDecodes(data []byte) bool {
	fr, ok := readFrame(bytes.NewReader(data), int64(len(data)))
	if !ok {
		return false
	}
	switch fr.n {
	case 4:
		c := fr.comp
		return fr.transform >= 0 && (c == [4][2]int{{1, 1}, {1, 1}, {1, 1}, {1, 1}} || c == [4][2]int{{2, 2}, {1, 1}, {1, 1}, {2, 2}})
	case 3:
		return fr.rgb()
	}
	return false
}

// dctScale picks the strongest reduction among the factors fs that keeps
// the part of a w×h source reaching the output (the cover crop, or all of
// it) at least the resize target's size on each side, so Lanczos only ever
// shrinks (by less than 2×) from the decoded pixels to the output. That is
// sharp's own default (fastShrinkOnLoad: shrink-on-load by 8 once the
// shrink is at least 8, by 4 from 4, by 2 from 2), so both stacks decode
// the same pixels; keeping a 2× margin instead (libvips' thumbnail rule)
// costs 15–20 % more time per image for about 5 dB of PSNR against a
// full-decode Lanczos resize (measured: 43–50 dB instead of 49–51 dB on
// photo-like 4:2:0 inputs; TestQualityScaled keeps every case at 35 dB or
// more). At 1/8 the DCT scaling is a box filter over each 8×8 block (only
// the DC coefficient is kept), at 1/2 and 1/4 a truncated inverse DCT.
// Chroma, which the JPEG stores cx×cy times coarser, must keep at least
// half the target's samples (what a 4:2:0 output keeps), and for 4:1:1
// (cx = 4), whose chroma is already coarse, the target's size in full.
// It returns 1/1 when nothing qualifies, or when opts are invalid
// (makePlan reports that later). orient matters: a cover crop is chosen
// in the shown orientation.
func dctScale(fs []turbojpeg.Factor, w, h, cx, cy, orient int, opts persistence.Options) turbojpeg.Factor {
	best := turbojpeg.Factor{Num: 1, Denom: 1}
	p, err := makePlan(w, h, orient, opts)
	if err != nil {
		return best
	}
	cw, ch := p.crop.Dx(), p.crop.Dy()
	for _, f := range fs {
		if f.Less(best) && cw*f.Num/f.Denom >= chromaMargin(cx)*p.w && ch*f.Num/f.Denom >= chromaMargin(cy)*p.h {
			best = f
		}
	}
	return best
}

// loadFactors are the DCT scales a JPEG is decoded at: those of
// libjpeg-turbo's factors (turbojpeg.Factors) libvips' jpegload has, 1/1,
// 1/2, 1/4 and 1/8, so that sharp (which shrinks on load by 2, 4 or 8)
// and Backlot decode the same pixels for the same box. Those are also
// the scales libjpeg-turbo has SIMD code for (its 7/8, 3/4, 5/8 and 3/8
// IDCTs are plain C): a 1920x1080 JPEG for a 1600x900 output decodes in
// less CPU at 1/1 than at 7/8, Lanczos from 1920 columns included
// (BenchmarkVariants), and its WebP is closer to sharp's (SSIM 0.965
// against 0.940: bench/variants.sh).
var loadFactors = sync.OnceValue(func() []turbojpeg.Factor { return jpegloadFactors(turbojpeg.Factors()) })

// jpegloadFactors is fs without the factors libvips' jpegload lacks.
func jpegloadFactors(fs []turbojpeg.Factor) []turbojpeg.Factor {
	var out []turbojpeg.Factor
	for _, f := range fs {
		switch f {
		case turbojpeg.Factor{Num: 1, Denom: 1}, turbojpeg.Factor{Num: 1, Denom: 2},
			turbojpeg.Factor{Num: 1, Denom: 4}, turbojpeg.Factor{Num: 1, Denom: 8}:
			out = append(out, f)
		}
	}
	return out
}

// dctScaleAll is the least reduction dctScale picks for any of the
// outputs vs: the one decode that serves every variant, each smaller one
// resized from it.
func dctScaleAll(fs []turbojpeg.Factor, w, h, cx, cy, orient int, vs []persistence.Variant) turbojpeg.Factor {
	var best turbojpeg.Factor
	for i, v := range vs {
		if f := dctScale(fs, w, h, cx, cy, orient, persistence.Single(v)); i == 0 || best.Less(f) {
			best = f
		}
	}
	if len(vs) == 0 {
		return turbojpeg.Factor{Num: 1, Denom: 1}
	}
	return best
}

// chromaMargin is how many times the target a window side must keep after
// a DCT-scaled decode, given its chroma subsampling c along that side: once
// for full or half chroma (see dctScale), c times for quarter chroma.
func chromaMargin(c int) int {
	if c <= 2 {
		return 1
	}
	return c
}

// readAll reads the size bytes of f into a pooled buffer. A read error is
// I/O, worth a retry.
func readAll(f io.ReaderAt, size int) ([]byte, error) {
	buf := getBytes(size)
	n, err := f.ReadAt(buf, 0)
	if err != nil && err != io.EOF { // io.EOF: the file shrank; decode what is there
		putBytes(buf)
		return nil, fmt.Errorf("read source: %w", err)
	}
	return buf[:n], nil
}
