package resize

import (
	"fmt"
	"image"
	"math"

	"github.com/disintegration/imaging"

	"github.com/backlot/backlot/persistence"
)

// plan is the geometry of one resize, worked out from the size alone so
// that the expensive steps touch only the pixels that reach the output.
//
// Pixels are resized in the stored (source) orientation and the Exif
// orientation is applied last, to the small output: cheaper than rotating
// the full decode, and equivalent because flips and quarter turns commute
// with a separable resize once the target's sides are swapped. The cover
// crop, though, is chosen in the displayed orientation, so the box is
// filled the way the user sees the picture.
type plan struct {
	orient int             // Exif orientation, 1..8
	crop   image.Rectangle // the part of the source that reaches the output, source coordinates
	w, h   int             // resize target in source orientation
	outW   int             // output size, displayed orientation
	outH   int
}

// The output bound (API-visible; README, "Output size"): an output never
// holds more than MaxUpscale times its source's pixels, or OutputFloor
// pixels when that is more, whatever box was asked for. A box that would
// pass it is reduced, keeping its aspect (a contain output, the image's),
// and the completed event's width and height tell the size made. So a
// 16×16 PNG asked for 4096×4096 becomes 256×256, not 16.7 million pixels
// (64 MB of RGBA to encode, and about 120 times its upload's bytes on
// disk). Since no encoder spends more than about 4 bytes a pixel (PNG
// RGBA, incompressible; JPEG far less), an output of a P-pixel source is
// at most about max(16·P, 256 KiB) bytes.
const (
	MaxUpscale  = 4         // output pixels per source pixel, at most
	OutputFloor = 256 * 256 // pixels any output may have, however small its source
)

// MaxOutputPixels is the most pixels an output of a sw×sh source may have.
func MaxOutputPixels(sw, sh int) int64 {
	return max(MaxUpscale*int64(max(sw, 0))*int64(max(sh, 0)), OutputFloor)
}

// boundBox is w×h when it holds at most limit pixels, else a box of about
// w:h's aspect that does: both sides scaled by one factor and rounded
// down, neither below 1.
func boundBox(w, h int, limit int64) (int, int) {
	limit = max(limit, 1)
	if int64(w)*int64(h) <= limit {
		return w, h
	}
	s := math.Sqrt(float64(limit) / (float64(w) * float64(h)))
	bw, bh := max(1, int(float64(w)*s)), max(1, int(float64(h)*s))
	for int64(bw)*int64(bh) > limit { // float rounding, or a side held at 1
		if bw >= bh {
			bw--
		} else {
			bh--
		}
	}
	return bw, bh
}

// transposed reports whether orientation o swaps width and height.
func transposed(o int) bool { return o >= 5 && o <= 8 }

// makePlan plans the resize of a sw×sh source (stored orientation) with
// Exif orientation orient into o's box, bounded by MaxOutputPixels.
func makePlan(sw, sh, orient int, o persistence.Options) (plan, error) {
	if o.Width < 1 || o.Height < 1 {
		return plan{}, fmt.Errorf("output box %dx%d is empty", o.Width, o.Height)
	}
	if orient < 1 || orient > 8 {
		orient = 1
	}
	ow, oh := sw, sh // displayed size
	if transposed(orient) {
		ow, oh = sh, sw
	}
	W, H := o.Width, o.Height
	limit := MaxOutputPixels(sw, sh)
	if o.Fit != persistence.FitContain {
		// The output is the box: bound it before the cover crop is
		// chosen, so the crop has the bounded box's aspect.
		W, H = boundBox(W, H, limit)
	}
	shown := image.Rect(0, 0, ow, oh)
	p := plan{orient: orient, outW: W, outH: H}
	switch o.Fit {
	case persistence.FitCover, "":
		// imaging.Fill's crop size (cropAndResize), placed where sharp's
		// centre crop starts (sharpCrop), to the pixel; from the sizes
		// alone, so the pre-shrink changes speed, not framing.
		if int64(ow)*int64(H) < int64(W)*int64(oh) { // source narrower than the box: cut top and bottom
			ch := min(oh, int(math.Max(1, float64(ow)*float64(H)/float64(W))+0.5))
			y := sharpCrop(oh, ch, H, float64(ow)/float64(W))
			shown = image.Rect(0, y, ow, y+ch)
		} else {
			cw := min(ow, int(math.Max(1, float64(oh)*float64(W)/float64(H))+0.5))
			x := sharpCrop(ow, cw, W, float64(oh)/float64(H))
			shown = image.Rect(x, 0, x+cw, oh)
		}
	case persistence.FitContain:
		// Scale to touch the box from inside, enlarging small images too...
		if int64(W)*int64(oh) <= int64(H)*int64(ow) {
			p.outH = max(1, int((int64(oh)*int64(W)*2+int64(ow))/(2*int64(ow))))
		} else {
			p.outW = max(1, int((int64(ow)*int64(H)*2+int64(oh))/(2*int64(oh))))
		}
		// ...but not past the output bound.
		p.outW, p.outH = boundBox(p.outW, p.outH, limit)
	case persistence.FitFill:
	default:
		return plan{}, fmt.Errorf("unknown fit %q", o.Fit)
	}
	p.crop = sourceRect(orient, shown, sw, sh)
	p.w, p.h = p.outW, p.outH
	if transposed(orient) {
		p.w, p.h = p.outH, p.outW
	}
	return p, nil
}

