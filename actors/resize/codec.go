package resize

import (
	"fmt"
	"image"
	"io"

	"github.com/backlot/backlot/actors/resize/avif"
	"github.com/backlot/backlot/actors/resize/webp"
	"github.com/backlot/backlot/persistence"
)

// ErrCannotEncode: this build has no encoder for an output format (WebP
// and AVIF need cgo). Uploads asking for it are refused (400), never
// queued.
var ErrCannotEncode = fmt.Errorf("output format not available in this build")

// CanEncode reports whether this build writes format f: nil, or an error
// wrapping ErrCannotEncode that names it.
func CanEncode(f persistence.Format) error {
	switch f {
	case persistence.FormatJPEG, persistence.FormatPNG:
		return nil
	case persistence.FormatWebP:
		if webp.Available {
			return nil
		}
	case persistence.FormatAVIF:
		if avif.Available {
			return nil
		}
	default:
		return fmt.Errorf("unknown output format %q", f)
	}
	return fmt.Errorf("%w: this build cannot write %s (its encoder needs cgo and lib%s, which this build lacks)", ErrCannotEncode, f, f)
}

// encodeCodec writes img as WebP or AVIF at quality: libwebp and
// libavif through cgo (see package encbench for why these).
func encodeCodec(w io.Writer, img *image.NRGBA, f persistence.Format, quality int) error {
	if f == persistence.FormatAVIF {
		return avif.Encode(w, img, quality, avif.Speed)
	}
	return webp.Encode(w, img, quality)
}

// codecNative bounds the memory libwebp or libavif holds to encode a
// w×h image, outside Go's heap: libwebp's ARGB and YUV copies of the
// picture, its token and residual buffers and the output; libavif's YUV
// planes and libaom's frame buffers, look-ahead and scratch.
// TestCodecNativeBound measures the process's peak RSS growth: WebP
// 12.7 MiB at 1600x900 and 66.3 at 4096x2304 (about 7–9 bytes a pixel),
// AVIF 30.2 and 111.7 MiB (libaom's tables, then about 12 bytes a pixel).
func codecNative(f persistence.Format, w, h int) int64 {
	px := int64(w) * int64(h)
	if f == persistence.FormatAVIF {
		return 16<<20 + 16*px
	}
	return 4<<20 + 10*px
}
