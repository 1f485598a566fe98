package resize

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	xwebp "golang.org/x/image/webp"

	"github.com/backlot/backlot/actors/resize/webp"
	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/blob"
	"github.com/backlot/backlot/persistence/blob/fsblob"
)

// TestSharpMatch reports (asserts nothing about) how close issue 20's
// four variants come to sharp's, by luma SSIM as bench/variants.sh
// measures it, at two points: the pixels before the WebP encode (sharp's
// raw output against the same variant made as PNG here, through RGB:
// chroma resized at full size, the view from the half-size rung), and the WebP
// outputs (Backlot's pipeline against sharp's pixels through the same
// libwebp at the same settings, which is sharp's own WebP byte for byte
// when the library versions agree). Two controls isolate the resize:
// sharp's own full decode resized here to 1600x900 plane by plane in RGB,
// with and without the rounding to 8 bits between the Lanczos passes
// that libvips does. It needs node and sharp (the node-seed's modules):
//
//	NODE_SEED_MODULES=<node-seed>/node_modules go test -run SharpMatch -v ./actors/resize/
func TestSharpMatch(t *testing.T) {
	modules := os.Getenv("NODE_SEED_MODULES")
	if modules == "" || !webp.Available {
		t.Skip("needs NODE_SEED_MODULES (a node_modules with sharp) and libwebp")
	}
	inputs := map[string]image.Image{"synthetic": Synthetic(1920, 1080, 1)}
	if photo := samplePhoto(t); photo != "" {
		b, err := os.ReadFile(photo)
		if err != nil {
			t.Fatal(err)
		}
		crops, err := PhotoCrops(b, 1920, 1080, 2)
		if err != nil {
			t.Fatal(err)
		}
		inputs["photo"] = crops[1]
	} else {
		t.Log("no photo (BACKLOT_PHOTO, or SeaweedFS's weed/images/sample1.jpg in the module cache): synthetic input only")
	}
	for _, name := range []string{"synthetic", "photo"} {
		if in := inputs[name]; in != nil {
			t.Run(name, func(t *testing.T) { sharpMatch(t, modules, in) })
		}
	}
}

// samplePhoto is the real photograph TestSharpMatch and bench/variants.sh
// use: BACKLOT_PHOTO, or else the iPhone photo in SeaweedFS's module
// (weed/images/sample1.jpg, 2592x1936, Exif orientation 6), which the S3
// tests' scripts/weed.sh puts in the module cache; "" when neither is.
func samplePhoto(t *testing.T) string {
	if p := os.Getenv("BACKLOT_PHOTO"); p != "" {
		return p
	}
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		return ""
	}
	m, _ := filepath.Glob(filepath.Join(strings.TrimSpace(string(out)), "github.com", "seaweedfs", "seaweedfs@*", "weed", "images", "sample1.jpg"))
	if len(m) == 0 {
		return ""
	}
	return m[len(m)-1]
}

