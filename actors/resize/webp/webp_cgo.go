//go:build cgo

package webp

/*
#cgo LDFLAGS: -lwebp -lm
#include <stdlib.h>
#include <webp/encode.h>

// bl_webp encodes RGBA (alpha kept only when some pixel is not opaque:
// libwebp drops an opaque alpha plane itself) at quality with Method;
// *out is libwebp's memory, freed with WebPFree. 0 on failure with
// *err set to libwebp's error code.
// bl_webp_write encodes pic, which it frees, with config into a buffer
// WebPFree releases: its size, or 0 with *err set.
static size_t bl_webp_write(WebPConfig *config, WebPPicture *pic, uint8_t **out, int *err) {
	WebPMemoryWriter wr;
	WebPMemoryWriterInit(&wr);
	pic->writer = WebPMemoryWrite;
	pic->custom_ptr = &wr;
	int ok = WebPEncode(config, pic);
	WebPPictureFree(pic);
	if (!ok) {
		*err = pic->error_code;
		WebPMemoryWriterClear(&wr);
		return 0;
	}
	*out = wr.mem;
	return wr.size;
}

static size_t bl_webp(const uint8_t *rgba, int w, int h, int stride, float quality, int method,
                      uint8_t **out, int *err) {
	WebPConfig config;
	WebPPicture pic;
	*out = NULL;
	*err = 0;
	if (!WebPConfigPreset(&config, WEBP_PRESET_DEFAULT, quality) || !WebPPictureInit(&pic)) {
		*err = -1;
		return 0;
	}
	config.method = method;
	pic.use_argb = 1;
	pic.width = w;
	pic.height = h;
	if (!WebPPictureImportRGBA(&pic, rgba, stride)) {
		*err = pic.error_code ? pic.error_code : -2;
		WebPPictureFree(&pic);
		return 0;
	}
	return bl_webp_write(&config, &pic, out, err);
}

// bl_webp_yuv is bl_webp for 4:2:0 planes in JPEG's full-range YCbCr
// (w×h luma, (w+1)/2×(h+1)/2 chroma), mapped to the video range of
// libwebp's own RGB import: Y' = 16 + Y·56318/65536 (0.8594, its RGB
// coefficients' sum) and C' = 128 + (C − 128)·0.8789 (28800/32768, its
// blue-difference coefficient), rounded; with video set, the planes are
// in that range already and go as they are.
static size_t bl_webp_yuv(const uint8_t *y, const uint8_t *u, const uint8_t *v, int ys, int cs, int w, int h,
                          int video, float quality, int method, uint8_t **out, int *err) {
	WebPConfig config;
	WebPPicture pic;
	uint8_t ly[256], lc[256];
	*out = NULL;
	*err = 0;
	if (!WebPConfigPreset(&config, WEBP_PRESET_DEFAULT, quality) || !WebPPictureInit(&pic)) {
		*err = -1;
		return 0;
	}
	config.method = method;
	pic.use_argb = 0;
	pic.colorspace = WEBP_YUV420;
	pic.width = w;
	pic.height = h;
	if (!WebPPictureAlloc(&pic)) {
		*err = pic.error_code ? pic.error_code : -2;
		return 0;
	}
	for (int i = 0; i < 256; i++) {
		ly[i] = (uint8_t)((56318 * i + (16 << 16) + (1 << 15)) >> 16);
		int c = 128 * 65536 + (i - 128) * 57600 + (1 << 15);
		lc[i] = (uint8_t)(c >> 16);
		if (video) ly[i] = lc[i] = (uint8_t)i;
	}
	int cw = (w + 1) / 2, ch = (h + 1) / 2;
	for (int j = 0; j < h; j++) {
		const uint8_t *s = y + (long)j * ys;
		uint8_t *d = pic.y + (long)j * pic.y_stride;
		for (int i = 0; i < w; i++) d[i] = ly[s[i]];
	}
	for (int j = 0; j < ch; j++) {
		const uint8_t *su = u + (long)j * cs, *sv = v + (long)j * cs;
		uint8_t *du = pic.u + (long)j * pic.uv_stride, *dv = pic.v + (long)j * pic.uv_stride;
		for (int i = 0; i < cw; i++) {
			du[i] = lc[su[i]];
			dv[i] = lc[sv[i]];
		}
	}
	return bl_webp_write(&config, &pic, out, err);
}
*/
import "C"

