package resize

import (
	"encoding/binary"
	"image"
	"image/color"
	"io"
	"math"
	"math/bits"
	"runtime"

	"github.com/backlot/backlot/actors/resize/turbojpeg"
	"github.com/backlot/backlot/persistence"
)

// Footprint is the most memory, in bytes, that one attempt of Process on
// the image src with opts can hold at once, worked out from the
// header alone before any pixel is decoded: the decoder's buffers and the
// decoded pixels (width × height × channels × bytes per sample, in the
// type the decoder really returns: a 16-bit RGBA PNG is an NRGBA64 of 8
// bytes a pixel), the conversion copies decoders make (image/jpeg's
// progressive coefficients and its CMYK and RGB conversions, image/png's
// interlace passes, x/image's WebP and TIFF buffers), libjpeg-turbo's own
// memory (its progressive coefficients), and the resize's intermediate
// and output buffers and the encoder's. Pooled buffers count at the
// power-of-two capacity the pool gives them.
//
// It is an upper bound, not a guess: footprint_test.go decodes real
// images of every kind and checks that all the Go memory an attempt
// allocates (runtime.MemStats.TotalAlloc), and on Linux the process's
// peak RSS, stay under it. So it over-counts: the stages are added up
// although each frees most of what the one before held, and a JPEG that
// libjpeg-turbo decodes also reserves what image/jpeg would need if
// libjpeg-turbo failed on it (a truncated file). At 7000x7000 (49 MP),
// made a thumbnail: a 16-bit RGBA PNG 378 MiB, an 8-bit one 191 MiB, a
// baseline 4:2:0 JPEG 76 MiB, a progressive one 357 MiB (143 MiB of it
// libjpeg's), a progressive YCCK one 1133 MiB (376 MiB libjpeg's, the
// rest image/jpeg's fallback), a 16-bit RGBA TIFF in one deflated strip
// 394 MiB (re-stripped: tiffstrip.go); see TestFootprintOfTheLargest.
//
// Errors are Probe's.
func Footprint(src Source, opts persistence.Options, maxPixels int64) (int64, error) {
	info, cfg, err := probeConfig(src, maxPixels)
	if err != nil {
		return 0, err
	}
	vs, err := variantsOf(opts)
	if err != nil {
		return 0, permanent(err)
	}
	need, _ := footprintOuts(src, info, cfg, vs, true)
	return need, nil
}

// fixedCost covers what does not grow with the image: readers and
// writers (pooled, 32 KiB each), decoder state and tables, zlib and
// flate state, spans and small slices.
const fixedCost = 2 << 20

// footprint is Footprint on a source that probe judged to be info
// (cfg: its header's configuration) and options with their defaults. Of
// need, native is C's (libjpeg-turbo's), which Go's collector does not
// see (Budget.OnNative).
func footprint(f Source, info Info, cfg image.Config, opts persistence.Options) (need, native int64) {
	return footprintOf(f, info, cfg, opts, true)
}

// footprintOf is footprint; without fallback, a JPEG that libjpeg-turbo
// decodes to planes is counted as if it never failed (the tests check
// that part alone against the process's resident memory).
func footprintOf(f Source, info Info, cfg image.Config, opts persistence.Options, fallback bool) (need, native int64) {
	return footprintOuts(f, info, cfg, []persistence.Variant{asVariant(opts)}, fallback)
}

