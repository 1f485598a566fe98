//go:build cgo && !noturbojpeg

package turbojpeg_test

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"sync"
	"testing"

	"github.com/backlot/backlot/actors/resize"
	"github.com/backlot/backlot/actors/resize/turbojpeg"
)

// photo is a photo-like RGBA image of w×h (the generator the benches use).
func photo(t testing.TB, w, h int) *image.RGBA {
	t.Helper()
	src := resize.Synthetic(w, h, 7)
	m := image.NewRGBA(src.Bounds())
	for y := range h {
		for x := range w {
			m.Set(x, y, src.At(x, y))
		}
	}
	return m
}

// psnr compares two images of one size over R, G and B.
func psnr(a, b image.Image) float64 {
	var se float64
	n := 0
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			p := color.RGBAModel.Convert(a.At(x, y)).(color.RGBA)
			q := color.RGBAModel.Convert(b.At(x, y)).(color.RGBA)
			for _, d := range []int{int(p.R) - int(q.R), int(p.G) - int(q.G), int(p.B) - int(q.B)} {
				se += float64(d * d)
				n++
			}
		}
	}
	return 10 * math.Log10(255*255*float64(n)/max(se, 1e-9))
}

// TestEncode: what Encode writes is a JPEG image/jpeg reads back at the
// size given, as close to the pixels as image/jpeg's own encoding at the
// same quality (within 1 dB), for colour (odd sizes: partial MCUs) and gray.
func TestEncode(t *testing.T) {
	for _, sz := range []image.Point{{100, 100}, {133, 77}, {1, 1}, {640, 480}} {
		rgba := photo(t, sz.X, sz.Y)
		gray := image.NewGray(rgba.Rect)
		for i := range gray.Pix {
			gray.Pix[i] = rgba.Pix[4*i+1]
		}
		for _, img := range []image.Image{rgba, gray} {
			_, isGray := img.(*image.Gray)
			buf := make([]byte, turbojpeg.EncodeBound(sz.X, sz.Y, isGray))
			out, err := turbojpeg.Encode(img, 85, buf)
			if err != nil {
				t.Fatalf("%v gray=%v: %v", sz, isGray, err)
			}
			got, err := jpeg.Decode(bytes.NewReader(out))
			if err != nil {
				t.Fatalf("%v gray=%v: image/jpeg cannot read it: %v", sz, isGray, err)
			}
			if got.Bounds() != img.Bounds() {
				t.Fatalf("%v gray=%v: decoded %v", sz, isGray, got.Bounds())
			}
			if _, g := got.(*image.Gray); g != isGray {
				t.Errorf("%v: gray in, %T out", sz, got)
			}
			var ref bytes.Buffer
			if err := jpeg.Encode(&ref, img, &jpeg.Options{Quality: 85}); err != nil {
				t.Fatal(err)
			}
			refLen := ref.Len()
			want, err := jpeg.Decode(&ref)
			if err != nil {
				t.Fatal(err)
			}
			p, pr := psnr(img, got), psnr(img, want)
			t.Logf("%v gray=%v: %d bytes, %.1f dB (image/jpeg: %d bytes, %.1f dB)", sz, isGray, len(out), p, refLen, pr)
			if p < pr-1 || p < 30 {
				t.Errorf("%v gray=%v: %.1f dB, image/jpeg %.1f dB", sz, isGray, p, pr)
			}
		}
	}
}

func TestEncodeRejects(t *testing.T) {
	rgba := image.NewRGBA(image.Rect(0, 0, 16, 16))
	bound := turbojpeg.EncodeBound(16, 16, false)
	cases := map[string]func() ([]byte, error){
		"nrgba":        func() ([]byte, error) { return turbojpeg.Encode(image.NewNRGBA(rgba.Rect), 85, make([]byte, bound)) },
		"short buffer": func() ([]byte, error) { return turbojpeg.Encode(rgba, 85, make([]byte, 100)) },
		"no buffer":    func() ([]byte, error) { return turbojpeg.Encode(rgba, 85, nil) },
		"quality 0":    func() ([]byte, error) { return turbojpeg.Encode(rgba, 0, make([]byte, bound)) },
		"quality 101":  func() ([]byte, error) { return turbojpeg.Encode(rgba, 101, make([]byte, bound)) },
		"empty": func() ([]byte, error) {
			return turbojpeg.Encode(image.NewRGBA(image.Rect(0, 0, 0, 5)), 85, make([]byte, bound))
		},
		"short pixels": func() ([]byte, error) {
			return turbojpeg.Encode(&image.RGBA{Pix: rgba.Pix[:10], Stride: 64, Rect: rgba.Rect}, 85, make([]byte, bound))
		},
		"narrow stride": func() ([]byte, error) {
			return turbojpeg.Encode(&image.RGBA{Pix: rgba.Pix, Stride: 8, Rect: rgba.Rect}, 85, make([]byte, bound))
		},
	}
	for name, f := range cases {
		if out, err := f(); err == nil {
			t.Errorf("%s: %d bytes, no error", name, len(out))
		}
	}
	// A failure leaves the next call working.
	if _, err := turbojpeg.Encode(rgba, 85, make([]byte, bound)); err != nil {
		t.Fatal(err)
	}
}

func TestEncodeConcurrent(t *testing.T) {
	img := photo(t, 100, 100)
	want, err := turbojpeg.Encode(img, 85, make([]byte, turbojpeg.EncodeBound(100, 100, false)))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				got, err := turbojpeg.Encode(img, 85, make([]byte, turbojpeg.EncodeBound(100, 100, false)))
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("concurrent encode: err %v, equal %v", err, bytes.Equal(got, want))
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkEncode(b *testing.B) {
	img := photo(b, 100, 100)
	buf := make([]byte, turbojpeg.EncodeBound(100, 100, false))
	b.Run("turbojpeg", func(b *testing.B) {
		for b.Loop() {
			if _, err := turbojpeg.Encode(img, 85, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("image-jpeg", func(b *testing.B) {
		var w bytes.Buffer
		for b.Loop() {
			w.Reset()
			if err := jpeg.Encode(&w, img, &jpeg.Options{Quality: 85}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
