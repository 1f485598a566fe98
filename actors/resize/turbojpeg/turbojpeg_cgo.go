//go:build cgo && !noturbojpeg

package turbojpeg

/*
#cgo LDFLAGS: -lturbojpeg
#include <stdio.h>
#include <turbojpeg.h>

// bl_result carries everything out of one C call, failures included:
// TurboJPEG 2.1 keeps libjpeg's messages in a thread-local buffer, and a
// goroutine may run on another thread by its next cgo call.
typedef struct {
	int width, height;       // stored size, or decoded (scaled) size after bl_decode
	int subsamp, colorspace; // TJSAMP_*, TJCS_*
	int ystride, yheight;    // luma plane
	int cstride, cheight;    // each chroma plane; 0 for grayscale
	int failed, warning;
	char msg[200];
} bl_result;

static void bl_fail(tjhandle h, bl_result *r) {
	r->failed = 1;
	r->warning = tjGetErrorCode(h) == TJERR_WARNING;
	snprintf(r->msg, sizeof r->msg, "%s", tjGetErrorStr2(h));
}

static bl_result bl_header(tjhandle h, const unsigned char *jpeg, unsigned long size) {
	bl_result r = {0};
	if (tjDecompressHeader3(h, jpeg, size, &r.width, &r.height, &r.subsamp, &r.colorspace) != 0)
		bl_fail(h, &r);
	return r;
}

// bl_decode decodes jpeg scaled by num/denom (one of tjGetScalingFactors)
// into Y, Cb, Cr planes laid out one after another in buf. The layout is
// computed here from this call's own header read, so a buffer too small
// is an error, never an overflow.
static bl_result bl_decode(tjhandle h, const unsigned char *jpeg, unsigned long size,
                           int num, int denom, unsigned char *buf, unsigned long buflen) {
	bl_result r = bl_header(h, jpeg, size);
	if (r.failed)
		return r;
	int gray = r.colorspace == TJCS_GRAY && r.subsamp == TJSAMP_GRAY;
	if (!gray && !(r.colorspace == TJCS_YCbCr && r.subsamp >= 0 && r.subsamp < TJ_NUMSAMP)) {
		r.failed = 1;
		snprintf(r.msg, sizeof r.msg, "colorspace %d, subsampling %d: not decoded to planes",
		         r.colorspace, r.subsamp);
		return r;
	}
	r.width = TJSCALED(r.width, ((tjscalingfactor){num, denom}));
	r.height = TJSCALED(r.height, ((tjscalingfactor){num, denom}));
	r.ystride = tjPlaneWidth(0, r.width, r.subsamp);
	r.yheight = tjPlaneHeight(0, r.height, r.subsamp);
	if (!gray) {
		r.cstride = tjPlaneWidth(1, r.width, r.subsamp);
		r.cheight = tjPlaneHeight(1, r.height, r.subsamp);
	}
	unsigned long ysize = (unsigned long)r.ystride * r.yheight;
	unsigned long csize = (unsigned long)r.cstride * r.cheight;
	if (r.ystride < 1 || r.yheight < 1 || r.cstride < 0 || r.cheight < 0 || ysize + 2 * csize > buflen) {
		r.failed = 1;
		snprintf(r.msg, sizeof r.msg, "buffer of %lu bytes, need %lu", buflen, ysize + 2 * csize);
		return r;
	}
	unsigned char *planes[3] = {buf, buf + ysize, buf + ysize + csize};
	int strides[3] = {r.ystride, r.cstride, r.cstride};
	// STOPONWARNING: a truncated or corrupt file fails at once instead of
	// decoding to grey. LIMITSCANS: at most 500 progressive scans, a guard
	// against files built to make decoding slow.
	if (tjDecompressToYUVPlanes(h, jpeg, size, planes, r.width, strides, r.height,
	                            TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS) != 0)
		bl_fail(h, &r);
	return r;
}

// bl_decode_pixels decodes a CMYK or YCCK jpeg (to TJPF_CMYK, each byte
// then inverted: libjpeg keeps Adobe's inverted CMYK, image/jpeg returns
// it the right way up) or an RGB one (to TJPF_RGBA), scaled by
// num/denom, into buf as packed pixels, rows width*4 bytes apart.
static bl_result bl_decode_pixels(tjhandle h, const unsigned char *jpeg, unsigned long size,
                                  int num, int denom, unsigned char *buf, unsigned long buflen) {
	bl_result r = bl_header(h, jpeg, size);
	if (r.failed)
		return r;
	int pf;
	if (r.colorspace == TJCS_CMYK || r.colorspace == TJCS_YCCK)
		pf = TJPF_CMYK;
	else if (r.colorspace == TJCS_RGB)
		pf = TJPF_RGBA;
	else {
		r.failed = 1;
		snprintf(r.msg, sizeof r.msg, "colorspace %d: not decoded to CMYK or RGB pixels", r.colorspace);
		return r;
	}
	r.width = TJSCALED(r.width, ((tjscalingfactor){num, denom}));
	r.height = TJSCALED(r.height, ((tjscalingfactor){num, denom}));
	r.ystride = r.width * 4;
	r.yheight = r.height;
	unsigned long need = (unsigned long)r.ystride * r.yheight;
	if (r.width < 1 || r.height < 1 || need > buflen) {
		r.failed = 1;
		snprintf(r.msg, sizeof r.msg, "buffer of %lu bytes, need %lu", buflen, need);
		return r;
	}
	if (tjDecompress2(h, jpeg, size, buf, r.width, r.ystride, r.height, pf,
	                  TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS) != 0) {
		bl_fail(h, &r);
		return r;
	}
	if (pf == TJPF_CMYK)
		for (unsigned long i = 0; i < need; i++)
			buf[i] = 255 - buf[i];
	return r;
}

// bl_encode compresses w×h pixels (pf: TJPF_RGBX or TJPF_GRAY, rows pitch
// bytes apart) at quality q with chroma subsampling ss (TJSAMP_420, or
// TJSAMP_GRAY for gray) into out, which holds outlen bytes: at least
// tjBufSize(w, h, ss), so that TJFLAG_NOREALLOC never runs short. The size
// written comes back in width.
static bl_result bl_encode(tjhandle h, const unsigned char *pix, int w, int pitch, int hgt, int pf,
                           int ss, int q, unsigned char *out, unsigned long outlen) {
	bl_result r = {0};
	unsigned long need = tjBufSize(w, hgt, ss);
	if (need == (unsigned long)-1 || need > outlen) {
		r.failed = 1;
		snprintf(r.msg, sizeof r.msg, "buffer of %lu bytes, need %lu", outlen, need);
		return r;
	}
	unsigned long size = outlen;
	if (tjCompress2(h, pix, w, pitch, hgt, pf, &out, &size, ss, q, TJFLAG_NOREALLOC) != 0) {
		bl_fail(h, &r);
		return r;
	}
	r.width = (int)size;
	return r;
}

// bl_encode_yuv is bl_encode for 4:2:0 planes y, cb, cr (strides ys, cs)
// of a w×hgt image, compressed as they are (no colour conversion or
// downsampling).
static bl_result bl_encode_yuv(tjhandle h, const unsigned char *y, const unsigned char *cb, const unsigned char *cr,
                               int ys, int cs, int w, int hgt, int q, unsigned char *out, unsigned long outlen) {
	bl_result r = {0};
	unsigned long need = tjBufSize(w, hgt, TJSAMP_420);
	if (need == (unsigned long)-1 || need > outlen) {
		r.failed = 1;
		snprintf(r.msg, sizeof r.msg, "buffer of %lu bytes, need %lu", outlen, need);
		return r;
	}
	const unsigned char *planes[3] = {y, cb, cr};
	int strides[3] = {ys, cs, cs};
	unsigned long size = outlen;
	if (tjCompressFromYUVPlanes(h, planes, w, strides, hgt, TJSAMP_420, &out, &size, q, TJFLAG_NOREALLOC) != 0) {
		bl_fail(h, &r);
		return r;
	}
	r.width = (int)size;
	return r;
}
*/
import "C"