// footprintOuts is footprintOf for an attempt making the outputs vs
// (defaults filled in) from one decode, at the scale the largest needs:
// the decode's cost once, then each output's resize and encode, added up
// although they run one after the other (like the stages, see
// Footprint: an upper bound of what the attempt allocates). Native
// memory counts the largest encoder's, as they run one at a time.
func footprintOuts(f Source, info Info, cfg image.Config, vs []persistence.Variant, fallback bool) (need, native int64) {
	size := f.Size()
	w, h := int64(info.Width), int64(info.Height)
	px := w * h
	orient := 1
	if info.Format == "jpeg" {
		head := getBytes(exifHeadLen)
		n, _ := f.ReadAt(head, 0)
		orient = exifOrientation(head[:n])
		putBytes(head)
	}

	// What decoding holds, and the forms its result can take (the resize
	// after it costs what the form needs).
	var dec int64
	var forms []form
	switch info.Format {
	case "jpeg":
		dec, native, forms = jpegCost(f, info, size, orient, vs, fallback)
	case "png":
		bpp := modelBytes(cfg.ColorModel)
		dec = bpp * px * pngPasses(f)
		dec += 4 * (1 + bpp*w) // current and previous rows
		forms = []form{anyForm(info)}
		if cfg.ColorModel == color.GrayModel {
			forms = []form{planarForm(info, 1, 0, 0)}
		}
	case "gif":
		// The first frame (never larger than the screen) and, when
		// interlaced, its de-interlaced copy.
		dec = 2 * px
		forms = []form{anyForm(info)}
	case "bmp":
		dec = modelBytes(cfg.ColorModel)*px + 4*w + 4
		forms = []form{anyForm(info)}
	case "webp":
		// x/image pads lossy frames to whole 16x16 macroblocks.
		pad := (w + 15) / 16 * 16 * ((h + 15) / 16 * 16)
		switch cfg.ColorModel {
		case color.YCbCrModel: // lossy: 4:2:0 planes, the frame's data, per-macroblock state
			dec = pad*3/2 + pad/16 + size
			forms = []form{planarForm(info, 3, 1, 1)}
		case color.NYCbCrAModel: // lossy with alpha: the alpha plane is a lossless image of its own
			dec = pad*3/2 + pad/16 + size + 10*px + px
			fm := anyForm(info)
			fm.boxed = true
			forms = []form{fm}
		default: // lossless: the pixels, a colour-indexing transform's copy, the transforms' images
			dec = 10*px + size
			forms = []form{anyForm(info)}
		}
	case "tiff":
		// The file read into memory by the probe, up to its IFD (grown
		// in steps: x/image/tiff writes the IFD last), and the image.
		// The plain decode reads the file into memory again and
		// inflates each strip or tile into a bytes.Buffer (up to 4x
		// what it holds, garbage included); restrip reads the file
		// where it lies and holds one synthesised strip at a time
		// (tiffPlan.cost).
		bpp := modelBytes(cfg.ColorModel)
		if tp := planTiff(f, size, restripMin, restripTarget); tp != nil {
			dec = 5*size + bpp*px + tp.cost()
		} else {
			dec = 5*size + 5*bpp*px
		}
		forms = []form{anyForm(info)}
		if cfg.ColorModel == color.GrayModel {
			forms = []form{planarForm(info, 1, 0, 0)}
		}
	case "heic", "heif", "avif":
		// The file read whole (io.ReadAll: up to twice its size), the
		// NRGBA pixels, and libheif's memory (heifNative).
		native = heifNative(info.Width, info.Height)
		dec = 2*size + 4*px + native
		forms = []form{anyForm(info)}
	default:
		dec = 24 * px
		forms = []form{anyForm(info)}
	}
	need = dec + fixedCost
	var encNative int64
	plans := make([]plan, 0, len(vs))
	for _, v := range vs {
		opts := persistence.Single(v)
		p, perr := makePlan(info.Width, info.Height, orient, opts)
		if perr != nil { // the attempt fails once decoded, before this resize
			break
		}
		plans = append(plans, p)
		var rs int64
		for _, fm := range forms {
			// Resampled from the decode, or from a smaller rung of the
			// ladder (ladder.go), which costs less: the decode's form
			// bounds both.
			rs = max(rs, fm.resampleCost(p))
		}
		encNative = max(encNative, encoderNativeOf(p, opts))
		need += rs + encodeCost(p, opts)
	}
	var rungs int64
	for _, fm := range forms {
		rungs = max(rungs, ladderCost(fm, plans))
	}
	return need + rungs, native + encNative
}