import (
	"fmt"
	"image"
	"io"
	"unsafe"
)

const available = true

// Encode writes img as a lossy WebP at quality (1…100) to w.
func Encode(w io.Writer, img *image.NRGBA, quality int) error {
	b := img.Rect
	if b.Empty() {
		return fmt.Errorf("webp: empty image")
	}
	if b.Dx() > C.WEBP_MAX_DIMENSION || b.Dy() > C.WEBP_MAX_DIMENSION {
		return fmt.Errorf("webp: %dx%d is over WebP's %d pixels a side", b.Dx(), b.Dy(), C.WEBP_MAX_DIMENSION)
	}
	var out *C.uint8_t
	var cerr C.int
	n := C.bl_webp((*C.uint8_t)(unsafe.Pointer(&img.Pix[img.PixOffset(b.Min.X, b.Min.Y)])), C.int(b.Dx()), C.int(b.Dy()), C.int(img.Stride),
		C.float(quality), C.int(Method), &out, &cerr)
	if n == 0 {
		return fmt.Errorf("webp: libwebp error %d", int(cerr))
	}
	defer C.WebPFree(unsafe.Pointer(out))
	_, err := w.Write(unsafe.Slice((*byte)(unsafe.Pointer(out)), int(n)))
	return err
}

// EncodeYCbCr writes img, 4:2:0 planes at the origin in JPEG's
// full-range YCbCr (what the resize makes from a JPEG), as a lossy WebP
// at quality (1…100) to w: the planes go to libwebp as they are, mapped
// to its video range, so nothing converts them to RGB and back.
func EncodeYCbCr(w io.Writer, img *image.YCbCr, quality int) error {
	return encodeYUV(w, img, false, quality)
}

// EncodeVideoYCbCr is EncodeYCbCr for planes in libwebp's own video
// range already (Y' = 16 + 0.8594·Y, as its RGB import makes them): they
// go to the encoder unchanged.
func EncodeVideoYCbCr(w io.Writer, img *image.YCbCr, quality int) error {
	return encodeYUV(w, img, true, quality)
}

func encodeYUV(w io.Writer, img *image.YCbCr, video bool, quality int) error {
	b := img.Rect
	if b.Empty() || b.Min != (image.Point{}) || img.SubsampleRatio != image.YCbCrSubsampleRatio420 {
		return fmt.Errorf("webp: not non-empty 4:2:0 planes at the origin")
	}
	if b.Dx() > C.WEBP_MAX_DIMENSION || b.Dy() > C.WEBP_MAX_DIMENSION {
		return fmt.Errorf("webp: %dx%d is over WebP's %d pixels a side", b.Dx(), b.Dy(), C.WEBP_MAX_DIMENSION)
	}
	cw, ch := (b.Dx()+1)/2, (b.Dy()+1)/2
	if img.YStride < b.Dx() || img.CStride < cw || len(img.Y) < (b.Dy()-1)*img.YStride+b.Dx() ||
		len(img.Cb) < (ch-1)*img.CStride+cw || len(img.Cr) < (ch-1)*img.CStride+cw {
		return fmt.Errorf("webp: planes shorter than the image")
	}
	v := C.int(0)
	if video {
		v = 1
	}
	var out *C.uint8_t
	var cerr C.int
	n := C.bl_webp_yuv((*C.uint8_t)(unsafe.Pointer(&img.Y[0])), (*C.uint8_t)(unsafe.Pointer(&img.Cb[0])),
		(*C.uint8_t)(unsafe.Pointer(&img.Cr[0])), C.int(img.YStride), C.int(img.CStride), C.int(b.Dx()), C.int(b.Dy()),
		v, C.float(quality), C.int(Method), &out, &cerr)
	if n == 0 {
		return fmt.Errorf("webp: libwebp error %d", int(cerr))
	}
	defer C.WebPFree(unsafe.Pointer(out))
	_, err := w.Write(unsafe.Slice((*byte)(unsafe.Pointer(out)), int(n)))
	return err
}