import (
	"errors"
	"image"
	"runtime"
	"sync"
	"unsafe"
)

const available = true

// Factors lists the scaling factors the library decodes at, largest first
// (2/1 down to 1/8 in libjpeg-turbo 2.1). The slice is shared: read only.
func Factors() []Factor { return factors() }

var factors = sync.OnceValue(func() []Factor {
	var n C.int
	p := C.tjGetScalingFactors(&n)
	if p == nil || n <= 0 {
		return []Factor{{1, 1}}
	}
	fs := make([]Factor, 0, int(n))
	for _, f := range unsafe.Slice(p, int(n)) {
		fs = append(fs, Factor{int(f.num), int(f.denom)})
	}
	return fs
})

// ReadHeader reads jpeg's frame header, not its pixels.
func ReadHeader(jpeg []byte) (Header, error) {
	if len(jpeg) == 0 {
		return Header{}, &Error{Msg: "empty input"}
	}
	h, err := getHandle()
	if err != nil {
		return Header{}, err
	}
	r := C.bl_header(h.p, (*C.uchar)(unsafe.Pointer(&jpeg[0])), C.ulong(len(jpeg)))
	if err := h.done(&r); err != nil {
		return Header{}, err
	}
	hd := Header{Width: int(r.width), Height: int(r.height)}
	switch {
	case r.colorspace == C.TJCS_GRAY && r.subsamp == C.TJSAMP_GRAY:
		hd.Planar, hd.Gray = true, true
	case r.colorspace == C.TJCS_YCbCr:
		hd.Ratio, hd.Planar = ratio(r.subsamp)
	case r.colorspace == C.TJCS_CMYK || r.colorspace == C.TJCS_YCCK:
		hd.Ratio, hd.Pixels = ratio(r.subsamp)
		hd.CMYK = hd.Pixels
	case r.colorspace == C.TJCS_RGB:
		hd.Ratio, hd.Pixels = ratio(r.subsamp)
	}
	return hd, nil
}