// form is what a decode hands to resample: planes (resamplePlanar: n of
// them, chroma subsampled by 1<<hs, 1<<vs) or any other image
// (resampleAny, planar == 0), w×h decoded pixels at scale decoded pixels
// per source pixel.
type form struct {
	planar bool
	// boxed: imaging reads this type pixel by pixel through At, which
	// allocates each colour (4 bytes: CMYK, NYCbCrA), when it resizes
	// it without a pre-shrink. Garbage, but garbage the collector must
	// catch up with.
	boxed  bool
	n      int
	w, h   int
	scale  float64
	hs, vs int
}

func anyForm(info Info) form { return form{w: info.Width, h: info.Height, scale: 1} }

func planarForm(info Info, n, hs, vs int) form {
	return form{planar: true, n: n, w: info.Width, h: info.Height, scale: 1, hs: hs, vs: vs}
}

// pow2 is the capacity the buffer pools give a request of n: the next
// power of two.
func pow2(n int64) int64 {
	if n <= 0 {
		return 0
	}
	return 1 << bits.Len64(uint64(n-1))
}

// blockCount is how many runs blocks(n, t) makes, and whether it makes
// any (a pre-shrink of at least 2x).
func blockCount(n, t int) (int, bool) {
	k := n / (2 * t)
	if k < 2 {
		return n, false
	}
	return n / k, true
}

// resampleCost bounds what resample allocates for this form and plan, its
// output and the orientation's copy of it included.
func (fm form) resampleCost(p plan) int64 {
	out := 4 * int64(p.w) * int64(p.h)
	if p.orient != 1 {
		out *= 2
	}
	if !fm.planar {
		cw, ch := p.crop.Dx(), p.crop.Dy()
		nx, sx := blockCount(cw, p.w)
		ny, sy := blockCount(ch, p.h)
		if !sx && !sy {
			c := imagingCost(cw, ch, p.w, p.h) + out
			if fm.boxed {
				c += 4 * int64(cw) * int64(ch)
			}
			return c
		}
		// shrinkAny: a row, the shrunk RGBA, its sums; then imaging.
		c := pow2(4*int64(cw)) + pow2(4*int64(nx)*int64(ny)) + 32*int64(nx) + 32*int64(nx+ny)
		return c + imagingCost(nx, ny, p.w, p.h) + out
	}
	// resamplePlanar, on the luma pixels the window overlaps.
	lx := min(fm.w, int(math.Ceil(float64(p.crop.Dx())*fm.scale))+2)
	ly := min(fm.h, int(math.Ceil(float64(p.crop.Dy())*fm.scale))+2)
	nx, sx := blockCount(lx, p.w)
	ny, sy := blockCount(ly, p.h)
	n := int64(fm.n)
	var c int64
	if sx || sy { // shrinkYCbCr or shrinkGray: the planes, spans, centres, sums
		c += pow2(n*int64(nx)*int64(ny)) + 128*int64(nx+ny) + 8*n*int64(nx)
	} else { // planeView: sample positions of each plane
		c += 8 * n * int64(lx+ly)
	}
	c += pow2(n * int64(p.w) * int64(p.h))           // the resized planes
	c += 4 * pow2(int64(p.h)*int64(nx))              // the vertical pass's scratch
	c += 2 * (tapsCost(nx, p.w) + tapsCost(ny, p.h)) // luma's and chroma's
	return c + out
}

// tapsCost bounds weigh's tables for n outputs from s samples.
func tapsCost(s, n int) int64 {
	return 8*(2*int64(n)+1) + 4*(6*int64(max(s, n))+9*int64(n))
}

// imagingCost bounds imaging.Resize from sw×sh to dw×dh (the Lanczos of
// resampleAny): each pass's image, its weights (16-byte index and weight
// pairs), the channel of rows and a scan line per goroutine.
func imagingCost(sw, sh, dw, dh int) int64 {
	procs := int64(runtime.GOMAXPROCS(0))
	weights := func(d, s int) int64 {
		ru := int64(math.Ceil(3 * max(float64(s)/float64(d), 1)))
		return 16*2*int64(d)*(ru+2) + 24*int64(d)
	}
	var c int64
	if sw != dw {
		c += 4*int64(dw)*int64(sh) + weights(dw, sw) + 8*int64(sh) + procs*4*int64(sw)
	}
	if sh != dh {
		c += 4*int64(dw)*int64(dh) + weights(dh, sh) + 8*int64(dw) + procs*4*int64(sh)
	}
	if sw == dw && sh == dh {
		c += 4 * int64(dw) * int64(dh) // Clone
	}
	return c
}

