package resize

import (
	"image"
	"image/color"
	"math"
	"testing"

	"github.com/disintegration/imaging"

	"github.com/backlot/backlot/persistence"
)

// numbered is a w×h image whose every pixel is distinct.
func numbered(w, h int) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.SetNRGBA(x, y, color.NRGBA{uint8(x), uint8(y), 0, 255})
		}
	}
	return m
}

// TestSourcePointMatchesOrient ties sourcePoint (used for the crop) to
// orient (used for the pixels): they must agree for all eight orientations.
func TestSourcePointMatchesOrient(t *testing.T) {
	const sw, sh = 7, 4
	src := numbered(sw, sh)
	for o := 1; o <= 8; o++ {
		shown := orient(src, o)
		b := shown.Bounds()
		if transposed(o) != (b.Dx() == sh) {
			t.Fatalf("orientation %d: shown size %v", o, b.Size())
		}
		for y := range b.Dy() {
			for x := range b.Dx() {
				sx, sy := sourcePoint(o, x, y, sw, sh)
				if got, want := shown.NRGBAAt(x, y), src.NRGBAAt(sx, sy); got != want {
					t.Fatalf("orientation %d: shown (%d,%d) = %v, sourcePoint says (%d,%d) = %v", o, x, y, got, sx, sy, want)
				}
			}
		}
	}
}

func TestPlan(t *testing.T) {
	opts := func(w, h int, fit persistence.Fit) persistence.Options {
		return persistence.Options{Width: w, Height: h, Fit: fit, Format: persistence.FormatJPEG, Quality: 85}
	}
	cases := []struct {
		name       string
		sw, sh, o  int
		opts       persistence.Options
		crop       image.Rectangle
		w, h       int
		outW, outH int
	}{
		{"cover landscape", 400, 300, 1, opts(100, 100, persistence.FitCover), image.Rect(51, 0, 351, 300), 100, 100, 100, 100},
		{"cover portrait", 300, 400, 1, opts(100, 100, persistence.FitCover), image.Rect(0, 51, 300, 351), 100, 100, 100, 100},
		{"cover wide box", 300, 300, 1, opts(200, 100, persistence.FitCover), image.Rect(0, 75, 300, 225), 200, 100, 200, 100},
		{"contain landscape", 400, 300, 1, opts(100, 100, persistence.FitContain), image.Rect(0, 0, 400, 300), 100, 75, 100, 75},
		{"contain portrait", 300, 400, 1, opts(100, 100, persistence.FitContain), image.Rect(0, 0, 300, 400), 75, 100, 75, 100},
		{"contain enlarges", 40, 30, 1, opts(100, 100, persistence.FitContain), image.Rect(0, 0, 40, 30), 100, 75, 100, 75},
		{"fill", 400, 300, 1, opts(50, 120, persistence.FitFill), image.Rect(0, 0, 400, 300), 50, 120, 50, 120},
		// Stored 400x300, shown 300x400 (portrait): the cover crop is taken
		// across the shown height, which is the stored width.
		{"cover rotated", 400, 300, 6, opts(100, 100, persistence.FitCover), image.Rect(51, 0, 351, 300), 100, 100, 100, 100},
		{"contain rotated", 400, 300, 6, opts(100, 100, persistence.FitContain), image.Rect(0, 0, 400, 300), 100, 75, 75, 100},
		{"fill rotated", 400, 300, 8, opts(50, 120, persistence.FitFill), image.Rect(0, 0, 400, 300), 120, 50, 50, 120},
		// An odd margin under a mirror lands on the other side.
		{"cover mirrored", 401, 300, 2, opts(100, 100, persistence.FitCover), image.Rect(50, 0, 350, 300), 100, 100, 100, 100},
		{"cover one pixel", 1, 1000, 1, opts(100, 100, persistence.FitCover), image.Rect(0, 500, 1, 501), 100, 100, 100, 100},
		{"contain thin", 1000, 1, 1, opts(100, 100, persistence.FitContain), image.Rect(0, 0, 1000, 1), 100, 1, 100, 1},
		// The output bound: at most max(4 × source pixels, 256×256).
		{"cover bounded to the floor", 16, 16, 1, opts(4096, 4096, persistence.FitCover), image.Rect(0, 0, 16, 16), 256, 256, 256, 256},
		{"contain bounded to the floor", 16, 16, 1, opts(4096, 4096, persistence.FitContain), image.Rect(0, 0, 16, 16), 256, 256, 256, 256},
		{"fill bounded keeps the box's aspect", 16, 16, 1, opts(4096, 1024, persistence.FitFill), image.Rect(0, 0, 16, 16), 512, 128, 512, 128},
		{"cover bounded keeps the box's aspect", 64, 64, 1, opts(4096, 2048, persistence.FitCover), image.Rect(0, 16, 64, 48), 362, 181, 362, 181},
		{"contain bounded keeps the image's aspect", 400, 300, 1, opts(4096, 4096, persistence.FitContain), image.Rect(0, 0, 400, 300), 800, 600, 800, 600},
		{"bounded by 4x the source", 1000, 1000, 1, opts(4096, 4096, persistence.FitCover), image.Rect(0, 0, 1000, 1000), 2000, 2000, 2000, 2000},
		{"bounded rotated", 40, 30, 6, opts(4096, 4096, persistence.FitContain), image.Rect(0, 0, 40, 30), 295, 221, 221, 295},
		{"at the bound is kept", 128, 128, 1, opts(256, 256, persistence.FitFill), image.Rect(0, 0, 128, 128), 256, 256, 256, 256},
		{"2x per side is kept", 1000, 500, 1, opts(2000, 1000, persistence.FitFill), image.Rect(0, 0, 1000, 500), 2000, 1000, 2000, 1000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := makePlan(c.sw, c.sh, c.o, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if p.crop != c.crop || p.w != c.w || p.h != c.h || p.outW != c.outW || p.outH != c.outH {
				t.Errorf("plan = crop %v, target %dx%d, out %dx%d; want crop %v, target %dx%d, out %dx%d",
					p.crop, p.w, p.h, p.outW, p.outH, c.crop, c.w, c.h, c.outW, c.outH)
			}
		})
	}
}