// decodeHandle checks a decode's arguments and takes a handle for it.
func decodeHandle(jpeg []byte, f Factor, buf []byte) (*handle, error) {
	if len(jpeg) == 0 || len(buf) == 0 {
		return nil, &Error{Msg: "empty input or buffer"}
	}
	if !supported(f) {
		return nil, &Error{Msg: "unsupported scaling factor"}
	}
	return getHandle()
}

// Decode decodes jpeg at f into buf, which must hold ReadHeader's
// Header.Size(f) bytes. The result is an *image.YCbCr or an *image.Gray
// whose pixels are buf's; it is never larger than f.Scale of each side.
func Decode(jpeg []byte, f Factor, buf []byte) (image.Image, error) {
	h, err := decodeHandle(jpeg, f, buf)
	if err != nil {
		return nil, err
	}
	r := C.bl_decode(h.p, (*C.uchar)(unsafe.Pointer(&jpeg[0])), C.ulong(len(jpeg)),
		C.int(f.Num), C.int(f.Denom), (*C.uchar)(unsafe.Pointer(&buf[0])), C.ulong(len(buf)))
	if err := h.done(&r); err != nil {
		return nil, err
	}
	rect := image.Rect(0, 0, int(r.width), int(r.height))
	ys := int(r.ystride) * int(r.yheight)
	if r.cstride == 0 {
		return &image.Gray{Pix: buf[:ys:ys], Stride: int(r.ystride), Rect: rect}, nil
	}
	rt, ok := ratio(r.subsamp)
	if !ok {
		return nil, &Error{Msg: "unknown subsampling"} // bl_decode let through one we cannot name
	}
	cs := int(r.cstride) * int(r.cheight)
	return &image.YCbCr{
		Y: buf[:ys:ys], Cb: buf[ys : ys+cs : ys+cs], Cr: buf[ys+cs : ys+2*cs : ys+2*cs],
		YStride: int(r.ystride), CStride: int(r.cstride), SubsampleRatio: rt, Rect: rect,
	}, nil
}