// encodeCost bounds the encode of the p.outW×p.outH result: a gray copy,
// libjpeg-turbo's output buffer (pooled) and state, or the PNG encoder's
// rows and flate state.
func encodeCost(p plan, opts persistence.Options) int64 {
	w, h := int64(p.outW), int64(p.outH)
	c := w * h // encodable's gray copy
	switch opts.Format {
	case persistence.FormatPNG:
		return c + 6*(1+4*w) + 2<<20
	case persistence.FormatWebP, persistence.FormatAVIF:
		return c + encoderNativeOf(p, opts) + 64<<10
	}
	if turbojpeg.Available {
		c += pow2(int64(turbojpeg.EncodeBound(p.outW, p.outH, false))) + encoderNative(p)
	}
	return c + 64<<10
}

// encoderNativeOf is the encoder's memory outside Go's heap for opts'
// format (codecNative: WebP and AVIF).
func encoderNativeOf(p plan, opts persistence.Options) int64 {
	switch opts.Format {
	case persistence.FormatJPEG:
		if turbojpeg.Available {
			return encoderNative(p)
		}
	case persistence.FormatWebP, persistence.FormatAVIF:
		return codecNative(opts.Format, p.outW, p.outH)
	}
	return 0
}

// encoderNative is libjpeg-turbo's compressor's own memory: a few rows of
// blocks.
func encoderNative(p plan) int64 { return 1<<20 + 64*int64(p.outW) }

// modelBytes is the bytes per pixel of the image type a decoder returns
// for a header's colour model; 8, the most any returns, when unknown.
func modelBytes(m color.Model) int64 {
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	switch m {
	case color.GrayModel, color.AlphaModel:
		return 1
	case color.Gray16Model, color.Alpha16Model:
		return 2
	case color.RGBAModel, color.NRGBAModel, color.CMYKModel:
		return 4
	}
	return 8
}

// pngPasses is 2 for an interlaced PNG (image/png decodes each of the
// seven passes into an image of its own, then copies it into the whole
// one), else 1. IHDR is the first chunk, its interlace method byte at
// offset 28; a header that cannot be read counts as interlaced.
func pngPasses(r io.ReaderAt) int64 {
	var b [29]byte
	if n, _ := r.ReadAt(b[:], 0); n == len(b) && string(b[12:16]) == "IHDR" && b[28] == 0 {
		return 1
	}
	return 2
}