// TestCoverCrop: the cover crop has imaging.Fill's size and starts where
// sharp's centre crop does (sharpCrop), from the sizes alone, so
// pre-shrinking changes speed, never framing.
func TestCoverCrop(t *testing.T) {
	for _, sz := range [][2]int{{640, 360}, {360, 640}, {333, 777}, {1001, 999}, {1920, 1080}} {
		for _, box := range [][2]int{{100, 100}, {160, 90}, {37, 200}, {320, 320}} {
			src := numbered(sz[0], sz[1])
			p, err := makePlan(sz[0], sz[1], 1, persistence.Options{Width: box[0], Height: box[1], Fit: persistence.FitCover})
			if err != nil {
				t.Fatal(err)
			}
			// imaging.Fill's crop: the same size, centred.
			c := p.crop.Sub(p.crop.Min).Add(image.Pt((sz[0]-p.crop.Dx())/2, (sz[1]-p.crop.Dy())/2))
			want := imaging.Fill(src, box[0], box[1], imaging.Center, imaging.Lanczos)
			if got := imaging.Resize(src.SubImage(c), box[0], box[1], imaging.Lanczos); !equalNRGBA(got, want) {
				t.Errorf("%v into %v: crop %v is not imaging.Fill's size", sz, box, p.crop)
			}
			// sharp's: the whole image resized to fit the box's short side
			// (round(n/shrink) pixels along the long one), cut from
			// (that − box + 1)/2.
			x, y := 0, 0
			if sz[0]*box[1] >= box[0]*sz[1] {
				shrink := float64(sz[1]) / float64(box[1])
				x = int(math.Round(float64((int(math.Round(float64(sz[0])/shrink))-box[0]+1)/2) * shrink))
			} else {
				shrink := float64(sz[0]) / float64(box[0])
				y = int(math.Round(float64((int(math.Round(float64(sz[1])/shrink))-box[1]+1)/2) * shrink))
			}
			x, y = min(x, sz[0]-p.crop.Dx()), min(y, sz[1]-p.crop.Dy())
			if p.crop.Min != image.Pt(x, y) {
				t.Errorf("%v into %v: crop %v, want it from sharp's %v", sz, box, p.crop, image.Pt(x, y))
			}
		}
	}
	// issue 20's card and thumbnail of a 1920x1080 photo.
	for box, x := range map[int]int{320: 422, 100: 421} {
		if p, _ := makePlan(1920, 1080, 1, persistence.Options{Width: box, Height: box, Fit: persistence.FitCover}); p.crop != image.Rect(x, 0, x+1080, 1080) {
			t.Errorf("1920x1080 into %dx%d: crop %v, want x from %d", box, box, p.crop, x)
		}
	}
}

