package resize

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"

	"github.com/disintegration/imaging"

	"github.com/backlot/backlot/persistence"
)

// rgbJPEG turns a 4:4:4 JPEG into one whose components are R, G and B to
// image/jpeg and libjpeg alike: its JFIF segment dropped and its
// components renamed 'R', 'G', 'B'. The colours change, not the validity.
func rgbJPEG(t *testing.T, data []byte) []byte {
	t.Helper()
	out := append([]byte(nil), data[:2]...)
	for i := 2; i+4 <= len(data); {
		m, n := data[i+1], int(binary.BigEndian.Uint16(data[i+2:]))
		seg := append([]byte(nil), data[i:i+2+n]...)
		switch {
		case m == 0xe0: // JFIF: dropped
			i += 2 + n
			continue
		case m == 0xc0 || m == 0xc2:
			if seg[9] != 3 {
				t.Fatal("rgbJPEG: not a 3-component frame")
			}
			seg[10], seg[13], seg[16] = 'R', 'G', 'B'
		case m == 0xda: // the scan names its components too; the rest is data
			for k := 0; k < int(seg[4]); k++ {
				seg[5+2*k] = "RGB"[k]
			}
			return append(append(out, seg...), data[i+2+n:]...)
		}
		out = append(out, seg...)
		i += 2 + n
	}
	t.Fatal("rgbJPEG: no scan")
	return nil
}

// TestDecodePixels: in a libjpeg-turbo build, CMYK (YCCK) and RGB JPEGs
// are decoded by libjpeg-turbo at the DCT scale (no silent fallback to
// image/jpeg's full decode, which needs up to 24 bytes a pixel), to
// planes from the pool, with image/jpeg's colours: the result stays
// within 35 dB of image/jpeg's full decode resized by imaging, and the
// output matches what a pure-Go build makes of the same file.
func TestDecodePixels(t *testing.T) {
	file := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		data []byte
		opts persistence.Options
		num  int // eighths the decode is scaled to, in a libjpeg-turbo build
	}{
		{"ycck 1/8", file("ycck.jpg"), options(40, 40, persistence.FitCover, persistence.FormatPNG), 1},
		{"ycck 1/2", file("ycck.jpg"), options(160, 160, persistence.FitCover, persistence.FormatPNG), 4},
		// 7/8 would do (420x315), but only libvips' factors are used (loadFactors).
		{"ycck 1/1", file("ycck.jpg"), options(400, 300, persistence.FitFill, persistence.FormatPNG), 8},
		{"progressive ycck 1/8", file("mem-ycck-progressive.jpg"), options(100, 100, persistence.FitCover, persistence.FormatPNG), 1},
		{"rgb 1/4", rgbJPEG(t, file("444.jpg")), options(80, 60, persistence.FitContain, persistence.FormatPNG), 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := writeFile(t, dir, "src.jpg", c.data)
			f, err := openFile(src)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			info, err := Probe(f, 0)
			if err != nil {
				t.Fatal(err)
			}
			opts, _ := withDefaults(c.opts)
			d, err := decodeSource(f, info, opts)
			if err != nil {
				t.Fatal(err)
			}
			full, err := jpeg.Decode(bytes.NewReader(c.data))
			if err != nil {
				t.Fatal(err)
			}
			if turboBuild(t) {
				want := image.Rect(0, 0, (info.Width*c.num+7)/8, (info.Height*c.num+7)/8)
				if _, ok := d.img.(*image.YCbCr); !ok || d.pooled == nil || d.img.Bounds() != want {
					t.Errorf("decoded a %T of %v (pooled: %v), want libjpeg-turbo's planes of %v", d.img, d.img.Bounds(), d.pooled != nil, want)
				}
			} else if d.img.Bounds() != full.Bounds() {
				t.Errorf("decoded %v, want image/jpeg's %v", d.img.Bounds(), full.Bounds())
			}
			d.release()

			var ref image.Image
			switch c.opts.Fit {
			case persistence.FitCover:
				ref = coverRef(t, full, c.opts.Width, c.opts.Height)
			case persistence.FitContain:
				ref = imaging.Fit(full, c.opts.Width, c.opts.Height, imaging.Lanczos)
			default:
				ref = imaging.Resize(full, c.opts.Width, c.opts.Height, imaging.Lanczos)
			}
			got, _ := processOK(t, src, c.opts, Limits{})
			p := psnr(t, got, ref)
			t.Logf("PSNR %.1f dB", p)
			if p < 35 {
				t.Errorf("PSNR %.1f dB < 35 dB against image/jpeg's full decode", p)
			}
		})
	}
}
