//go:build cgo && !noturbojpeg

package turbojpeg_test

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/backlot/backlot/actors/resize"
	"github.com/backlot/backlot/actors/resize/turbojpeg"
)

// These tests need the library; in a build without it TestAvailable
// checks that Decode and ReadHeader say so.

type input struct {
	name  string
	data  []byte
	gray  bool
	ratio image.YCbCrSubsampleRatio
}

// inputs are JPEGs of every kind Decode handles: image/jpeg's own 4:2:0
// and grayscale (odd sizes, so planes are padded) and libjpeg-turbo's
// other subsamplings from ../testdata.
func inputs(t testing.TB) []input {
	t.Helper()
	enc := func(m image.Image) []byte {
		var b bytes.Buffer
		if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 90}); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	rgba := resize.Synthetic(333, 251, 3)
	g := image.NewGray(rgba.Rect)
	for i := range g.Pix {
		g.Pix[i] = rgba.Pix[4*i+1]
	}
	in := []input{
		{"420 odd", enc(rgba), false, image.YCbCrSubsampleRatio420},
		{"gray odd", enc(g), true, 0},
	}
	for _, f := range []struct {
		file  string
		ratio image.YCbCrSubsampleRatio
	}{
		{"422.jpg", image.YCbCrSubsampleRatio422},
		{"444.jpg", image.YCbCrSubsampleRatio444},
		{"440.jpg", image.YCbCrSubsampleRatio440},
		{"411.jpg", image.YCbCrSubsampleRatio411},
		{"420-progressive.jpg", image.YCbCrSubsampleRatio420},
	} {
		b, err := os.ReadFile(filepath.Join("..", "testdata", f.file))
		if err != nil {
			t.Fatal(err)
		}
		in = append(in, input{f.file, b, false, f.ratio})
	}
	return in
}

// TestDecode: every input at every reducing factor has the promised size
// and type, and at 1/1 the planes are image/jpeg's (both decoders are
// accurate integer IDCTs; they may differ by rounding).
func TestDecode(t *testing.T) {
	for _, in := range inputs(t) {
		t.Run(in.name, func(t *testing.T) {
			h, err := turbojpeg.ReadHeader(in.data)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := jpeg.Decode(bytes.NewReader(in.data))
			if err != nil {
				t.Fatal(err)
			}
			if !h.Planar || h.Gray != in.gray || !in.gray && h.Ratio != in.ratio ||
				h.Width != ref.Bounds().Dx() || h.Height != ref.Bounds().Dy() {
				t.Fatalf("header %+v, want %v gray=%v %v", h, ref.Bounds().Size(), in.gray, in.ratio)
			}
			for _, f := range wantFactors {
				if !f.Less(frac(2, 2)) && f != (frac(1, 1)) {
					continue
				}
				m, err := turbojpeg.Decode(in.data, f, make([]byte, h.Size(f)))
				if err != nil {
					t.Fatalf("at %v: %v", f, err)
				}
				if want := image.Rect(0, 0, f.Scale(h.Width), f.Scale(h.Height)); m.Bounds() != want {
					t.Errorf("at %v: bounds %v, want %v", f, m.Bounds(), want)
				}
				switch m.(type) {
				case *image.Gray:
					if !in.gray {
						t.Fatalf("at %v: a colour JPEG gave a %T", f, m)
					}
				case *image.YCbCr:
					if r := m.(*image.YCbCr).SubsampleRatio; in.gray || r != in.ratio {
						t.Fatalf("at %v: %v, want gray=%v %v", f, r, in.gray, in.ratio)
					}
				default:
					t.Fatalf("at %v: %T", f, m)
				}
				if f == (frac(1, 1)) {
					assertClose(t, m, ref)
				}
			}
		})
	}
}

// assertClose holds two decodes of one JPEG, same type and size, to
// >= 45 dB PSNR over every Y, Cb, Cr (or gray) sample, and each sample to
// within a few levels: IDCT rounding, never a shifted or garbled plane.
func assertClose(t *testing.T, a, b image.Image) {
	t.Helper()
	var se float64
	n, worst := 0, 0
	add := func(p, q uint8) {
		d := int(p) - int(q)
		se += float64(d * d)
		n++
		worst = max(worst, d, -d)
	}
	for y := range a.Bounds().Dy() {
		for x := range a.Bounds().Dx() {
			switch a := a.(type) {
			case *image.Gray:
				add(a.GrayAt(x, y).Y, b.(*image.Gray).GrayAt(x, y).Y)
			case *image.YCbCr:
				p, q := a.YCbCrAt(x, y), b.(*image.YCbCr).YCbCrAt(x, y)
				add(p.Y, q.Y)
				add(p.Cb, q.Cb)
				add(p.Cr, q.Cr)
			}
		}
	}
	psnr := 10 * math.Log10(255*255*float64(n)/max(se, 1e-9))
	t.Logf("%.1f dB, worst difference %d against image/jpeg", psnr, worst)
	if psnr < 45 || worst > 8 {
		t.Errorf("%.1f dB, worst difference %d against image/jpeg", psnr, worst)
	}
}

