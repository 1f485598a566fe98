package resize

import (
	"bytes"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/backlot/backlot/actors/resize/turbojpeg"
	"github.com/backlot/backlot/persistence"
)

// turboBuild reports, from the test binary's own build settings rather
// than from the code under test, whether this build links libjpeg-turbo:
// cgo on and no noturbojpeg tag.
func turboBuild(t testing.TB) bool {
	t.Helper()
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("no build info")
	}
	cgo, tagged := false, false
	for _, s := range bi.Settings {
		switch s.Key {
		case "CGO_ENABLED":
			cgo = s.Value == "1"
		case "-tags":
			tagged = slices.Contains(strings.Split(s.Value, ","), "noturbojpeg")
		}
	}
	return cgo && !tagged
}

func TestDecoder(t *testing.T) {
	want := "go"
	if turboBuild(t) {
		want = "libjpeg-turbo"
	}
	if got := Decoder(); got != want {
		t.Fatalf("Decoder() = %q in a build where it must be %q", got, want)
	}
}

// turboFactors are libjpeg-turbo 2.1's, largest first; TestAvailable in
// package turbojpeg holds the library to them.
var turboFactors = []turbojpeg.Factor{
	frac(2, 1), frac(15, 8), frac(7, 4), frac(13, 8), frac(3, 2), frac(11, 8), frac(5, 4), frac(9, 8),
	frac(1, 1), frac(7, 8), frac(3, 4), frac(5, 8), frac(1, 2), frac(3, 8), frac(1, 4), frac(1, 8),
}

func TestDCTScale(t *testing.T) {
	cover := func(w, h int) persistence.Options { return options(w, h, persistence.FitCover, persistence.FormatJPEG) }
	cases := []struct {
		name   string
		w, h   int
		orient int
		opts   persistence.Options
		want   turbojpeg.Factor
	}{
		{"4000x3000 cover 100", 4000, 3000, 1, cover(100, 100), frac(1, 8)}, // crop 3000: 375 >= 100
		{"1920x1080 cover 100", 1920, 1080, 1, cover(100, 100), frac(1, 8)}, // 1080/8 = 135 >= 100
		{"640x480 cover 100", 640, 480, 1, cover(100, 100), frac(1, 4)},     // 480/8 = 60 < 100
		{"800x600 cover 100", 800, 600, 1, cover(100, 100), frac(1, 4)},
		{"400x300 cover 100", 400, 300, 1, cover(100, 100), frac(3, 8)}, // 300*3/8 = 112
		{"300x200 cover 100", 300, 200, 1, cover(100, 100), frac(1, 2)},
		{"250x150 cover 100", 250, 150, 1, cover(100, 100), frac(3, 4)},
		{"exactly the target", 1600, 1600, 1, cover(200, 200), frac(1, 8)},
		{"one pixel short of the target", 1599, 1599, 1, cover(200, 200), frac(1, 4)},
		// Cover: the crop, not the whole width, must stay the target's size.
		{"panorama cover", 8000, 1000, 1, cover(200, 200), frac(1, 4)},
		{"panorama contain", 8000, 1000, 1, options(200, 200, persistence.FitContain, persistence.FormatJPEG), frac(1, 8)},
		{"contain", 1920, 1080, 1, options(100, 100, persistence.FitContain, persistence.FormatJPEG), frac(1, 8)},
		// Fill 90x50 needs 90 source columns and 50 rows (800/8 = 100,
		// 600/8 = 75); shown turned a quarter (6, 8), the target is 50x90
		// in stored pixels, and 75 rows are too few.
		{"fill", 800, 600, 1, options(90, 50, persistence.FitFill, persistence.FormatJPEG), frac(1, 8)},
		{"fill turned", 800, 600, 6, options(90, 50, persistence.FitFill, persistence.FormatJPEG), frac(1, 4)},
		{"fill turned back", 800, 600, 8, options(90, 50, persistence.FitFill, persistence.FormatJPEG), frac(1, 4)},
		{"fill flipped", 800, 600, 3, options(90, 50, persistence.FitFill, persistence.FormatJPEG), frac(1, 8)},
		{"enlarging", 50, 40, 1, options(400, 400, persistence.FitContain, persistence.FormatJPEG), frac(1, 1)},
		{"empty box", 4000, 3000, 1, cover(0, 100), frac(1, 1)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := dctScale(turboFactors, c.w, c.h, 2, 2, c.orient, c.opts); got != c.want {
				t.Errorf("dctScale = %v, want %v", got, c.want)
			}
		})
	}
	// Chroma: 4:1:1's is four times coarser across, and must not end up
	// coarser than the output (3000/8/4 < 100); 4:4:4's and gray's do not
	// bind, nor does 4:2:0's (half the output's chroma is what a 4:2:0
	// output keeps).
	for _, c := range []struct {
		cx, cy int
		want   turbojpeg.Factor
	}{{4, 1, frac(1, 4)}, {1, 1, frac(1, 8)}, {1, 2, frac(1, 8)}} {
		if got := dctScale(turboFactors, 4000, 3000, c.cx, c.cy, 1, cover(100, 100)); got != c.want {
			t.Errorf("chroma %dx%d coarser: dctScale = %v, want %v", c.cx, c.cy, got, c.want)
		}
	}
	if got := dctScale(nil, 4000, 3000, 2, 2, 1, cover(100, 100)); got != frac(1, 1) {
		t.Errorf("without factors: %v", got)
	}
}

