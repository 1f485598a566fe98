package resize

import (
	"image"
	"image/color"
	"image/color/palette"
	"image/draw"
	"testing"

	"github.com/disintegration/imaging"

	"github.com/backlot/backlot/persistence"
)

func TestBlocks(t *testing.T) {
	for _, c := range []struct{ n, t int }{{1080, 100}, {4000, 133}, {1000, 100}, {999, 7}, {401, 100}, {100000, 1}} {
		s := blocks(c.n, c.t)
		if len(s) < 2*c.t {
			t.Errorf("blocks(%d, %d): %d runs, under twice the target", c.n, c.t, len(s))
		}
		k := c.n / (2 * c.t)
		for i, r := range s {
			if i > 0 && r.lo != s[i-1].hi || r.hi-r.lo < k || r.hi-r.lo > k+1 {
				t.Fatalf("blocks(%d, %d): run %d is %v (k=%d)", c.n, c.t, i, r, k)
			}
		}
		if s[0].lo != 0 || s[len(s)-1].hi != c.n {
			t.Errorf("blocks(%d, %d) covers %d..%d", c.n, c.t, s[0].lo, s[len(s)-1].hi)
		}
	}
	if s := blocks(399, 100); s != nil {
		t.Errorf("blocks(399, 100) shrinks under 2x: %d runs", len(s))
	}
}

// toYCbCr converts m to YCbCr with the given subsampling, averaging the
// chroma of each subsampled block as an encoder would.
func toYCbCr(m *image.RGBA, r image.YCbCrSubsampleRatio) *image.YCbCr {
	b := m.Bounds()
	out := image.NewYCbCr(b, r)
	cb := make([]int, len(out.Cb))
	cr := make([]int, len(out.Cr))
	n := make([]int, len(out.Cb))
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := m.RGBAAt(x, y)
			yy, u, v := color.RGBToYCbCr(c.R, c.G, c.B)
			out.Y[out.YOffset(x, y)] = yy
			i := out.COffset(x, y)
			cb[i] += int(u)
			cr[i] += int(v)
			n[i]++
		}
	}
	for i := range n {
		if n[i] > 0 {
			out.Cb[i] = uint8((cb[i] + n[i]/2) / n[i])
			out.Cr[i] = uint8((cr[i] + n[i]/2) / n[i])
		}
	}
	return out
}

// TestResampleTypes: every decoded type the pre-shrink reads (each chroma
// subsampling, gray, alpha, paletted) against imaging on the full image.
func TestResampleTypes(t *testing.T) {
	rgba := Synthetic(480, 360, 11)
	// Odd sizes and a non-zero origin catch plane offset mistakes.
	odd := Synthetic(481, 359, 12)
	gray := image.NewGray(rgba.Bounds())
	draw.Draw(gray, gray.Bounds(), rgba, image.Point{}, draw.Src)
	alpha := image.NewNRGBA(rgba.Bounds())
	draw.Draw(alpha, alpha.Bounds(), rgba, image.Point{}, draw.Src)
	for i := 3; i < len(alpha.Pix); i += 4 {
		alpha.Pix[i] = uint8(i / 4 % 480 * 255 / 479) // alpha ramps left to right
	}
	pal := image.NewPaletted(rgba.Bounds(), palette.Plan9)
	draw.Draw(pal, pal.Bounds(), rgba, image.Point{}, draw.Src)
	shifted := toYCbCr(odd, image.YCbCrSubsampleRatio420).SubImage(image.Rect(1, 1, 481, 359))

	cases := []struct {
		name string
		img  image.Image
	}{
		{"ycbcr 4:4:4", toYCbCr(rgba, image.YCbCrSubsampleRatio444)},
		{"ycbcr 4:2:2", toYCbCr(rgba, image.YCbCrSubsampleRatio422)},
		{"ycbcr 4:2:0", toYCbCr(rgba, image.YCbCrSubsampleRatio420)},
		{"ycbcr 4:4:0", toYCbCr(rgba, image.YCbCrSubsampleRatio440)},
		{"ycbcr 4:1:1", toYCbCr(rgba, image.YCbCrSubsampleRatio411)},
		{"ycbcr 4:2:0 odd size", toYCbCr(odd, image.YCbCrSubsampleRatio420)},
		{"ycbcr 4:2:0 sub-image", shifted},
		{"gray", gray},
		{"nrgba with alpha", alpha},
		{"paletted", pal},
		{"rgba", rgba},
	}
	boxes := []persistence.Options{
		{Width: 60, Height: 60, Fit: persistence.FitCover},   // 3x pre-shrink
		{Width: 50, Height: 170, Fit: persistence.FitFill},   // shrinks one axis only
		{Width: 200, Height: 200, Fit: persistence.FitCover}, // no pre-shrink: imaging reads the crop
	}
	for _, c := range cases {
		for _, o := range boxes {
			t.Run(c.name+"/"+string(o.Fit), func(t *testing.T) {
				b := c.img.Bounds()
				p, err := makePlan(b.Dx(), b.Dy(), 1, o)
				if err != nil {
					t.Fatal(err)
				}
				got := resample(c.img, p, 1)
				var want image.Image
				if o.Fit == persistence.FitCover {
					want = coverRef(t, c.img, o.Width, o.Height)
				} else {
					want = imaging.Resize(c.img, o.Width, o.Height, imaging.Lanczos)
				}
				db := psnr(t, got, want)
				t.Logf("PSNR %.1f dB", db)
				if db < 35 {
					t.Errorf("PSNR %.1f dB against imaging", db)
				}
			})
		}
	}
}