func TestDecodeRejects(t *testing.T) {
	good := inputs(t)[0].data
	h, err := turbojpeg.ReadHeader(good)
	if err != nil {
		t.Fatal(err)
	}
	eighth := frac(1, 8)
	ycck, err := os.ReadFile(filepath.Join("..", "testdata", "ycck.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		data    []byte
		f       turbojpeg.Factor
		buf     int
		warning bool
	}{
		{"truncated scan", good[:len(good)/2], eighth, h.Size(eighth), true},
		{"no end marker", good[:len(good)-2], frac(1, 1), h.Size(frac(1, 1)), true},
		{"buffer one byte short", good, eighth, h.Size(eighth) - 1, false},
		{"buffer sized for a smaller scale", good, frac(1, 4), h.Size(eighth), false},
		{"factor it does not offer", good, frac(1, 3), 1 << 20, false},
		{"ycck", ycck, eighth, 1 << 20, false},
		{"not a jpeg", []byte("GIF89a, or anything else at all"), eighth, 1 << 20, false},
		{"cut in the header", good[:200], eighth, 1 << 20, true},
		{"empty", nil, eighth, 1 << 20, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			buf := make([]byte, c.buf+64)
			for i := range buf {
				buf[i] = 0xa5
			}
			m, err := turbojpeg.Decode(c.data, c.f, buf[:c.buf])
			var te *turbojpeg.Error
			if m != nil || !errors.As(err, &te) || te.Warning != c.warning {
				t.Fatalf("Decode = %T, %#v; want an *Error with Warning %v", m, err, c.warning)
			}
			t.Log(err)
			for _, v := range buf[c.buf:] {
				if v != 0xa5 {
					t.Fatal("Decode wrote past the end of its buffer")
				}
			}
		})
	}
	h, err = turbojpeg.ReadHeader(ycck)
	if err != nil || h.Planar || h.Size(eighth) != 0 {
		t.Errorf("YCCK header %+v, %v: want a non-planar header", h, err)
	}
}

// TestDecodeConcurrent shares the handle pool between goroutines, some of
// them failing (a failed handle is destroyed, not returned); -race watches.
func TestDecodeConcurrent(t *testing.T) {
	in := inputs(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4*len(in))
	for g := range 4 {
		for _, c := range in {
			wg.Go(func() {
				data := c.data
				if g%2 == 1 {
					data = data[:len(data)*2/3]
				}
				f := frac(1, 1<<(g%4))
				h, err := turbojpeg.ReadHeader(data)
				if err != nil {
					errs <- err
					return
				}
				m, err := turbojpeg.Decode(data, f, make([]byte, h.Size(f)))
				if (err == nil) != (g%2 == 0) {
					errs <- fmt.Errorf("%s, goroutine %d: %T %v", c.name, g, m, err)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// FuzzDecode feeds hostile bytes to the C decoder: it must fail cleanly,
// never crash, never write past its buffer, and a success must have the
// promised size.
func FuzzDecode(f *testing.F) {
	for _, in := range inputs(f) {
		f.Add(in.data[:min(len(in.data), 4096)])
	}
	f.Add([]byte("\xff\xd8\xff\xd9"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := turbojpeg.ReadHeader(data)
		if err != nil || !h.Planar || int64(h.Width)*int64(h.Height) > 1<<22 {
			return
		}
		for _, f := range []turbojpeg.Factor{frac(1, 8), frac(1, 1)} {
			n := h.Size(f)
			buf := make([]byte, n+16)
			m, err := turbojpeg.Decode(data, f, buf[:n])
			if !bytes.Equal(buf[n:], make([]byte, 16)) {
				t.Fatal("Decode wrote past the end of its buffer")
			}
			if err == nil && m.Bounds() != image.Rect(0, 0, f.Scale(h.Width), f.Scale(h.Height)) {
				t.Fatalf("at %v: %v from a %dx%d header", f, m.Bounds(), h.Width, h.Height)
			}
		}
	})
}