// TestLoadFactors: a JPEG decodes at libvips' jpegload factors only, so
// at 1/1 where libjpeg-turbo alone would take 7/8 (a 1600x900 output
// from 1920x1080, issue 20's large variant), at 1/2 rather than 3/8.
func TestLoadFactors(t *testing.T) {
	fs := jpegloadFactors(turboFactors)
	if want := []turbojpeg.Factor{frac(1, 1), frac(1, 2), frac(1, 4), frac(1, 8)}; !slices.Equal(fs, want) {
		t.Fatalf("jpegloadFactors = %v, want %v", fs, want)
	}
	contain := func(w, h int) persistence.Options {
		return options(w, h, persistence.FitContain, persistence.FormatWebP)
	}
	for _, c := range []struct {
		w, h int
		opts persistence.Options
		want turbojpeg.Factor
	}{
		{1920, 1080, contain(1600, 1600), frac(1, 1)}, // all: 7/8
		{1920, 1080, contain(800, 800), frac(1, 2)},
		{1600, 1200, options(400, 400, persistence.FitCover, persistence.FormatJPEG), frac(1, 2)}, // all: 3/8
		{1920, 1080, options(100, 100, persistence.FitCover, persistence.FormatJPEG), frac(1, 8)},
	} {
		if got := dctScale(fs, c.w, c.h, 2, 2, 1, c.opts); got != c.want {
			t.Errorf("%dx%d %+v: %v, want %v", c.w, c.h, c.opts, got, c.want)
		}
	}
	if turbojpeg.Available && !slices.Equal(loadFactors(), fs) {
		t.Errorf("loadFactors() = %v, want %v", loadFactors(), fs)
	}
}