func sharpMatch(t *testing.T, modules string, input image.Image) {
	dir := t.TempDir()
	var jb bytes.Buffer
	if err := jpeg.Encode(&jb, input, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	src := writeFile(t, dir, "src.jpg", jb.Bytes())
	cmd := exec.Command("node", filepath.Join("..", "..", "bench", "variants", "sharp-raw.js"), src, filepath.Join(dir, "sharp"))
	cmd.Env = append(os.Environ(), "NODE_SEED_MODULES="+modules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatal(err, string(out))
	}
	sharpRaw := func(name string, size image.Point) *image.NRGBA {
		raw, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("sharp.%s.%dx%d.rgb", name, size.X, size.Y)))
		if err != nil {
			t.Fatal(err)
		}
		m := image.NewNRGBA(image.Rectangle{Max: size})
		for i := range size.X * size.Y {
			copy(m.Pix[4*i:], raw[3*i:3*i+3])
			m.Pix[4*i+3] = 0xff
		}
		return m
	}
	blobs, err := fsblob.New(dir, fsblob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []persistence.Format{persistence.FormatPNG, persistence.FormatWebP} {
		opts := persistence.Options{Variants: append([]persistence.Variant(nil), fourVariants.Variants...)}
		for i := range opts.Variants {
			opts.Variants[i].Format, opts.Variants[i].Quality = format, 85
		}
		f, err := openFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Process(f, func(v persistence.Variant) (blob.Writer, error) {
			return blobs.Create(context.Background(), "out-"+v.Name+"."+v.Format.Ext(), blob.CreateOptions{})
		}, opts, Limits{}); err != nil {
			t.Fatal(err)
		}
		for _, v := range opts.Variants {
			ours, _ := decodeFile(t, filepath.Join(dir, "out-"+v.Name+"."+v.Format.Ext()))
			b := ours.Bounds()
			sh := sharpRaw(v.Name, b.Size())
			if format == persistence.FormatPNG {
				enc := webpRoundTrip(t, sh)
				t.Logf("%-5s %v before the encode: SSIM %.4f, PSNR %.1f dB; a q85 WebP keeps SSIM %.4f of sharp's pixels",
					v.Name, b.Size(), LumaSSIM(ours, sh), psnr(t, ours, sh), LumaSSIM(sh, enc))
				t.Logf("%-5s floor: sharp's pixels as WebP against the same ±1 in every channel of every pixel as WebP: SSIM %.4f, of 1 %% of pixels: %.4f; against ours through the same RGB import: %.4f",
					v.Name, LumaSSIM(enc, webpRoundTrip(t, perturb(sh, 1, 1))), LumaSSIM(enc, webpRoundTrip(t, perturb(sh, 0.01, 2))),
					LumaSSIM(enc, webpRoundTrip(t, toNRGBA(ours))))
			} else {
				t.Logf("%-5s %v WebP q85 against sharp's: SSIM %.4f", v.Name, b.Size(), LumaSSIM(ours, webpRoundTrip(t, sh)))
			}
		}
	}
	lumaSplit(t, jb.Bytes(), sharpRaw("large", image.Pt(1600, 900)))
	// The controls: sharp's decode, resized here in RGB.
	full, want := sharpRaw("full", image.Pt(1920, 1080)), sharpRaw("large", image.Pt(1600, 900))
	for _, round := range []bool{false, true} {
		got := resizeRGB(full, 1600, 900, round)
		t.Logf("control: sharp's decode, Lanczos here in RGB, 8-bit between passes %v: SSIM %.4f (PSNR %.1f dB) before the encode, %.4f as WebP",
			round, LumaSSIM(got, want), psnr(t, got, want), LumaSSIM(webpRoundTrip(t, got), webpRoundTrip(t, want)))
	}
	// The cover framing: sharp's decode into the 320x320 card, cut where
	// imaging.Fill cuts (Backlot's crop before issue 20's part 5) and where
	// makePlan cuts now (sharpCrop).
	card := sharpRaw("card", image.Pt(320, 320))
	p, err := makePlan(1920, 1080, 1, persistence.Options{Width: 320, Height: 320, Fit: persistence.FitCover})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		who string
		x0  int
	}{{"imaging.Fill's", (1920 - 1080) / 2}, {"makePlan's (sharp's)", p.crop.Min.X}} {
		got := resizeRGBWindow(full, window{float64(c.x0), 0, float64(c.x0) + 1080, 1080}, 320, 320)
		t.Logf("control: sharp's decode into the card, crop from x=%d, %s: SSIM %.4f (PSNR %.1f dB) before the encode, %.4f as WebP",
			c.x0, c.who, LumaSSIM(got, card), psnr(t, got, card), LumaSSIM(webpRoundTrip(t, got), webpRoundTrip(t, card)))
	}
}

// resizeRGBWindow is the planar Lanczos (view.resize: 8 bits between the
// passes) of each of m's R, G and B over win, into w×h.
func resizeRGBWindow(m *image.NRGBA, win window, w, h int) *image.NRGBA {
	return perChannel(m, win, w, h, func(v view, tx, ty taps, dst []uint8) {
		v.resize(tx, ty, dst, make([]float32, h*m.Rect.Dx()))
	})
}

// perChannel makes a w×h image of each of m's R, G and B taken as a
// plane over win and resized into dst by resize, with the plane's taps.
func perChannel(m *image.NRGBA, win window, w, h int, resize func(v view, tx, ty taps, dst []uint8)) *image.NRGBA {
	sw, sh := m.Rect.Dx(), m.Rect.Dy()
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	pl, dst := make([]uint8, sw*sh), make([]uint8, w*h)
	for c := range 3 {
		for i := range pl {
			pl[i] = m.Pix[4*i+c]
		}
		v := planeView(pl, sw, image.Point{}, 0, 0, win, image.Pt(sw, sh))
		resize(v, weigh(v.xs, 1, win.x0, win.x1, w), weigh(v.ys, 1, win.y0, win.y1, h), dst)
		for i, p := range dst {
			out.Pix[4*i+c], out.Pix[4*i+3] = p, 0xff
		}
	}
	return out
}