// coverRef is imaging's Lanczos resize of m's cover crop (makePlan's,
// TestCoverCrop's: imaging.Fill's size, where sharp cuts) into w×h: the
// reference the quality tests hold a cover output to.
func coverRef(t testing.TB, m image.Image, w, h int) *image.NRGBA {
	t.Helper()
	b := m.Bounds()
	p, err := makePlan(b.Dx(), b.Dy(), 1, persistence.Options{Width: w, Height: h, Fit: persistence.FitCover})
	if err != nil {
		t.Fatal(err)
	}
	return imaging.Resize(imaging.Crop(m, p.crop.Add(b.Min)), w, h, imaging.Lanczos)
}

func equalNRGBA(a, b *image.NRGBA) bool {
	if a.Rect.Size() != b.Rect.Size() {
		return false
	}
	for y := range a.Rect.Dy() {
		for x := range a.Rect.Dx() {
			if a.NRGBAAt(x, y) != b.NRGBAAt(x, y) {
				return false
			}
		}
	}
	return true
}

// TestOutputBound: no plan, whatever its box, fit or orientation, makes an
// output of more than MaxOutputPixels; one within it is not reduced; a
// reduced box keeps the asked aspect (contain: the image's) to a pixel.
func TestOutputBound(t *testing.T) {
	if got := MaxOutputPixels(16, 16); got != 256*256 {
		t.Errorf("MaxOutputPixels(16, 16) = %d, want the floor", got)
	}
	if got := MaxOutputPixels(1000, 2000); got != 8_000_000 {
		t.Errorf("MaxOutputPixels(1000, 2000) = %d, want 4x", got)
	}
	sizes := [][2]int{{1, 1}, {16, 16}, {1, 4096}, {4096, 1}, {100, 37}, {640, 480}, {1000, 1000}, {3000, 2000}}
	boxes := [][2]int{{1, 1}, {100, 100}, {256, 256}, {4096, 4096}, {4096, 1}, {1, 4096}, {4096, 300}, {1600, 1600}}
	for _, sz := range sizes {
		for _, box := range boxes {
			for _, fit := range []persistence.Fit{persistence.FitCover, persistence.FitContain, persistence.FitFill} {
				for _, o := range []int{1, 6} {
					p, err := makePlan(sz[0], sz[1], o, persistence.Options{Width: box[0], Height: box[1], Fit: fit})
					if err != nil {
						t.Fatal(err)
					}
					limit := MaxOutputPixels(sz[0], sz[1])
					out := int64(p.outW) * int64(p.outH)
					if out > limit || p.outW < 1 || p.outH < 1 {
						t.Errorf("%v into %v %s (orientation %d): output %dx%d, bound %d pixels", sz, box, fit, o, p.outW, p.outH, limit)
					}
					if int64(p.w)*int64(p.h) != out {
						t.Errorf("%v into %v %s (orientation %d): target %dx%d, output %dx%d", sz, box, fit, o, p.w, p.h, p.outW, p.outH)
					}
					if fit != persistence.FitContain {
						if int64(box[0])*int64(box[1]) <= limit {
							if p.outW != box[0] || p.outH != box[1] {
								t.Errorf("%v into %v %s: output %dx%d though the box is within the bound", sz, box, fit, p.outW, p.outH)
							}
						} else if !sameAspect(p.outW, p.outH, box[0], box[1]) {
							t.Errorf("%v into %v %s: bounded to %dx%d, another aspect", sz, box, fit, p.outW, p.outH)
						}
					}
				}
			}
		}
	}
}

// sameAspect: w×h is a×b scaled, to within a pixel on either side.
func sameAspect(w, h, a, b int) bool {
	ew := float64(h) * float64(a) / float64(b) // the width h calls for
	eh := float64(w) * float64(b) / float64(a)
	return (ew-float64(w) < 1.5 && float64(w)-ew < 1.5) || (eh-float64(h) < 1.5 && float64(h)-eh < 1.5)
}

func TestBoundBox(t *testing.T) {
	for _, tc := range []struct {
		w, h   int
		limit  int64
		bw, bh int
	}{
		{100, 100, 10000, 100, 100},
		{100, 100, 9999, 99, 99},
		{4096, 4096, 65536, 256, 256},
		{4096, 1, 100, 100, 1},
		{1, 4096, 100, 1, 100},
		{4096, 2, 100, 100, 1}, // a side held at 1 gives the other the rest
		{3, 3, 0, 1, 1},
	} {
		bw, bh := boundBox(tc.w, tc.h, tc.limit)
		if bw != tc.bw || bh != tc.bh {
			t.Errorf("boundBox(%d, %d, %d) = %dx%d, want %dx%d", tc.w, tc.h, tc.limit, bw, bh, tc.bw, tc.bh)
		}
	}
}
