package resize

import (
	"fmt"
	"image"

	"github.com/disintegration/imaging"

	"github.com/backlot/backlot/persistence"
)

// resample turns the decoded source into the displayed output: crop,
// pre-shrink, Lanczos to the exact size, orientation. The plan is in
// source pixels; scale is decoded pixels per source pixel, below 1 only
// for a JPEG libjpeg-turbo decoded at a DCT scale (always planar).
func resample(img image.Image, p plan, scale float64) *image.NRGBA {
	switch img.(type) {
	case *image.YCbCr, *image.Gray:
		return orient(resamplePlanar(img, p, scale), p.orient)
	}
	return orient(resampleAny(img, p), p.orient)
}

// resampleAny is resample for every other decoded type (paletted GIF,
// NRGBA PNG, CMYK JPEG, ...), decoded at full size: box pre-shrink to
// premultiplied RGBA, then imaging's Lanczos.
func resampleAny(img image.Image, p plan) *image.NRGBA {
	crop := p.crop.Add(img.Bounds().Min)
	xs, ys := blocks(crop.Dx(), p.w), blocks(crop.Dy(), p.h)
	if xs == nil && ys == nil {
		return imaging.Resize(subImage(img, crop), p.w, p.h, imaging.Lanczos)
	}
	if xs == nil {
		xs = ones(crop.Dx())
	}
	if ys == nil {
		ys = ones(crop.Dy())
	}
	s := shrinkAny(img, crop.Min, xs, ys)
	out := imaging.Resize(s, p.w, p.h, imaging.Lanczos)
	putBytes(s.Pix) // Resize always returns a new image
	return out
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
		o.Quality = o.Format.DefaultQuality()
	}
	if err := CanEncode(o.Format); err != nil {
		return o, err
	}
	if o.Width > persistence.MaxDimension || o.Height > persistence.MaxDimension {
		return o, fmt.Errorf("output box %dx%d is over %d", o.Width, o.Height, persistence.MaxDimension)
	}
	return o, nil
}

// variantsOf is opts' outputs with their defaults (withDefaults each).
func variantsOf(opts persistence.Options) ([]persistence.Variant, error) {
	outs := opts.Outputs()
	vs := make([]persistence.Variant, len(outs))
	for i, v := range outs {
		o, err := withDefaults(persistence.Single(v))
		if err != nil {
			if len(opts.Variants) > 0 {
				err = fmt.Errorf("variant %q: %w", v.Name, err)
			}
			return nil, err
		}
		vs[i] = persistence.Variant{Name: v.Name, Width: o.Width, Height: o.Height, Fit: o.Fit, Format: o.Format, Quality: o.Quality}
	}
	return vs, nil
}

// asVariant is the one output of opts, which has no variants.
func asVariant(opts persistence.Options) persistence.Variant { return opts.Outputs()[0] }