// perturb is m with a fraction p of its pixels changed by -1, 0 or +1
// (at random, clamped) in each of R, G and B: pixels an 8-bit resize
// could as well have made.
func perturb(m *image.NRGBA, p float64, seed uint64) *image.NRGBA {
	out := image.NewNRGBA(m.Rect)
	copy(out.Pix, m.Pix)
	rng := rand.New(rand.NewPCG(seed, 1))
	for i := 0; i < len(out.Pix); i += 4 {
		if rng.Float64() >= p {
			continue
		}
		for c := range 3 {
			out.Pix[i+c] = uint8(min(255, max(0, int(out.Pix[i+c])+rng.IntN(3)-1)))
		}
	}
	return out
}

// toNRGBA is m as an *image.NRGBA.
func toNRGBA(m image.Image) *image.NRGBA {
	if n, ok := m.(*image.NRGBA); ok {
		return n
	}
	b := m.Bounds()
	n := image.NewNRGBA(image.Rectangle{Max: b.Size()})
	draw.Draw(n, n.Rect, m, b.Min, draw.Src)
	return n
}

// resizeRGB is the planar Lanczos on each of m's R, G and B as a plane,
// the vertical pass's results rounded to 8 bits or not.
func resizeRGB(m *image.NRGBA, w, h int, round bool) *image.NRGBA {
	sw, sh := m.Rect.Dx(), m.Rect.Dy()
	return perChannel(m, window{0, 0, float64(sw), float64(sh)}, w, h, func(v view, tx, ty taps, dst []uint8) {
		tmp := make([]float32, h*sw)
		c0, c1 := tx.columns()
		for o := range h { // resizeGo's vertical pass, rounding optional
			acc := tmp[o*(c1-c0) : (o+1)*(c1-c0)]
			for k, wt := range ty.w[ty.off[o]:ty.off[o+1]] {
				r := v.pix[(ty.first[o]+k)*v.stride+c0:][:len(acc)]
				for i := range acc {
					acc[i] += wt * float32(r[i])
				}
			}
			if round {
				for i, a := range acc {
					acc[i] = float32(clampf(a))
				}
			}
		}
		for o := range h {
			row := tmp[o*(c1-c0) : (o+1)*(c1-c0)]
			for j := range w {
				var s float32
				for k, wt := range tx.w[tx.off[j]:tx.off[j+1]] {
					s += wt * row[tx.first[j]-c0+k]
				}
				dst[o*w+j] = clampf(s)
			}
		}
	})
}

// webpRoundTrip is m encoded as bench/variants.sh's WebPs are (q85,
// method 4) and decoded.
func webpRoundTrip(t *testing.T, m *image.NRGBA) image.Image {
	t.Helper()
	return decodedWebP(t, func(w io.Writer) error { return webp.Encode(w, m, 85) })
}

