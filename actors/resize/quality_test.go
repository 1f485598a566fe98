package resize

import (
	"bytes"
	"image"
	"image/draw"
	"image/jpeg"
	"math"
	"path/filepath"
	"testing"

	"github.com/disintegration/imaging"

	"github.com/backlot/backlot/persistence"
)

// psnr compares two same-sized images over their premultiplied RGB
// channels, in dB; +Inf when equal.
func psnr(t testing.TB, a, b image.Image) float64 {
	t.Helper()
	pa, pb := premultiplied(a), premultiplied(b)
	if pa.Rect.Size() != pb.Rect.Size() {
		t.Fatalf("sizes differ: %v vs %v", pa.Rect.Size(), pb.Rect.Size())
	}
	var se float64
	for i := range pa.Pix {
		if i%4 != 3 {
			d := float64(pa.Pix[i]) - float64(pb.Pix[i])
			se += d * d
		}
	}
	mse := se / float64(len(pa.Pix)/4*3)
	if mse == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255/mse)
}

// TestQuality holds the pipeline (pre-shrink + Lanczos) to a plain
// full-decode Lanczos resize of the same JPEG. PNG output keeps JPEG's
// own loss out of the comparison.
func TestQuality(t *testing.T) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, Synthetic(1920, 1080, 42), &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	full, err := jpeg.Decode(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := writeFile(t, dir, "src.jpg", buf.Bytes())
	cases := []struct {
		name string
		opts persistence.Options
		ref  image.Image
	}{
		{"cover 100x100", options(100, 100, persistence.FitCover, persistence.FormatPNG),
			imaging.Fill(full, 100, 100, imaging.Center, imaging.Lanczos)},
		{"contain 400x300", options(400, 300, persistence.FitContain, persistence.FormatPNG),
			imaging.Resize(full, 400, 225, imaging.Lanczos)},
		{"fill 300x300", options(300, 300, persistence.FitFill, persistence.FormatPNG),
			imaging.Resize(full, 300, 300, imaging.Lanczos)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := filepath.Join(dir, "dst.png")
			if _, err := Process(src, dst, c.opts, Limits{}); err != nil {
				t.Fatal(err)
			}
			got, _ := decodeFile(t, dst)
			p := psnr(t, got, c.ref)
			t.Logf("PSNR %.1f dB", p)
			if p < 35 {
				t.Errorf("PSNR %.1f dB < 35 dB against a full Lanczos resize", p)
			}
		})
	}
}

// premultiplied copies m into an *image.RGBA at the origin; draw.Draw has
// fast paths where At() per pixel would dominate a -race run.
func premultiplied(m image.Image) *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, m.Bounds().Dx(), m.Bounds().Dy()))
	draw.Draw(out, out.Rect, m, m.Bounds().Min, draw.Src)
	return out
}