// DecodePixels decodes jpeg, a CMYK, YCCK or RGB one (Header.Pixels), at
// f into buf, which must hold Header.PixelSize(f) bytes. The result is an
// *image.CMYK, its values as image/jpeg returns them, or an *image.RGBA
// (opaque), whose pixels are buf's.
func DecodePixels(jpeg []byte, f Factor, buf []byte) (image.Image, error) {
	h, err := decodeHandle(jpeg, f, buf)
	if err != nil {
		return nil, err
	}
	r := C.bl_decode_pixels(h.p, (*C.uchar)(unsafe.Pointer(&jpeg[0])), C.ulong(len(jpeg)),
		C.int(f.Num), C.int(f.Denom), (*C.uchar)(unsafe.Pointer(&buf[0])), C.ulong(len(buf)))
	if err := h.done(&r); err != nil {
		return nil, err
	}
	rect := image.Rect(0, 0, int(r.width), int(r.height))
	n := int(r.ystride) * int(r.yheight)
	if r.colorspace == C.TJCS_RGB {
		return &image.RGBA{Pix: buf[:n:n], Stride: int(r.ystride), Rect: rect}, nil
	}
	return &image.CMYK{Pix: buf[:n:n], Stride: int(r.ystride), Rect: rect}, nil
}

// EncodeBound is the most bytes Encode can write for a w×h image: the
// size its buffer must have.
func EncodeBound(w, h int, gray bool) int {
	ss := C.int(C.TJSAMP_420)
	if gray {
		ss = C.TJSAMP_GRAY
	}
	n := C.tjBufSize(C.int(w), C.int(h), ss)
	if n == C.ulong(^uint64(0)) {
		return 0
	}
	return int(n)
}

// Encode compresses img (an *image.RGBA whose alpha is ignored, an
// *image.Gray, or an *image.YCbCr with 4:2:0 chroma at the origin,
// compressed as its planes are) to a baseline JPEG at quality (1–100),
// with 4:2:0 chroma as image/jpeg writes it, into buf, which must hold
// EncodeBound bytes; it returns the part of buf written.
func Encode(img image.Image, quality int, buf []byte) ([]byte, error) {
	var pix []byte
	var stride, pf, ss C.int
	var r image.Rectangle
	switch m := img.(type) {
	case *image.YCbCr:
		return encodeYCbCr(m, quality, buf)
	case *image.RGBA:
		pix, stride, pf, ss, r = m.Pix, C.int(m.Stride), C.TJPF_RGBX, C.TJSAMP_420, m.Rect
	case *image.Gray:
		pix, stride, pf, ss, r = m.Pix, C.int(m.Stride), C.TJPF_GRAY, C.TJSAMP_GRAY, m.Rect
	default:
		return nil, &Error{Msg: "encode: not an RGBA or Gray image"}
	}
	w, h := r.Dx(), r.Dy()
	if w < 1 || h < 1 || len(buf) == 0 || quality < 1 || quality > 100 {
		return nil, &Error{Msg: "encode: empty image or buffer, or quality out of 1..100"}
	}
	bpp := 4
	if pf == C.TJPF_GRAY {
		bpp = 1
	}
	if int(stride) < w*bpp || len(pix) < (h-1)*int(stride)+w*bpp {
		return nil, &Error{Msg: "encode: pixels shorter than the image"}
	}
	e, err := getEncoder()
	if err != nil {
		return nil, err
	}
	res := C.bl_encode(e.p, (*C.uchar)(unsafe.Pointer(&pix[0])), C.int(w), stride, C.int(h), pf, ss,
		C.int(quality), (*C.uchar)(unsafe.Pointer(&buf[0])), C.ulong(len(buf)))
	if err := e.done(&res); err != nil {
		return nil, err
	}
	return buf[:int(res.width)], nil
}

