package resize

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/backlot/backlot/actors/resize/heif"
	"github.com/backlot/backlot/actors/resize/lcms"
	"github.com/backlot/backlot/persistence"
)

// TestDisplayP3 (issue 20, true colour): an image in Display P3 with its
// profile embedded (PNG iCCP, JPEG APP2) comes out in sRGB: each colour
// patch within ΔE2000 2 of the sRGB colour it was made from, where
// reading its P3 numbers as sRGB would be off by far more.
func TestDisplayP3(t *testing.T) {
	if !lcms.Available {
		t.Skip("no Little CMS in this build: profiles are ignored")
	}
	refs := []color.NRGBA{ // sRGB: saturated primaries and an orange, skin, greys, a violet
		{235, 20, 20, 255}, {20, 200, 30, 255}, {20, 30, 230, 255}, {250, 130, 0, 255},
		{128, 128, 128, 255}, {245, 245, 245, 255}, {224, 172, 140, 255}, {160, 80, 190, 255},
	}
	const patch = 64
	src := image.NewNRGBA(image.Rect(0, 0, 4*patch, 2*patch))
	worst := 0.0 // the P3 numbers read as sRGB: what a node without colour management shows
	for i, c := range refs {
		p3 := srgbToP3(c)
		worst = max(worst, deltaE2000(lab(p3), lab(c)))
		for y := range patch {
			for x := range patch {
				src.SetNRGBA(i%4*patch+x, i/4*patch+y, p3)
			}
		}
	}
	if worst < 4 {
		t.Fatalf("the patches differ from their P3 numbers by at most ΔE %.1f: the test would not see a missing conversion", worst)
	}
	icc := lcms.DisplayP3()
	var pngBuf bytes.Buffer
	if err := png.Encode(&pngBuf, src); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cases := map[string][]byte{
		"png":  withICCP(t, pngBuf.Bytes(), icc),
		"jpeg": withSegments(encodeAs(t, "jpeg", src), iccSegment(icc)),
	}
	if heif.Available {
		// The same patches as a HEIC with its profile in a colr box
		// (heif-enc 1.15 -q 90 of the PNG case's file).
		b, err := os.ReadFile(filepath.Join("testdata", "heif", "p3-patches.heic"))
		if err != nil {
			t.Fatal(err)
		}
		cases["heic"] = b
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			path := writeFile(t, dir, name, data)
			f, err := openFile(path)
			if err != nil {
				t.Fatal(err)
			}
			info, err := Probe(f, 0)
			if err != nil || colourTransform(f, info) == nil {
				t.Fatalf("no transform for the embedded profile (%v)", err)
			}
			f.Close()
			out, _ := processOK(t, path, options(2*patch, patch, persistence.FitFill, persistence.FormatPNG), Limits{})
			most := 0.0
			for i, want := range refs {
				got := color.NRGBAModel.Convert(out.At(i%4*patch/2+patch/4, i/4*patch/2+patch/4)).(color.NRGBA)
				d := deltaE2000(lab(got), lab(want))
				if d >= 2 {
					t.Errorf("patch %d: %v, want %v: ΔE2000 %.2f", i, got, want, d)
				}
				most = max(most, d)
			}
			t.Logf("largest ΔE2000 %.2f (the P3 numbers read as sRGB: %.2f)", most, worst)
		})
	}
}

// TestICCIgnored: an sRGB profile, a broken one or none leaves the
// pixels as they are.
func TestICCIgnored(t *testing.T) {
	dir := t.TempDir()
	img := Synthetic(32, 32, 3)
	for name, data := range map[string][]byte{
		"none":   encodeAs(t, "jpeg", img),
		"broken": withSegments(encodeAs(t, "jpeg", img), iccSegment([]byte("not a profile at all, no"))),
	} {
		f, err := openFile(writeFile(t, dir, name, data))
		if err != nil {
			t.Fatal(err)
		}
		info, _ := Probe(f, 0)
		if colourTransform(f, info) != nil {
			t.Errorf("%s: a transform", name)
		}
		f.Close()
	}
}

// iccSegment is a JPEG APP2 segment carrying a whole profile.
func iccSegment(icc []byte) []byte {
	body := append([]byte("ICC_PROFILE\x00\x01\x01"), icc...)
	seg := []byte{0xff, 0xe2, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(body)+2))
	return append(seg, body...)
}

// withICCP puts an iCCP chunk after a PNG's IHDR.
func withICCP(t *testing.T, p, icc []byte) []byte {
	t.Helper()
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(icc)
	zw.Close()
	data := append([]byte("Display P3\x00\x00"), z.Bytes()...)
	chunk := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	chunk = append(chunk, "iCCP"...)
	chunk = append(chunk, data...)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
	ihdrEnd := 8 + 8 + 13 + 4
	return append(append(append([]byte(nil), p[:ihdrEnd]...), chunk...), p[ihdrEnd:]...)
}

