// Package turbojpeg is a thin binding of libjpeg-turbo's TurboJPEG API
// (Debian: libturbojpeg0-dev), only what a thumbnailer needs: read a JPEG's
// header, decode it straight to its Y, Cb and Cr planes (a CMYK, YCCK or
// RGB one to packed pixels) at a DCT scaling factor, and encode the
// (small) result. Scaling in the DCT domain skips most of the inverse DCT
// (at 1/8 only the DC coefficient of each block is used), and planar output
// skips upsampling and colour conversion; the entropy decoding stays.
//
// Builds: with cgo, Available is true and the package links -lturbojpeg;
// with CGO_ENABLED=0 (or the noturbojpeg build tag) Available is false and
// ReadHeader, Decode, DecodePixels and Encode return ErrUnavailable, so callers keep a pure-Go
// path.
//
// Safety: the JPEG bytes and the output buffer are Go memory lent to C for
// the length of one call (they hold no Go pointers, and C keeps no
// reference). C never writes outside the buffer: the plane layout is worked
// out in the same C call that decodes, from its own reading of the header,
// and checked against the buffer's length. libjpeg's errors longjmp inside
// C and come back as an *Error, never as a crash. Decompressor handles are
// pooled and freed by a cleanup when the pool drops them.
package turbojpeg

import (
	"errors"
	"image"
)

// Available reports whether this build decodes through libjpeg-turbo.
const Available = available

// ErrUnavailable is returned by every call in a build without cgo.
var ErrUnavailable = errors.New("libjpeg-turbo is not in this build (cgo off)")

// Error is a failure reported by libjpeg-turbo, with its own text.
type Error struct {
	Msg string
	// Warning marks what libjpeg calls a warning: corrupt or truncated
	// data. Decode stops at the first one (TJFLAG_STOPONWARNING), so the
	// image is incomplete; libjpeg would otherwise fill the rest with grey.
	Warning bool
}

func (e *Error) Error() string { return "libjpeg-turbo: " + e.Msg }

// Factor is a DCT scaling factor, Num/Denom.
type Factor struct{ Num, Denom int }

// Scale is the size of a side of n pixels decoded at f (TJSCALED).
func (f Factor) Scale(n int) int { return (n*f.Num + f.Denom - 1) / f.Denom }

// Less reports whether f scales down more than g.
func (f Factor) Less(g Factor) bool { return f.Num*g.Denom < g.Num*f.Denom }

// Header is what a JPEG's frame header says.
type Header struct {
	Width, Height int
	// Planar: Decode can decode this image, a YCbCr one with a chroma
	// subsampling image.YCbCr can hold, or a grayscale one. CMYK, YCCK and
	// RGB JPEGs are not.
	Planar bool
	Gray   bool
	// Pixels: DecodePixels can decode this image, a CMYK or YCCK one
	// (CMYK set) or an RGB one, with a chroma subsampling Ratio can name.
	Pixels bool
	CMYK   bool
	Ratio  image.YCbCrSubsampleRatio // when Planar and not Gray, or Pixels
}

// Size is how many bytes of buffer Decode needs for h at f: the planes
// padded as TurboJPEG lays them out (each side rounded up to a whole
// chroma sample). 0 when h is not Planar.
func (h Header) Size(f Factor) int {
	if !h.Planar {
		return 0
	}
	w, ht := f.Scale(h.Width), f.Scale(h.Height)
	if h.Gray {
		return w * ht
	}
	hs, vs := ratioFactors(h.Ratio)
	yw, yh := (w+hs-1)/hs*hs, (ht+vs-1)/vs*vs
	return yw*yh + 2*(yw/hs)*(yh/vs)
}

// PixelSize is how many bytes of buffer DecodePixels needs for h at f:
// four a pixel. 0 when h is not Pixels.
func (h Header) PixelSize(f Factor) int {
	if !h.Pixels {
		return 0
	}
	return 4 * f.Scale(h.Width) * f.Scale(h.Height)
}

// ratioFactors gives the chroma subsampling of r as divisors of x and y.
func ratioFactors(r image.YCbCrSubsampleRatio) (hs, vs int) {
	switch r {
	case image.YCbCrSubsampleRatio422:
		return 2, 1
	case image.YCbCrSubsampleRatio420:
		return 2, 2
	case image.YCbCrSubsampleRatio440:
		return 1, 2
	case image.YCbCrSubsampleRatio411:
		return 4, 1
	}
	return 1, 1
}
