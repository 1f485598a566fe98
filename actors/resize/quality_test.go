package resize

import (
	"bytes"
	"image"
	"image/draw"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/disintegration/imaging"

	"github.com/backlot/backlot/actors/resize/turbojpeg"
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
			coverRef(t, full, 100, 100)},
		{"contain 400x300", options(400, 300, persistence.FitContain, persistence.FormatPNG),
			imaging.Resize(full, 400, 225, imaging.Lanczos)},
		{"fill 300x300", options(300, 300, persistence.FitFill, persistence.FormatPNG),
			imaging.Resize(full, 300, 300, imaging.Lanczos)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := filepath.Join(dir, "dst.png")
			if _, err := processFile(src, dst, c.opts, Limits{}); err != nil {
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

// TestQualityScaled holds every JPEG path to a plain Lanczos resize of
// image/jpeg's full decode, at each DCT scale libjpeg-turbo picks (the
// cases are chosen so that each factor is picked; in a pure-Go build the
// same cases check the box pre-shrink), for each chroma subsampling, for
// grayscale, and for YCCK, which libjpeg-turbo leaves to image/jpeg.
func TestQualityScaled(t *testing.T) {
	dir := t.TempDir()
	file := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	big := encodeAs(t, "jpeg", Synthetic(1600, 1200, 42))
	odd := encodeAs(t, "jpeg", Synthetic(1001, 777, 43))
	gray := encodeAs(t, "jpeg", grayOf(Synthetic(1600, 1200, 44)))
	cover := func(n int) persistence.Options { return options(n, n, persistence.FitCover, persistence.FormatPNG) }
	eighth, quarter, half := frac(1, 8), frac(1, 4), frac(1, 2)
	cases := []struct {
		name  string
		data  []byte
		opts  persistence.Options
		scale turbojpeg.Factor // libjpeg-turbo's; the zero Factor when it declines the file
	}{
		{"1600x1200 cover 50 at 1/8", big, cover(50), eighth},
		{"1600x1200 cover 100 at 1/8", big, cover(100), eighth}, // sharp decodes at 1/8 here too
		{"1600x1200 cover 200 at 1/4", big, cover(200), quarter},
		{"1600x1200 cover 400 at 1/2", big, cover(400), half}, // 3/8 would do; loadFactors lacks it
		{"1600x1200 cover 500 at 1/2", big, cover(500), half},
		{"1600x1200 contain 300 at 1/4", big, options(300, 300, persistence.FitContain, persistence.FormatPNG), quarter},
		{"1600x1200 fill 64x400 at 1/2", big, options(64, 400, persistence.FitFill, persistence.FormatPNG), half},
		{"1001x777 cover 150 at 1/4", odd, cover(150), quarter},
		{"1001x777 cover 40 at 1/8", odd, cover(40), eighth},
		{"gray cover 50 at 1/8", gray, cover(50), eighth},
		{"gray cover 250 at 1/4", gray, cover(250), quarter},
		{"4:2:2 cover 20 at 1/8", file("422.jpg"), cover(20), eighth},
		{"4:2:2 cover 80 at 1/4", file("422.jpg"), cover(80), quarter},
		{"4:4:4 cover 20 at 1/8", file("444.jpg"), cover(20), eighth},
		{"4:4:4 cover 160 at 1/2", file("444.jpg"), cover(160), half},
		{"4:4:0 cover 80 at 1/4", file("440.jpg"), cover(80), quarter},
		{"4:1:1 cover 20 at 1/4", file("411.jpg"), cover(20), quarter}, // chroma 4x coarser: not 1/8
		{"4:1:1 cover 10 at 1/8", file("411.jpg"), cover(10), eighth},
		{"progressive 4:2:0 cover 80 at 1/4", file("420-progressive.jpg"), cover(80), quarter},
		{"ycck cover 40", file("ycck.jpg"), cover(40), turbojpeg.Factor{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			full, err := jpeg.Decode(bytes.NewReader(c.data))
			if err != nil {
				t.Fatal(err)
			}
			b := full.Bounds()
			if c.scale != (turbojpeg.Factor{}) {
				cx, cy := 1, 1
				if m, ok := full.(*image.YCbCr); ok {
					hs, vs := ycbcrShifts(m.SubsampleRatio)
					cx, cy = 1<<hs, 1<<vs
				}
				if got := dctScale(jpegloadFactors(turboFactors), b.Dx(), b.Dy(), cx, cy, 1, c.opts); got != c.scale {
					t.Fatalf("dctScale picks %v, the case is meant for %v", got, c.scale)
				}
			}
			var ref image.Image
			switch c.opts.Fit {
			case persistence.FitCover:
				ref = coverRef(t, full, c.opts.Width, c.opts.Height)
			case persistence.FitContain:
				ref = imaging.Fit(full, c.opts.Width, c.opts.Height, imaging.Lanczos)
			default:
				ref = imaging.Resize(full, c.opts.Width, c.opts.Height, imaging.Lanczos)
			}
			src := writeFile(t, dir, "src.jpg", c.data)
			got, _ := processOK(t, src, c.opts, Limits{})
			p := psnr(t, got, ref)
			t.Logf("PSNR %.1f dB", p)
			if p < 35 {
				t.Errorf("PSNR %.1f dB < 35 dB against a full Lanczos resize", p)
			}
		})
	}
}

// TestLumaSSIM: the SSIM the variants comparison reports is 1 for an
// image against itself, falls with noise added, and more with more.
func TestLumaSSIM(t *testing.T) {
	src := Synthetic(96, 64, 3)
	noisy := func(amp int) *image.RGBA {
		m := image.NewRGBA(src.Bounds())
		copy(m.Pix, src.Pix)
		for i := range m.Pix {
			if i%4 != 3 {
				m.Pix[i] = uint8(min(255, max(0, int(m.Pix[i])+(i*7919%(2*amp+1))-amp)))
			}
		}
		return m
	}
	same, some, more := LumaSSIM(src, src), LumaSSIM(src, noisy(8)), LumaSSIM(src, noisy(40))
	if same != 1 || !(some < 1 && more < some) {
		t.Errorf("SSIM itself %.4f, noise ±8 %.4f, noise ±40 %.4f: want 1 > ±8 > ±40", same, some, more)
	}
}
