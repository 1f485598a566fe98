//go:build cgo && !noavif

package avif

/*
#cgo LDFLAGS: -lavif
#include <avif/avif.h>

// bl_avif encodes RGBA pixels (alpha kept when alpha is set) as 8-bit
// 4:2:0 AVIF with one thread (a node runs one encode per resizer), into
// *out (libavif's memory: avifRWDataFree).
static avifResult bl_avif(uint8_t *rgba, int w, int h, int stride, int alpha, int q, int speed, avifRWData *out) {
	avifImage *img = avifImageCreate(w, h, 8, AVIF_PIXEL_FORMAT_YUV420);
	if (!img)
		return AVIF_RESULT_OUT_OF_MEMORY;
	img->colorPrimaries = AVIF_COLOR_PRIMARIES_BT709;
	img->transferCharacteristics = AVIF_TRANSFER_CHARACTERISTICS_SRGB;
	img->matrixCoefficients = AVIF_MATRIX_COEFFICIENTS_BT601;
	img->yuvRange = AVIF_RANGE_FULL;
	avifRGBImage rgb;
	avifRGBImageSetDefaults(&rgb, img);
	rgb.format = AVIF_RGB_FORMAT_RGBA;
	rgb.depth = 8;
	rgb.pixels = rgba;
	rgb.rowBytes = stride;
	rgb.ignoreAlpha = !alpha;
	avifResult r = avifImageRGBToYUV(img, &rgb);
	if (r != AVIF_RESULT_OK) {
		avifImageDestroy(img);
		return r;
	}
	avifEncoder *enc = avifEncoderCreate();
	if (!enc) {
		avifImageDestroy(img);
		return AVIF_RESULT_OUT_OF_MEMORY;
	}
	enc->maxThreads = 1;
	enc->speed = speed;
	enc->minQuantizer = enc->maxQuantizer = q;
	enc->minQuantizerAlpha = enc->maxQuantizerAlpha = q;
	r = avifEncoderWrite(enc, img, out);
	avifEncoderDestroy(enc);
	avifImageDestroy(img);
	return r;
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

// Encode writes img as an AVIF at quality (1…100) and speed (0…10) to w.
func Encode(w io.Writer, img *image.NRGBA, quality, speed int) error {
	b := img.Rect
	if b.Empty() {
		return fmt.Errorf("avif: empty image")
	}
	alpha := 0
	for y := b.Min.Y; y < b.Max.Y && alpha == 0; y++ {
		row := img.Pix[img.PixOffset(b.Min.X, y) : img.PixOffset(b.Max.X-1, y)+4]
		for i := 3; i < len(row); i += 4 {
			if row[i] != 0xff {
				alpha = 1
				break
			}
		}
	}
	var out C.avifRWData
	r := C.bl_avif((*C.uint8_t)(unsafe.Pointer(&img.Pix[img.PixOffset(b.Min.X, b.Min.Y)])), C.int(b.Dx()), C.int(b.Dy()),
		C.int(img.Stride), C.int(alpha), C.int(quantizer(quality)), C.int(speed), &out)
	defer C.avifRWDataFree(&out)
	if r != C.AVIF_RESULT_OK {
		return fmt.Errorf("avif: %s", C.GoString(C.avifResultToString(r)))
	}
	_, err := w.Write(unsafe.Slice((*byte)(unsafe.Pointer(out.data)), int(out.size)))
	return err
}

// Codec names the AV1 encoder libavif uses here ("aom", "rav1e", …).
func Codec() string {
	return C.GoString(C.avifCodecName(C.AVIF_CODEC_CHOICE_AUTO, C.AVIF_CODEC_FLAG_CAN_ENCODE))
}
