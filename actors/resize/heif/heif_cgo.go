//go:build cgo && !noheif

package heif

/*
#cgo LDFLAGS: -lheif
#include <stdlib.h>
#include <string.h>
#include <libheif/heif.h>

// bl_heif_size reads the primary image's size (after its transformations)
// from the container's boxes alone, without decoding a pixel.
static struct heif_error bl_heif_size(const void *data, size_t n, int *w, int *h, int *alpha) {
	struct heif_context *ctx = heif_context_alloc();
	struct heif_image_handle *hd = NULL;
	struct heif_error err = heif_context_read_from_memory_without_copy(ctx, data, n, NULL);
	if (err.code == heif_error_Ok)
		err = heif_context_get_primary_image_handle(ctx, &hd);
	if (err.code == heif_error_Ok) {
		*w = heif_image_handle_get_width(hd);
		*h = heif_image_handle_get_height(hd);
		*alpha = heif_image_handle_has_alpha_channel(hd);
		heif_image_handle_release(hd);
	}
	heif_context_free(ctx);
	return err;
}

// bl_heif_decode decodes the primary image to 8-bit RGBA rows (straight
// alpha) of exactly w*h pixels into dst, with stride w*4; the size is
// checked against the caller's, read by bl_heif_size.
static struct heif_error bl_heif_decode(const void *data, size_t n, int w, int h, unsigned char *dst) {
	struct heif_context *ctx = heif_context_alloc();
	struct heif_image_handle *hd = NULL;
	struct heif_image *img = NULL;
	struct heif_error err = heif_context_read_from_memory_without_copy(ctx, data, n, NULL);
	if (err.code == heif_error_Ok)
		err = heif_context_get_primary_image_handle(ctx, &hd);
	if (err.code == heif_error_Ok)
		err = heif_decode_image(hd, &img, heif_colorspace_RGB, heif_chroma_interleaved_RGBA, NULL);
	if (err.code == heif_error_Ok) {
		int stride = 0;
		const uint8_t *p = heif_image_get_plane_readonly(img, heif_channel_interleaved, &stride);
		if (!p || heif_image_get_width(img, heif_channel_interleaved) != w ||
		    heif_image_get_height(img, heif_channel_interleaved) != h) {
			err.code = heif_error_Decoder_plugin_error;
			err.subcode = heif_suberror_Unspecified;
			err.message = "decoded size differs from the header's";
		} else {
			for (int y = 0; y < h; y++)
				memcpy(dst + (size_t)y * w * 4, p + (size_t)y * stride, (size_t)w * 4);
		}
	}
	if (img) heif_image_release(img);
	if (hd) heif_image_handle_release(hd);
	heif_context_free(ctx);
	return err;
}
// bl_heif_profile copies the primary image's ICC profile (rICC or prof)
// into a malloc'd *icc, or gives its nclx colour primaries.
static struct heif_error bl_heif_profile(const void *data, size_t n, void **icc, size_t *iccn, int *primaries) {
	struct heif_context *ctx = heif_context_alloc();
	struct heif_image_handle *hd = NULL;
	*icc = NULL;
	*iccn = 0;
	*primaries = 0;
	struct heif_error err = heif_context_read_from_memory_without_copy(ctx, data, n, NULL);
	if (err.code == heif_error_Ok)
		err = heif_context_get_primary_image_handle(ctx, &hd);
	if (err.code == heif_error_Ok) {
		size_t sz = heif_image_handle_get_raw_color_profile_size(hd);
		if (sz > 0 && sz <= (4 << 20)) {
			*icc = malloc(sz);
			err = heif_image_handle_get_raw_color_profile(hd, *icc);
			if (err.code == heif_error_Ok)
				*iccn = sz;
		} else {
			struct heif_color_profile_nclx *nclx = NULL;
			if (heif_image_handle_get_nclx_color_profile(hd, &nclx).code == heif_error_Ok && nclx) {
				*primaries = nclx->color_primaries;
				heif_nclx_color_profile_free(nclx);
			}
		}
		heif_image_handle_release(hd);
	}
	heif_context_free(ctx);
	return err;
}
*/
import "C"

import (
	"fmt"
	"image"
	"unsafe"
)

const available = true

// Size reads the primary image's size and whether it has alpha from the
// file's boxes, decoding no pixel: the pixel-bomb guard's input.
func Size(data []byte) (w, h int, alpha bool, err error) {
	if len(data) == 0 {
		return 0, 0, false, fmt.Errorf("heif: empty file")
	}
	var cw, ch, ca C.int
	e := C.bl_heif_size(unsafe.Pointer(&data[0]), C.size_t(len(data)), &cw, &ch, &ca)
	if e.code != C.heif_error_Ok {
		return 0, 0, false, fmt.Errorf("heif: %s", C.GoString(e.message))
	}
	return int(cw), int(ch), ca != 0, nil
}

// Profile is the primary image's colour profile: its ICC bytes when it
// has one, else the colour primaries of its nclx box (ITU-T H.273: 1
// BT.709/sRGB, 12 Display P3), 0 when neither says.
func Profile(data []byte) (icc []byte, primaries int, err error) {
	if len(data) == 0 {
		return nil, 0, fmt.Errorf("heif: empty file")
	}
	var p unsafe.Pointer
	var n C.size_t
	var prim C.int
	e := C.bl_heif_profile(unsafe.Pointer(&data[0]), C.size_t(len(data)), &p, &n, &prim)
	if p != nil {
		defer C.free(p)
	}
	if e.code != C.heif_error_Ok {
		return nil, 0, fmt.Errorf("heif: %s", C.GoString(e.message))
	}
	if n > 0 {
		return C.GoBytes(p, C.int(n)), 0, nil
	}
	return nil, int(prim), nil
}

// Decode decodes the primary image, its transformations applied, into
// pix (at least 4*w*h bytes, w×h from Size) as an NRGBA image.
func Decode(data []byte, w, h int, pix []byte) (*image.NRGBA, error) {
	if len(data) == 0 || w <= 0 || h <= 0 || len(pix) < 4*w*h {
		return nil, fmt.Errorf("heif: bad arguments")
	}
	e := C.bl_heif_decode(unsafe.Pointer(&data[0]), C.size_t(len(data)), C.int(w), C.int(h), (*C.uchar)(unsafe.Pointer(&pix[0])))
	if e.code != C.heif_error_Ok {
		return nil, fmt.Errorf("heif: %s", C.GoString(e.message))
	}
	return &image.NRGBA{Pix: pix[: 4*w*h : 4*w*h], Stride: 4 * w, Rect: image.Rect(0, 0, w, h)}, nil
}