// jpegCost is what decoding a JPEG holds, and the forms of its result.
func jpegCost(f Source, info Info, size int64, orient int, vs []persistence.Variant, fallback bool) (dec, native int64, forms []form) {
	fr, ok := readFrame(f, size)
	if !ok {
		// A frame header this scan cannot read, although image/jpeg's
		// could: assume the worst, a progressive 4:4:4 CMYK frame.
		fr = frame{progressive: true, n: 4, transform: -1}
		for i := range fr.comp {
			fr.comp[i] = [2]int{1, 1}
		}
	}
	w, h := int64(info.Width), int64(info.Height)
	goDec, goForm := fr.goCost(info)
	if !turbojpeg.Available || size > 8*w*h+1<<20 {
		// image/jpeg, streamed (decodeSource), after a look at the Exif.
		return pow2(exifHeadLen) + goDec, 0, []form{goForm}
	}
	// libjpeg-turbo from the file's bytes (decodeTurbo): the bytes, the
	// planes at the DCT scale and libjpeg's own memory; image/jpeg, from
	// the same bytes, when libjpeg-turbo declines or fails.
	dec = pow2(size)
	forms = []form{goForm}
	hd, hs, vsh := fr.turboHeader(info)
	switch {
	case hd.Pixels: // decodePixels: pixels at the DCT scale, then 4:4:4 planes
		s := dctScaleAll(loadFactors(), info.Width, info.Height, 1<<hs, 1<<vsh, orient, vs)
		sw, sh := int64(s.Scale(info.Width)), int64(s.Scale(info.Height))
		dec += pow2(int64(hd.PixelSize(s))) + pow2(3*sw*sh)
		if !fallback {
			forms = nil
		}
		forms = append(forms, form{planar: true, n: 3, w: int(sw), h: int(sh),
			scale: float64(s.Num) / float64(s.Denom)})
	case !hd.Planar:
		fallback = true // image/jpeg decodes it
	default:
		fs := loadFactors()
		s := dctScaleAll(fs, info.Width, info.Height, 1<<hs, 1<<vsh, orient, vs)
		dec += pow2(int64(hd.Size(s)))
		n := 3
		if hd.Gray {
			n = 1
		}
		if !fallback {
			forms = nil
		}
		forms = append(forms, form{planar: true, n: n, w: s.Scale(info.Width), h: s.Scale(info.Height),
			scale: float64(s.Num) / float64(s.Denom), hs: hs, vs: vsh})
	}
	// libjpeg keeps a progressive file's coefficients, 2 bytes each, for
	// the whole image; a sequential one needs a few rows of blocks.
	turboC := 1<<20 + 64*w
	if fr.progressive {
		turboC += 128 * fr.blocks(info)
	}
	if !fallback {
		return dec + turboC, turboC, forms
	}
	return dec + max(turboC, goDec), turboC, forms
}

// frame is what a JPEG's frame header and the markers before its first
// scan say about its decode.
type frame struct {
	progressive bool
	n           int       // components
	comp        [4][2]int // sampling factors h, v
	ids         [4]byte
	transform   int // Adobe APP14 transform, -1 when there is none
	jfif        bool
}

// readFrame scans f's markers from SOI to the first SOS for the frame
// header (SOFn), Adobe's APP14 and JFIF's APP0, reading only their
// segments. A file it cannot follow reports !ok.
func readFrame(r io.ReaderAt, size int64) (frame, bool) {
	fr := frame{transform: -1}
	var hdr [4]byte
	found := false
	off := int64(2) // after SOI
	for range 1 << 12 {
		if _, err := r.ReadAt(hdr[:2], off); err != nil || hdr[0] != 0xff {
			return fr, false
		}
		m := hdr[1]
		switch {
		case m == 0xff: // fill byte
			off++
			continue
		case m == 0x01 || m >= 0xd0 && m <= 0xd8: // no length
			off += 2
			continue
		case m == 0xda || m == 0xd9: // SOS, EOI
			return fr, found
		}
		if _, err := r.ReadAt(hdr[2:4], off+2); err != nil {
			return fr, false
		}
		n := int64(binary.BigEndian.Uint16(hdr[2:4]))
		if n < 2 || off+2+n > size {
			return fr, false
		}
		isSOF := m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc
		if isSOF || m == 0xee || m == 0xe0 {
			seg := make([]byte, min(n-2, 64))
			if _, err := r.ReadAt(seg, off+4); err != nil {
				return fr, false
			}
			switch {
			case isSOF:
				if len(seg) < 6 || int(seg[5]) < 1 || int(seg[5]) > 4 || len(seg) < 6+3*int(seg[5]) {
					return fr, false
				}
				fr.progressive = m == 0xc2 || m == 0xc6 || m == 0xca || m == 0xce
				fr.n = int(seg[5])
				for i := range fr.n {
					c := seg[6+3*i:]
					fr.ids[i] = c[0]
					fr.comp[i] = [2]int{max(1, int(c[1]>>4)), max(1, int(c[1]&15))}
				}
				found = true
			case m == 0xee && len(seg) >= 12 && string(seg[:5]) == "Adobe":
				fr.transform = int(seg[11])
			case m == 0xe0 && len(seg) >= 5 && string(seg[:5]) == "JFIF\x00":
				fr.jfif = true
			}
		}
		off += 2 + n
	}
	return fr, false
}

