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
static size_t bl_webp(const uint8_t *rgba, int w, int h, int stride, float quality, int method,
                      uint8_t **out, int *err) {
	WebPConfig config;
	WebPPicture pic;
	WebPMemoryWriter wr;
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
	WebPMemoryWriterInit(&wr);
	pic.writer = WebPMemoryWrite;
	pic.custom_ptr = &wr;
	int ok = WebPEncode(&config, &pic);
	WebPPictureFree(&pic);
	if (!ok) {
		*err = pic.error_code;
		WebPMemoryWriterClear(&wr);
		return 0;
	}
	*out = wr.mem;
	return wr.size;
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
