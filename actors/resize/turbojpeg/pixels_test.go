//go:build cgo && !noturbojpeg

package turbojpeg_test

import (
	"bytes"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"

	"github.com/backlot/backlot/actors/resize/turbojpeg"
)

// TestDecodePixels: a YCCK JPEG decodes at full scale to the CMYK values
// image/jpeg gives (libjpeg keeps Adobe's inverted CMYK; DecodePixels
// turns it the right way up), within the rounding of two colour
// conversions, and at 1/4 to a quarter of each side.
func TestDecodePixels(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "testdata", "ycck.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := turbojpeg.ReadHeader(data)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Pixels || !h.CMYK || h.Planar {
		t.Fatalf("header %+v: want Pixels and CMYK, not Planar", h)
	}
	want, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	wc := want.(*image.CMYK)
	one := turbojpeg.Factor{Num: 1, Denom: 1}
	got, err := turbojpeg.DecodePixels(data, one, make([]byte, h.PixelSize(one)))
	if err != nil {
		t.Fatal(err)
	}
	gc, ok := got.(*image.CMYK)
	if !ok || gc.Rect != wc.Rect {
		t.Fatalf("got a %T of %v, want a CMYK of %v", got, got.Bounds(), wc.Rect)
	}
	var sum, worst int
	for i := range gc.Pix {
		d := int(gc.Pix[i]) - int(wc.Pix[i])
		d = max(d, -d)
		sum += d
		worst = max(worst, d)
	}
	if mean := float64(sum) / float64(len(gc.Pix)); mean > 1 || worst > 8 {
		t.Errorf("CMYK differs from image/jpeg's by %.2f on average, %d at most", mean, worst)
	}

	quarter := turbojpeg.Factor{Num: 1, Denom: 4}
	if _, err := turbojpeg.DecodePixels(data, quarter, make([]byte, h.PixelSize(quarter)-1)); err == nil {
		t.Error("a buffer one byte short was accepted")
	}
	small, err := turbojpeg.DecodePixels(data, quarter, make([]byte, h.PixelSize(quarter)))
	if err != nil {
		t.Fatal(err)
	}
	if b := small.Bounds(); b.Dx() != 120 || b.Dy() != 90 {
		t.Errorf("1/4 of 480x360 decoded to %v", b)
	}
	// A YCbCr JPEG is not for DecodePixels.
	ycc, _ := os.ReadFile(filepath.Join("..", "testdata", "444.jpg"))
	if hd, err := turbojpeg.ReadHeader(ycc); err != nil || hd.Pixels {
		t.Errorf("4:4:4 YCbCr header %+v (%v): not Pixels", hd, err)
	}
	if _, err := turbojpeg.DecodePixels(ycc, one, make([]byte, 4*480*360)); err == nil {
		t.Error("DecodePixels decoded a YCbCr JPEG")
	}
}
