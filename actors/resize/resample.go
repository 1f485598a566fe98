package resize

import (
	"fmt"
	"image"

	"github.com/disintegration/imaging"

	"github.com/backlot/backlot/persistence"
)

// resample turns the decoded source into the displayed output: crop,
// pre-shrink, Lanczos to the exact size, orientation.
func resample(img image.Image, p plan) *image.NRGBA {
	crop := p.crop.Add(img.Bounds().Min)
	xs, ys := blocks(crop.Dx(), p.w), blocks(crop.Dy(), p.h)
	var small image.Image
	var pooled []byte
	if xs == nil && ys == nil {
		small = subImage(img, crop)
	} else {
		if xs == nil {
			xs = ones(crop.Dx())
		}
		if ys == nil {
			ys = ones(crop.Dy())
		}
		switch m := img.(type) {
		case *image.YCbCr:
			s := shrinkYCbCr(m, crop.Min, xs, ys)
			small, pooled = s, s.Pix
		case *image.Gray:
			s := shrinkGray(m, crop.Min, xs, ys)
			small, pooled = s, s.Pix
		default:
			s := shrinkAny(m, crop.Min, xs, ys)
			small, pooled = s, s.Pix
		}
	}
	out := imaging.Resize(small, p.w, p.h, imaging.Lanczos)
	putBytes(pooled) // Resize always returns a new image
	return orient(out, p.orient)
}

// subImage crops without copying; imaging's scanner reads any bounds.
func subImage(img image.Image, r image.Rectangle) image.Image {
	if r == img.Bounds() {
		return img
	}
	if s, ok := img.(interface {
		SubImage(image.Rectangle) image.Image
	}); ok {
		return s.SubImage(r)
	}
	return imaging.Crop(img, r)
}

// withDefaults fills zero-valued options the way an upload without them
// would (API.md) and rejects what no encoder can do.
func withDefaults(o persistence.Options) (persistence.Options, error) {
	d := persistence.DefaultOptions()
	if o.Fit == "" {
		o.Fit = d.Fit
	}
	if o.Format == "" {
		o.Format = d.Format
	}
	if o.Quality == 0 {
		o.Quality = d.Quality
	}
	switch o.Format {
	case persistence.FormatJPEG, persistence.FormatPNG:
	default:
		return o, fmt.Errorf("unknown output format %q", o.Format)
	}
	if o.Width > persistence.MaxDimension || o.Height > persistence.MaxDimension {
		return o, fmt.Errorf("output box %dx%d is over %d", o.Width, o.Height, persistence.MaxDimension)
	}
	return o, nil
}