// mcus is the image's size in MCUs, as image/jpeg counts them (from the
// first component's sampling; one block for a grayscale image).
func (fr frame) mcus(info Info) (int64, int64) {
	h0, v0 := fr.comp[0][0], fr.comp[0][1]
	if fr.n == 1 {
		h0, v0 = 1, 1
	}
	if fr.n > 1 { // libjpeg counts from the largest factors
		for _, c := range fr.comp[:fr.n] {
			h0, v0 = max(h0, c[0]), max(v0, c[1])
		}
	}
	return int64((info.Width + 8*h0 - 1) / (8 * h0)), int64((info.Height + 8*v0 - 1) / (8 * v0))
}

// blocks is the 8x8 blocks of all components, whole MCUs.
func (fr frame) blocks(info Info) int64 {
	mx, my := fr.mcus(info)
	if fr.n == 1 {
		return mx * my
	}
	var b int64
	for _, c := range fr.comp[:fr.n] {
		b += int64(c[0]*c[1]) * mx * my
	}
	return b
}

// rgb reports whether image/jpeg converts the three components to RGBA
// (Adobe transform 0, or components named R, G, B without JFIF).
func (fr frame) rgb() bool {
	if fr.n != 3 || fr.jfif {
		return false
	}
	if fr.transform >= 0 {
		return fr.transform == 0
	}
	return fr.ids[0] == 'R' && fr.ids[1] == 'G' && fr.ids[2] == 'B'
}

// goCost is what image/jpeg holds for this frame: the planes (whole MCUs),
// a progressive file's coefficients (4 bytes each), and the RGBA or CMYK
// copy of a 3-component RGB or a 4-component image; and the form of its
// result.
func (fr frame) goCost(info Info) (int64, form) {
	px := int64(info.Width) * int64(info.Height)
	b := fr.blocks(info)
	c := 64 * b
	if fr.progressive {
		c += 256 * b
	}
	if fr.n == 4 || fr.rgb() {
		fm := anyForm(info)
		fm.boxed = fr.n == 4 // an *image.CMYK; RGB ones are *image.RGBA
		return c + 4*px, fm
	}
	if fr.n == 1 {
		return c, planarForm(info, 1, 0, 0)
	}
	_, hs, vs := fr.turboHeader(info)
	return c, planarForm(info, 3, hs, vs)
}

// turboHeader is the header libjpeg-turbo would report (Planar only for
// the samplings it decodes to planes, Pixels for the CMYK, YCCK and RGB
// frames decodePixels takes), and the chroma shifts.
func (fr frame) turboHeader(info Info) (turbojpeg.Header, int, int) {
	hd := turbojpeg.Header{Width: info.Width, Height: info.Height}
	c := fr.comp
	// The 3-component samplings libjpeg-turbo names (chroma at 1x1).
	ratio, named := map[[2]int]image.YCbCrSubsampleRatio{
		{1, 1}: image.YCbCrSubsampleRatio444, {2, 1}: image.YCbCrSubsampleRatio422,
		{2, 2}: image.YCbCrSubsampleRatio420, {1, 2}: image.YCbCrSubsampleRatio440,
		{4, 1}: image.YCbCrSubsampleRatio411,
	}[c[0]]
	named = named && c[1] == [2]int{1, 1} && c[2] == [2]int{1, 1}
	switch {
	case fr.n == 4 && fr.transform >= 0 && c == [4][2]int{{1, 1}, {1, 1}, {1, 1}, {1, 1}}:
		hd.Pixels, hd.CMYK = true, true
	case fr.n == 4 && fr.transform >= 0 && c == [4][2]int{{2, 2}, {1, 1}, {1, 1}, {2, 2}}:
		hd.Pixels, hd.CMYK, hd.Ratio = true, true, image.YCbCrSubsampleRatio420
	case fr.n == 1:
		hd.Planar, hd.Gray = true, true
	case fr.n == 3 && named:
		hd.Pixels, hd.Planar, hd.Ratio = fr.rgb(), !fr.rgb(), ratio
	}
	hs, vs := ycbcrShifts(hd.Ratio)
	return hd, hs, vs
}