// decodedWebP is what encode writes, decoded.
func decodedWebP(t *testing.T, encode func(io.Writer) error) image.Image {
	t.Helper()
	var b bytes.Buffer
	if err := encode(&b); err != nil {
		t.Fatal(err)
	}
	d, err := xwebp.Decode(&b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// lumaSplit logs where the large variant's luma, as libwebp receives
// it, differs from what libwebp makes of sharp's pixels S (its RGB
// import: Y' = 16 + (16839R + 33059G + 6420B)/65536, rounded), and what
// each luma makes of the WebP against sharp's, with our chroma: Backlot's
// (the Y plane resized with 8-bit rounding between the passes, then
// mapped to libwebp's range, rounded again), that luma rounded once from
// the unrounded resize, and sharp's own. data is the source JPEG.
func lumaSplit(t *testing.T, data []byte, S *image.NRGBA) {
	vs := fourVariants.Variants[3:4]
	img, _, _, err := decodeScaled(data, Info{Format: "jpeg", Width: 1920, Height: 1080}, 1, vs)
	if err != nil {
		t.Fatal(err)
	}
	m := img.(*image.YCbCr)
	p, err := makePlan(1920, 1080, 1, persistence.Options{Width: 1600, Height: 1600, Fit: persistence.FitContain})
	if err != nil {
		t.Fatal(err)
	}
	planes, _ := resampleYCbCr(m, p, 1)
	// The same luma resize (resizeGo's loops), its last pass left unrounded.
	v := planeView(m.Y, m.YStride, image.Point{}, 0, 0, window{0, 0, 1920, 1080}, image.Pt(1920, 1080))
	tx, ty := weigh(v.xs, 1, 0, 1920, 1600), weigh(v.ys, 1, 0, 1080, 900)
	c0, c1 := tx.columns()
	tmp := make([]float32, 900*(c1-c0))
	for o := range 900 {
		acc := tmp[o*(c1-c0) : (o+1)*(c1-c0)]
		for k, wt := range ty.w[ty.off[o]:ty.off[o+1]] {
			r := v.pix[(ty.first[o]+k)*v.stride+c0:][:len(acc)]
			for i := range acc {
				acc[i] += wt * float32(r[i])
			}
		}
		for i, a := range acc {
			acc[i] = float32(clampf(a))
		}
	}
	fl := make([]float32, 1600*900)
	for o := range 900 {
		row := tmp[o*(c1-c0) : (o+1)*(c1-c0)]
		for j := range 1600 {
			var s float32
			for k, wt := range tx.w[tx.off[j]:tx.off[j+1]] {
				s += wt * row[tx.first[j]-c0+k]
			}
			fl[o*1600+j] = s
		}
	}
	same := 0
	for i := range fl {
		if clampf(fl[i]) == planes.Y[i] {
			same++
		}
	}
	if same != len(fl) {
		t.Logf("the unrounded luma here rounds to the pipeline's Y at %d of %d pixels (the C loops sum in another order)", same, len(fl))
	}
	ly := func(y uint8) uint8 { return uint8((56318*int(y) + (16 << 16) + (1 << 15)) >> 16) }
	lc := func(c uint8) uint8 { return uint8((128*65536 + (int(c)-128)*57600 + (1 << 15)) >> 16) }
	ys := make([]uint8, 1600*900) // sharp's Y' as libwebp makes it
	clampedPix := make([]bool, 1600*900)
	for i := range ys {
		r, g, b := int(S.Pix[4*i]), int(S.Pix[4*i+1]), int(S.Pix[4*i+2])
		ys[i] = uint8((16839*r + 33059*g + 6420*b + (16 << 16) + (1 << 15)) >> 16)
		for _, c := range []int{r, g, b} {
			if c <= 1 || c >= 254 {
				clampedPix[i] = true
			}
		}
	}
	cands := map[string][]uint8{}
	yb := make([]uint8, len(ys))
	y1 := make([]uint8, len(ys))
	for i := range ys {
		yb[i] = ly(planes.Y[i])
		f := 16 + float64(fl[i])*56318/65536
		y1[i] = uint8(math.Max(0, math.Min(255, math.Round(f))))
	}
	cands["backlot"] = yb
	cands["single-round"] = y1
	cands["sharp"] = ys
	cw := 800 * 450
	cb, cr := make([]uint8, cw), make([]uint8, cw)
	for i := range cw {
		cb[i], cr[i] = lc(planes.Cb[i]), lc(planes.Cr[i])
	}
	es := webpRoundTrip(t, S)
	nclamped := 0
	for _, c := range clampedPix {
		if c {
			nclamped++
		}
	}
	for _, name := range []string{"backlot", "single-round", "sharp"} {
		y := cands[name]
		var h [4]int
		var hc [4]int
		for i := range y {
			d := int(y[i]) - int(ys[i])
			if d < 0 {
				d = -d
			}
			d = min(d, 3)
			if clampedPix[i] {
				hc[d]++
			} else {
				h[d]++
			}
		}
		pl := &image.YCbCr{Y: y, Cb: cb, Cr: cr, YStride: 1600, CStride: 800, SubsampleRatio: image.YCbCrSubsampleRatio420, Rect: image.Rect(0, 0, 1600, 900)}
		e := decodedWebP(t, func(w io.Writer) error { return webp.EncodeVideoYCbCr(w, pl, 85) })
		n := float64(len(y) - nclamped)
		t.Logf("large luma %-12s Y' (libwebp's range) against sharp's: |d| 0, 1, 2, 3+ at %.3f %.3f %.4f %.4f of pixels with no channel near 0 or 255; at %.3f %.3f %.3f %.3f of the %d near it; as WebP with our chroma: SSIM %.4f",
			name, float64(h[0])/n, float64(h[1])/n, float64(h[2])/n, float64(h[3])/n,
			float64(hc[0])/float64(max(1, nclamped)), float64(hc[1])/float64(max(1, nclamped)), float64(hc[2])/float64(max(1, nclamped)), float64(hc[3])/float64(max(1, nclamped)),
			nclamped, LumaSSIM(e, es))
	}
}