// encodeYCbCr is Encode for a 4:2:0 *image.YCbCr at the origin.
func encodeYCbCr(m *image.YCbCr, quality int, buf []byte) ([]byte, error) {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	cw, ch := (w+1)/2, (h+1)/2
	if m.SubsampleRatio != image.YCbCrSubsampleRatio420 || m.Rect.Min != (image.Point{}) {
		return nil, &Error{Msg: "encode: not 4:2:0 planes at the origin"}
	}
	if w < 1 || h < 1 || len(buf) == 0 || quality < 1 || quality > 100 {
		return nil, &Error{Msg: "encode: empty image or buffer, or quality out of 1..100"}
	}
	if m.YStride < w || m.CStride < cw || len(m.Y) < (h-1)*m.YStride+w ||
		len(m.Cb) < (ch-1)*m.CStride+cw || len(m.Cr) < (ch-1)*m.CStride+cw {
		return nil, &Error{Msg: "encode: planes shorter than the image"}
	}
	e, err := getEncoder()
	if err != nil {
		return nil, err
	}
	res := C.bl_encode_yuv(e.p, (*C.uchar)(unsafe.Pointer(&m.Y[0])), (*C.uchar)(unsafe.Pointer(&m.Cb[0])),
		(*C.uchar)(unsafe.Pointer(&m.Cr[0])), C.int(m.YStride), C.int(m.CStride), C.int(w), C.int(h),
		C.int(quality), (*C.uchar)(unsafe.Pointer(&buf[0])), C.ulong(len(buf)))
	if err := e.done(&res); err != nil {
		return nil, err
	}
	return buf[:int(res.width)], nil
}

func supported(f Factor) bool {
	for _, g := range Factors() {
		if g == f {
			return true
		}
	}
	return false
}

func ratio(s C.int) (image.YCbCrSubsampleRatio, bool) {
	switch s {
	case C.TJSAMP_444:
		return image.YCbCrSubsampleRatio444, true
	case C.TJSAMP_422:
		return image.YCbCrSubsampleRatio422, true
	case C.TJSAMP_420:
		return image.YCbCrSubsampleRatio420, true
	case C.TJSAMP_440:
		return image.YCbCrSubsampleRatio440, true
	case C.TJSAMP_411:
		return image.YCbCrSubsampleRatio411, true
	}
	return 0, false
}

// handle is one decompressor or compressor. A goroutine takes one from its
// pool for a call; a handle that failed is destroyed rather than trusted
// again.
type handle struct {
	p       C.tjhandle
	pool    *sync.Pool // where it goes back
	cleanup runtime.Cleanup
}

var decompressors, compressors sync.Pool

func getHandle() (*handle, error) {
	return take(&decompressors, func() C.tjhandle { return C.tjInitDecompress() }, "decompressor")
}

func getEncoder() (*handle, error) {
	return take(&compressors, func() C.tjhandle { return C.tjInitCompress() }, "compressor")
}

// take returns a pooled handle, or one made by create.
func take(pool *sync.Pool, create func() C.tjhandle, what string) (*handle, error) {
	if h, ok := pool.Get().(*handle); ok {
		return h, nil
	}
	p := create()
	if p == nil {
		return nil, errors.New("libjpeg-turbo: cannot create a " + what)
	}
	h := &handle{p: p, pool: pool}
	// The pool drops handles at GC without telling anyone; the cleanup
	// frees their C memory then.
	h.cleanup = runtime.AddCleanup(h, func(p C.tjhandle) { C.tjDestroy(p) }, p)
	return h, nil
}

// done returns h to its pool after a success, or destroys it and returns
// the failure.
func (h *handle) done(r *C.bl_result) error {
	if r.failed == 0 {
		h.pool.Put(h)
		return nil
	}
	h.cleanup.Stop()
	C.tjDestroy(h.p)
	return &Error{Msg: C.GoString(&r.msg[0]), Warning: r.warning != 0}
}
