package resize

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
)

// PhotoCrops returns n w×h crops of the JPEG photograph jpg, for
// benchmarks that want real pictures rather than Synthetic's: the photo
// is decoded, turned upright by its Exif orientation and cut, at its own
// resolution (never scaled), at n offsets spread evenly from its top-left
// corner to its bottom-right one. Crops overlap when the photo is not
// large enough for n distinct ones. The photo must be at least w×h.
func PhotoCrops(jpg []byte, w, h, n int) ([]*image.NRGBA, error) {
	src, err := jpeg.Decode(bytes.NewReader(jpg))
	if err != nil {
		return nil, err
	}
	b := src.Bounds()
	m := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(m, m.Rect, src, b.Min, draw.Src)
	m = orient(m, exifOrientation(jpg[:min(len(jpg), exifHeadLen)]))
	sw, sh := m.Rect.Dx(), m.Rect.Dy()
	if sw < w || sh < h || n < 1 {
		return nil, fmt.Errorf("resize: a %dx%d photo has no %d crops of %dx%d", sw, sh, n, w, h)
	}
	crops := make([]*image.NRGBA, n)
	for i := range crops {
		x, y := 0, 0
		if n > 1 {
			x, y = i*(sw-w)/(n-1), i*(sh-h)/(n-1)
		}
		c := image.NewNRGBA(image.Rect(0, 0, w, h))
		draw.Draw(c, c.Rect, m, image.Pt(x, y), draw.Src)
		crops[i] = c
	}
	return crops, nil
}