// TestDecodeSourceScales: in a libjpeg-turbo build the JPEG decode really
// is the reduced one (no silent fallback to a full decode), and planes
// and file bytes go back to the pool; in a pure-Go build it is the full
// image/jpeg decode.
func TestDecodeSourceScales(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		img  image.Image
		opts persistence.Options
		want turbojpeg.Factor
	}{
		{"ycbcr 1/4", Synthetic(1600, 1200, 2), options(200, 200, persistence.FitCover, persistence.FormatJPEG), frac(1, 4)},
		{"gray 1/8", grayOf(Synthetic(1600, 1200, 2)), options(50, 50, persistence.FitCover, persistence.FormatJPEG), frac(1, 8)},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := writeFile(t, dir, "src", encodeAs(t, "jpeg", c.img))
			f, err := openFile(src)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			info, err := Probe(f, 0)
			if err != nil {
				t.Fatal(err)
			}
			d, err := decodeSource(f, info, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer d.release()
			want := c.img.Bounds()
			if turboBuild(t) {
				want = image.Rect(0, 0, c.want.Scale(want.Dx()), c.want.Scale(want.Dy()))
				if d.pooled == nil {
					t.Error("libjpeg-turbo's planes are not from the pool")
				}
			}
			if got := d.img.Bounds(); got != want {
				t.Errorf("decoded %v, want %v", got, want)
			}
			if _, gray := c.img.(*image.Gray); gray {
				if _, ok := d.img.(*image.Gray); !ok {
					t.Errorf("gray JPEG decoded to %T", d.img)
				}
			} else if _, ok := d.img.(*image.YCbCr); !ok {
				t.Errorf("colour JPEG decoded to %T", d.img)
			}
		})
	}
}

// TestProcessTruncated: a truncated JPEG fails permanently in both builds,
// with image/jpeg's verdict, wherever it is cut and at whatever scale
// libjpeg-turbo was decoding it.
func TestProcessTruncated(t *testing.T) {
	dir := t.TempDir()
	base := encodeAs(t, "jpeg", Synthetic(1600, 1200, 3))
	prog, err := os.ReadFile(filepath.Join("testdata", "420-progressive.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []struct {
		name string
		data []byte
	}{{"baseline", base}, {"progressive", prog}} {
		for _, cut := range []struct {
			name string
			n    int
		}{
			{"at 10%", len(in.data) / 10},
			{"at half", len(in.data) / 2},
			{"at 90%", len(in.data) * 9 / 10},
			{"without its end marker", len(in.data) - 2},
		} {
			t.Run(in.name+" "+cut.name, func(t *testing.T) {
				data := in.data[:cut.n]
				_, goErr := jpeg.Decode(bytes.NewReader(data))
				if goErr == nil {
					t.Fatal("image/jpeg decodes it: not a test of truncation")
				}
				src := writeFile(t, dir, "src", data)
				for _, box := range []int{20, 100, 400} { // 1/8, 1/4 or more, 1/1 for the 1600x1200
					_, err := processFile(src, filepath.Join(dir, "dst"), options(box, box, persistence.FitCover, persistence.FormatJPEG), Limits{})
					if !Permanent(err) || !strings.Contains(err.Error(), "decode jpeg: "+goErr.Error()) {
						t.Errorf("box %d: err = %v, want a permanent %q", box, err, "decode jpeg: "+goErr.Error())
					}
				}
			})
		}
	}
}

func grayOf(m *image.RGBA) *image.Gray {
	g := image.NewGray(m.Rect)
	for i := range g.Pix {
		g.Pix[i] = m.Pix[4*i+1]
	}
	return g
}

func frac(num, denom int) turbojpeg.Factor { return turbojpeg.Factor{Num: num, Denom: denom} }

// TestDecodeSourceStreamsPaddedFiles: a JPEG with more trailing bytes than
// its pixels could need is not read into memory whole; image/jpeg streams
// it and stops at its end marker.
func TestDecodeSourceStreamsPaddedFiles(t *testing.T) {
	data := encodeAs(t, "jpeg", Synthetic(64, 48, 5))
	data = append(data, make([]byte, 8*64*48+1<<20)...)
	f, err := openFile(writeFile(t, t.TempDir(), "src", data))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := decodeSource(f, Info{Format: "jpeg", Width: 64, Height: 48}, options(8, 8, persistence.FitCover, persistence.FormatJPEG))
	if err != nil {
		t.Fatal(err)
	}
	defer d.release()
	if d.pooled != nil || d.img.Bounds() != image.Rect(0, 0, 64, 48) {
		t.Errorf("decoded %v (pooled: %v), want image/jpeg's full decode", d.img.Bounds(), d.pooled != nil)
	}
}