// Colour science for the test, from the published definitions: sRGB's
// transfer curve (IEC 61966-2-1), the sRGB and Display P3 (D65) RGB to
// XYZ matrices, CIELAB (D65) and CIEDE2000 (Sharma, Wu and Dalal 2005).

func decodeSRGB(v uint8) float64 {
	c := float64(v) / 255
	if c <= 0.04045 {
		return c / 12.92
	}
	return math.Pow((c+0.055)/1.055, 2.4)
}

func encodeSRGB(c float64) uint8 {
	c = min(max(c, 0), 1)
	if c <= 0.0031308 {
		c *= 12.92
	} else {
		c = 1.055*math.Pow(c, 1/2.4) - 0.055
	}
	return uint8(math.Round(c * 255))
}

var (
	srgbToXYZ = [3][3]float64{{0.4124564, 0.3575761, 0.1804375}, {0.2126729, 0.7151522, 0.0721750}, {0.0193339, 0.1191920, 0.9503041}}
	xyzToP3   = [3][3]float64{{2.4934969, -0.9313836, -0.4027108}, {-0.8294890, 1.7626641, 0.0236247}, {0.0358458, -0.0761724, 0.9568845}}
)

func mul(m [3][3]float64, v [3]float64) [3]float64 {
	var o [3]float64
	for i := range 3 {
		o[i] = m[i][0]*v[0] + m[i][1]*v[1] + m[i][2]*v[2]
	}
	return o
}

func srgbToP3(c color.NRGBA) color.NRGBA {
	p := mul(xyzToP3, mul(srgbToXYZ, [3]float64{decodeSRGB(c.R), decodeSRGB(c.G), decodeSRGB(c.B)}))
	return color.NRGBA{encodeSRGB(p[0]), encodeSRGB(p[1]), encodeSRGB(p[2]), 255}
}

// lab is CIELAB (D65 white) of an sRGB colour.
func lab(c color.NRGBA) [3]float64 {
	xyz := mul(srgbToXYZ, [3]float64{decodeSRGB(c.R), decodeSRGB(c.G), decodeSRGB(c.B)})
	white := [3]float64{0.95047, 1, 1.08883}
	f := func(t float64) float64 {
		if t > 216.0/24389 {
			return math.Cbrt(t)
		}
		return (24389.0/27*t + 16) / 116
	}
	fx, fy, fz := f(xyz[0]/white[0]), f(xyz[1]/white[1]), f(xyz[2]/white[2])
	return [3]float64{116*fy - 16, 500 * (fx - fy), 200 * (fy - fz)}
}

func deltaE2000(a, b [3]float64) float64 {
	rad, deg := math.Pi/180, 180/math.Pi
	l1, a1, b1 := a[0], a[1], a[2]
	l2, a2, b2 := b[0], b[1], b[2]
	c1, c2 := math.Hypot(a1, b1), math.Hypot(a2, b2)
	cm := (c1 + c2) / 2
	g := 0.5 * (1 - math.Sqrt(math.Pow(cm, 7)/(math.Pow(cm, 7)+math.Pow(25, 7))))
	a1p, a2p := (1+g)*a1, (1+g)*a2
	c1p, c2p := math.Hypot(a1p, b1), math.Hypot(a2p, b2)
	h := func(b, ap float64) float64 {
		if b == 0 && ap == 0 {
			return 0
		}
		v := math.Atan2(b, ap) * deg
		if v < 0 {
			v += 360
		}
		return v
	}
	h1p, h2p := h(b1, a1p), h(b2, a2p)
	dl, dc := l2-l1, c2p-c1p
	var dh float64
	switch {
	case c1p*c2p == 0:
	case math.Abs(h2p-h1p) <= 180:
		dh = h2p - h1p
	case h2p-h1p > 180:
		dh = h2p - h1p - 360
	default:
		dh = h2p - h1p + 360
	}
	dH := 2 * math.Sqrt(c1p*c2p) * math.Sin(dh/2*rad)
	lm, cmp := (l1+l2)/2, (c1p+c2p)/2
	var hm float64
	switch {
	case c1p*c2p == 0:
		hm = h1p + h2p
	case math.Abs(h1p-h2p) <= 180:
		hm = (h1p + h2p) / 2
	case h1p+h2p < 360:
		hm = (h1p + h2p + 360) / 2
	default:
		hm = (h1p + h2p - 360) / 2
	}
	t := 1 - 0.17*math.Cos((hm-30)*rad) + 0.24*math.Cos(2*hm*rad) + 0.32*math.Cos((3*hm+6)*rad) - 0.20*math.Cos((4*hm-63)*rad)
	dtheta := 30 * math.Exp(-math.Pow((hm-275)/25, 2))
	rc := 2 * math.Sqrt(math.Pow(cmp, 7)/(math.Pow(cmp, 7)+math.Pow(25, 7)))
	sl := 1 + 0.015*math.Pow(lm-50, 2)/math.Sqrt(20+math.Pow(lm-50, 2))
	sc, sh := 1+0.045*cmp, 1+0.015*cmp*t
	rt := -math.Sin(2*dtheta*rad) * rc
	return math.Sqrt(math.Pow(dl/sl, 2) + math.Pow(dc/sc, 2) + math.Pow(dH/sh, 2) + rt*(dc/sc)*(dH/sh))
}