// sharpCrop is where, along a side of n pixels, a cover crop of c of
// them starts, for a box side of out pixels at shrink source pixels an
// output pixel: where sharp's centre crop starts, as modelled here. sharp
// (0.35) resizes the whole side to round(n/shrink) pixels and cuts from
// (round(n/shrink) − out + 1)/2 on (CalculateCrop, src/common.cc): that
// many output pixels times shrink into the source, rounded here to a
// source pixel (the model ignores libvips' own sub-pixel offsets; it fits
// issue 20's card, less so its thumbnail). imaging.Fill's
// (n − c)/2, which Backlot used before, can be half an output pixel from
// it: 420 against 421.875 for a 1920x1080 photo into a 320x320 box, which
// cost the card SSIM 0.93 against sharp's (bench/README.md, issue 20).
func sharpCrop(n, c, out int, shrink float64) int {
	left := (int(math.Round(float64(n)/shrink)) - out + 1) / 2
	return min(max(0, int(math.Round(float64(left)*shrink))), n-c)
}

// sourcePoint maps pixel (x, y) of the displayed image to the stored pixel
// it shows; sw, sh are the stored size. Checked against imaging's
// transforms in geometry_test.go.
func sourcePoint(o, x, y, sw, sh int) (int, int) {
	switch o {
	case 2: // mirrored
		return sw - 1 - x, y
	case 3: // upside down
		return sw - 1 - x, sh - 1 - y
	case 4: // flipped
		return x, sh - 1 - y
	case 5: // transposed
		return y, x
	case 6: // needs a quarter turn clockwise
		return y, sh - 1 - x
	case 7: // transversed
		return sw - 1 - y, sh - 1 - x
	case 8: // needs a quarter turn counter-clockwise
		return sw - 1 - y, x
	}
	return x, y
}

// sourceRect maps a non-empty rectangle of the displayed image to stored
// coordinates.
func sourceRect(o int, r image.Rectangle, sw, sh int) image.Rectangle {
	x0, y0 := sourcePoint(o, r.Min.X, r.Min.Y, sw, sh)
	x1, y1 := sourcePoint(o, r.Max.X-1, r.Max.Y-1, sw, sh)
	return image.Rect(min(x0, x1), min(y0, y1), max(x0, x1)+1, max(y0, y1)+1)
}

// orient turns a stored image into the displayed one.
func orient(img *image.NRGBA, o int) *image.NRGBA {
	switch o {
	case 2:
		return imaging.FlipH(img)
	case 3:
		return imaging.Rotate180(img)
	case 4:
		return imaging.FlipV(img)
	case 5:
		return imaging.Transpose(img)
	case 6:
		return imaging.Rotate270(img) // imaging turns counter-clockwise
	case 7:
		return imaging.Transverse(img)
	case 8:
		return imaging.Rotate90(img)
	}
	return img
}