// TestDeltaE2000 checks the formula against Sharma, Wu and Dalal's test
// data (pairs 1, 7, 17 and 25 of their table 1).
func TestDeltaE2000(t *testing.T) {
	for _, c := range []struct {
		a, b [3]float64
		want float64
	}{
		{[3]float64{50, 2.6772, -79.7751}, [3]float64{50, 0, -82.7485}, 2.0425},
		{[3]float64{50, 0, 0}, [3]float64{50, -1, 2}, 2.3669},
		{[3]float64{50, 2.5, 0}, [3]float64{73, 25, -18}, 27.1492},
		{[3]float64{60.2574, -34.0099, 36.2677}, [3]float64{60.4626, -34.1751, 39.4387}, 1.2644},
	} {
		if d := deltaE2000(c.a, c.b); math.Abs(d-c.want) > 1e-4 {
			t.Errorf("ΔE2000(%v, %v) = %.4f, want %.4f", c.a, c.b, d, c.want)
		}
	}
}

// TestCMYKProfile (issue 20, true colour): a CMYK JPEG with its CMYK
// profile embedded comes out as the profile says, each patch within
// ΔE2000 2 of the colour lcms.TintedCMYK defines for its ink, where the
// naive reading of the ink (image/draw's, what is left without a
// profile) is far off; without the profile it still decodes, naively.
func TestCMYKProfile(t *testing.T) {
	if !lcms.Available {
		t.Skip("no Little CMS in this build: profiles are ignored")
	}
	inks := [][4]byte{ // as testdata/gen.go wrote them into cmyk-patches.jpg
		{0, 0, 0, 0}, {255, 0, 0, 0}, {0, 255, 0, 0}, {0, 0, 255, 0},
		{0, 0, 0, 102}, {102, 51, 204, 0}, {51, 153, 0, 51}, {0, 102, 255, 0},
	}
	tinted := func(ink [4]byte) color.NRGBA { // lcms.TintedCMYK's definition
		if ink == [4]byte{} {
			// Paper is shown as the display's white (Little CMS's white
			// fix-up, for every intent but absolute colorimetric).
			return color.NRGBA{255, 255, 255, 255}
		}
		c, m, y, k := float64(ink[0])/255, float64(ink[1])/255, float64(ink[2])/255, float64(ink[3])/255
		v := func(f float64) uint8 { return uint8(math.Round(255 * f)) }
		return color.NRGBA{v((1 - c) * (1 - k)), v((1 - m) * (1 - k)), v(0.8 * (1 - y) * (1 - k)), 255}
	}
	naive := func(ink [4]byte) color.NRGBA {
		r, g, b := color.CMYKToRGB(ink[0], ink[1], ink[2], ink[3])
		return color.NRGBA{r, g, b, 255}
	}
	const patch = 64
	plain, err := os.ReadFile(filepath.Join("testdata", "cmyk-patches.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		data []byte
		want func([4]byte) color.NRGBA
	}{
		"profile":    {withSegments(plain, iccSegment(lcms.TintedCMYK())), tinted},
		"no profile": {plain, naive},
	} {
		t.Run(name, func(t *testing.T) {
			out, _ := processOK(t, writeFile(t, dir, "cmyk.jpg", tc.data), options(2*patch, patch, persistence.FitFill, persistence.FormatPNG), Limits{})
			most := 0.0
			for i, ink := range inks {
				got := color.NRGBAModel.Convert(out.At(i%4*patch/2+patch/4, i/4*patch/2+patch/4)).(color.NRGBA)
				d := deltaE2000(lab(got), lab(tc.want(ink)))
				if d >= 2 {
					t.Errorf("patch %d (ink %v): %v, want %v: ΔE2000 %.2f", i, ink, got, tc.want(ink), d)
				}
				most = max(most, d)
			}
			t.Logf("largest ΔE2000 %.2f", most)
		})
	}
	worst := 0.0
	for _, ink := range inks {
		worst = max(worst, deltaE2000(lab(tinted(ink)), lab(naive(ink))))
	}
	if worst < 10 {
		t.Fatalf("the profile's colours and the naive ones differ by at most ΔE %.1f: the test would not see the profile ignored", worst)
	}
}
