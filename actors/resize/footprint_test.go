package resize

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/image/tiff"

	"github.com/backlot/backlot/actors/resize/heif"
	"github.com/backlot/backlot/actors/resize/turbojpeg"
	"github.com/backlot/backlot/persistence"
)

// raceEnabled is set by footprint_race_test.go: the race detector's
// shadow memory makes resident sizes meaningless, and its sync.Pool
// drops buffers at random.
var raceEnabled bool

// footprintInputs are real images of every kind Footprint tells apart:
// each JPEG sampling, progressive (image/jpeg keeps 4-byte coefficients,
// libjpeg-turbo 2-byte ones), YCCK (converted to CMYK by image/jpeg), a
// file padded past what libjpeg-turbo reads into memory, and each PNG
// pixel type (16-bit with and without alpha, 8-bit, gray, paletted,
// interlaced), GIF, BMP and TIFF (plain and deflated).
func footprintInputs(t *testing.T) []struct {
	name string
	data []byte
} {
	t.Helper()
	const w, h = 1200, 900
	photo := Synthetic(w, h, 3)
	file := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	encode := func(img image.Image) []byte { return encodeAs(t, "png", img) }
	var tiffDeflate bytes.Buffer
	if err := tiff.Encode(&tiffDeflate, photo, &tiff.Options{Compression: tiff.Deflate}); err != nil {
		t.Fatal(err)
	}
	// One-strip 16-bit TIFFs (over restripMin: re-stripped) as x/image
	// writes them and, by hand, with the predictor, LZW and PackBits.
	var tiff16 bytes.Buffer
	if err := tiff.Encode(&tiff16, nrgba64(w, h), &tiff.Options{Compression: tiff.Deflate}); err != nil {
		t.Fatal(err)
	}
	hand := func(m image.Image, comp uint16, predictor bool) []byte {
		s := tiffSpec{be: true, w: m.Bounds().Dx(), h: m.Bounds().Dy(), comp: comp, predictor: predictor}
		switch m := m.(type) {
		case *image.NRGBA64:
			s.bps, s.photo, s.extra, s.raw = []uint16{16, 16, 16, 16}, 2, 2, m.Pix
		case *image.RGBA64:
			s.bps, s.photo, s.raw = []uint16{16, 16, 16}, 2, nil
			for i := 0; i < len(m.Pix); i += 8 {
				s.raw = append(s.raw, m.Pix[i:i+6]...)
			}
		case *image.Gray16:
			s.bps, s.photo, s.raw = []uint16{16}, 1, m.Pix
		}
		return writeTIFF(t, s)
	}
	padded := encodeAs(t, "jpeg", Synthetic(320, 240, 4))
	padded = append(padded, make([]byte, 8*320*240+1<<20)...)
	return []struct {
		name string
		data []byte
	}{
		{"jpeg 4:2:0", encodeAs(t, "jpeg", photo)},
		{"jpeg gray", encodeAs(t, "jpeg", grayOf(photo))},
		{"jpeg 4:2:2", file("422.jpg")},
		{"jpeg 4:4:4", file("444.jpg")},
		{"jpeg 4:4:0", file("440.jpg")},
		{"jpeg 4:1:1", file("411.jpg")},
		{"jpeg ycck", file("ycck.jpg")},
		{"jpeg progressive 4:2:0", file("mem-progressive-420.jpg")},
		{"jpeg progressive 4:4:4", file("mem-progressive-444.jpg")},
		{"jpeg progressive ycck", file("mem-ycck-progressive.jpg")},
		{"jpeg exif 6", withSegments(encodeAs(t, "jpeg", photo), exifSegment(binary.BigEndian, 6))},
		{"jpeg padded", padded},
		{"png rgba16", encode(nrgba64(w, h))},
		{"png rgb16", encode(rgba64(w, h))},
		{"png rgba8", encode(withAlpha(photo))},
		{"png rgb8", encode(photo)},
		{"png gray", encode(grayOf(photo))},
		{"png gray16", encode(gray16(w, h))},
		{"png paletted", encode(palettedOf(w, h))},
		{"png interlaced rgba8", interlacedPNG(t, withAlpha(photo))},
		{"gif", encodeAs(t, "gif", palettedOf(w, h))},
		{"bmp", encodeAs(t, "bmp", photo)},
		{"tiff", encodeAs(t, "tiff", photo)},
		{"tiff deflate", tiffDeflate.Bytes()},
		{"tiff rgba16", encodeAs(t, "tiff", nrgba64(w, h))},
		{"tiff rgba16 deflate", tiff16.Bytes()},
		{"tiff rgba16 deflate predictor", hand(nrgba64(w, h), 8, true)},
		{"tiff rgb16 lzw", hand(rgba64(w, h), 5, false)},
		{"tiff rgba16 packbits", hand(nrgba64(w, h), 32773, false)},
		{"tiff gray16 deflate", hand(gray16(2*w, h*5/4), 8, false)},
		{"webp lossless", webpLossless},
		{"webp lossy", webpLossy},
	}
}

// footprintOptions are outputs that stress each stage: a thumbnail (the
// pre-shrink and the DCT scaling), a box close to the source (no
// pre-shrink: Lanczos over the whole image), and an enlargement to the
// largest box (big output, encode buffers).
var footprintOptions = []persistence.Options{
	options(100, 100, persistence.FitCover, persistence.FormatJPEG),
	options(1000, 700, persistence.FitContain, persistence.FormatPNG),
	options(persistence.MaxDimension, persistence.MaxDimension, persistence.FitFill, persistence.FormatJPEG),
}

// allocated is the bytes of Go memory f allocates, after two collections
// that empty the buffer pools (so pooled buffers count as new).
func allocated(f func()) uint64 {
	runtime.GC()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestFootprintBoundsAllocations: for every kind of input and output,
// everything a whole attempt allocates in Go (garbage included, the
// probe and Footprint itself too) is at most what Footprint said before
// the decode. TotalAlloc is an upper bound of the bytes live at any one
// time, so the estimate bounds the attempt's Go heap.
func TestFootprintBoundsAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes a few dozen images")
	}
	if raceEnabled {
		// sync.Pool drops a share of what it is given under the race
		// detector, and each decode takes minutes: the figures are a
		// normal build's.
		t.Skip("allocations under the race detector are not a build's")
	}
	dir := t.TempDir()
	for _, in := range footprintInputs(t) {
		src := writeFile(t, dir, strings.ReplaceAll(in.name, " ", "-"), in.data)
		for _, opts := range footprintOptions {
			name := in.name + " " + strconv.Itoa(opts.Width) + "x" + strconv.Itoa(opts.Height) + " " + string(opts.Fit)
			t.Run(name, func(t *testing.T) {
				est, err := footprintFile(src, opts, 0)
				if err != nil {
					t.Fatal(err)
				}
				var perr error
				got := allocated(func() {
					_, perr = processFile(src, filepath.Join(dir, "out"), opts, Limits{})
				})
				if perr != nil {
					t.Fatalf("Process: %v", perr)
				}
				if int64(got) > est {
					t.Errorf("allocated %d bytes, over the footprint of %d", got, est)
				}
				t.Logf("footprint %.1f MiB, allocated %.1f MiB", float64(est)/(1<<20), float64(got)/(1<<20))
			})
		}
	}
}

// TestFootprintBoundsRSS: libjpeg-turbo's and libheif's memory is C's,
// which MemStats does not see; the process's peak resident set does. For
// progressive JPEGs, whose coefficients libjpeg keeps for the whole
// image, and a 12-megapixel HEIC (heif-enc 1.15 -q 30 of Synthetic(4000,
// 3000, 7)), the peak RSS grows by less than the footprint (for a JPEG,
// libjpeg-turbo's path's, without the image/jpeg fallback it also
// reserves). Linux: the peak is reset through /proc/self/clear_refs.
func TestFootprintBoundsRSS(t *testing.T) {
	if !turbojpeg.Available || !heif.Available {
		t.Skip("no libjpeg-turbo or libheif in this build")
	}
	if raceEnabled {
		t.Skip("the race detector's shadow memory is resident too")
	}
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Skipf("cannot reset the peak RSS: %v", err)
	}
	dir := t.TempDir()
	for _, name := range []string{"mem-progressive-444.jpg", "mem-progressive-420.jpg", "heif/mem-12mp.heic"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		src := writeFile(t, dir, filepath.Base(name), data)
		for _, opts := range footprintOptions {
			t.Run(name+" "+strconv.Itoa(opts.Width), func(t *testing.T) {
				f, err := openFile(src)
				if err != nil {
					t.Fatal(err)
				}
				info, cfg, err := probeConfig(f, 0)
				if err != nil {
					t.Fatal(err)
				}
				opts, _ := withDefaults(opts)
				est, _ := footprintOf(f, info, cfg, opts, false)
				f.Close()
				runtime.GC()
				debug.FreeOSMemory() // freed pages go back: the attempt's must be new ones
				rss := procStatus(t, "VmRSS")
				if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
					t.Fatal(err)
				}
				if _, err := processFile(src, filepath.Join(dir, "out"), opts, Limits{}); err != nil {
					t.Fatal(err)
				}
				grew := procStatus(t, "VmHWM") - rss
				if grew > est {
					t.Errorf("peak RSS grew by %d bytes, over the footprint of %d", grew, est)
				}
				t.Logf("footprint %.1f MiB, peak RSS grew %.1f MiB", float64(est)/(1<<20), float64(grew)/(1<<20))
			})
		}
	}
}

// procStatus reads a "kB" field of /proc/self/status, in bytes.
func procStatus(t *testing.T, field string) int64 {
	t.Helper()
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n << 10
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// headerPNG is a PNG signature, an IHDR chunk and for colour type 3 a
// palette, then where the pixels would start: all Footprint reads.
func headerPNG(w, h uint32, depth, colour, interlace byte) []byte {
	chunk := func(typ string, data []byte) []byte {
		c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
		c = append(append(c, typ...), data...)
		return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
	}
	data := binary.BigEndian.AppendUint32(nil, w)
	data = binary.BigEndian.AppendUint32(data, h)
	data = append(data, depth, colour, 0, 0, interlace)
	out := append([]byte("\x89PNG\r\n\x1a\n"), chunk("IHDR", data)...)
	if colour == 3 {
		out = append(out, chunk("PLTE", make([]byte, 3*256))...)
	}
	return append(out, chunk("IDAT", nil)...)
}

// headerJPEG is a JPEG's markers up to its first scan, all Footprint
// reads: Adobe's APP14 with transform (none when < 0), a baseline or
// progressive frame header with the components' sampling factors.
func headerJPEG(w, h int, progressive bool, transform int, hv ...byte) []byte {
	b := []byte{0xff, 0xd8}
	if transform >= 0 {
		b = append(b, 0xff, 0xee, 0, 14, 'A', 'd', 'o', 'b', 'e', 0, 100, 0, 0, 0, 0, byte(transform))
	}
	sof := byte(0xc0)
	if progressive {
		sof = 0xc2
	}
	b = append(b, 0xff, sof, 0, byte(8+3*len(hv)), 8, byte(h>>8), byte(h), byte(w>>8), byte(w), byte(len(hv)))
	for i, f := range hv {
		b = append(b, byte(i+1), f, 0)
	}
	return append(b, 0xff, 0xda, 0, 8, 1, 1, 0, 0, 63, 0)
}

// TestFootprintOfTheLargest: the footprints the README and the default
// budget rest on, for 49-megapixel images of the heavy kinds, from their
// headers alone. A 16-bit RGBA PNG made a thumbnail fits the default
// budget by itself; everything is over the 392 MB its pixels take, and a
// progressive JPEG counts libjpeg's coefficients as native.
func TestFootprintOfTheLargest(t *testing.T) {
	const w, h = 7000, 7000
	dir := t.TempDir()
	thumb := persistence.DefaultOptions()
	big := options(persistence.MaxDimension, persistence.MaxDimension, persistence.FitContain, persistence.FormatPNG)
	for _, c := range []struct {
		name       string
		data       []byte
		opts       persistence.Options
		min, max   int64 // MiB
		native     bool  // libjpeg-turbo's decoder holds much: the coefficients
		fitsBudget bool
	}{
		{"16-bit RGBA PNG", headerPNG(w, h, 16, 6, 0), thumb, 374, 380, false, true},
		{"16-bit RGBA PNG to 4096 PNG", headerPNG(w, h, 16, 6, 0), big, 600, 700, false, false},
		{"16-bit RGBA PNG interlaced", headerPNG(w, h, 16, 6, 1), thumb, 748, 760, false, false},
		{"8-bit RGBA PNG", headerPNG(w, h, 8, 6, 0), thumb, 187, 192, false, true},
		{"paletted PNG", headerPNG(w, h, 8, 3, 0), thumb, 46, 50, false, true},
		{"baseline 4:2:0 JPEG", headerJPEG(w, h, false, -1, 0x22, 0x11, 0x11), thumb, 70, 90, false, true},
		{"progressive 4:2:0 JPEG", headerJPEG(w, h, true, -1, 0x22, 0x11, 0x11), thumb, 350, 360, true, true},
		{"progressive 4:4:4 JPEG", headerJPEG(w, h, true, -1, 0x11, 0x11, 0x11), thumb, 700, 720, true, false},
		{"progressive YCCK JPEG", headerJPEG(w, h, true, 2, 0x11, 0x11, 0x11, 0x11), thumb, 1100, 1140, true, false},
		// Re-stripped (tiffstrip.go): the image and ~12 MiB; the plain
		// decode's whole-strip buffers made it 2 GB.
		{"16-bit RGBA TIFF, one deflated strip", headerTIFF(t, w, h), thumb, 385, 400, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			name := filepath.Join(dir, "h")
			if err := os.WriteFile(name, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := openFile(name)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			info, cfg, err := probeConfig(f, 0)
			if err != nil {
				t.Fatal(err)
			}
			opts, _ := withDefaults(c.opts)
			need, native := footprint(f, info, cfg, opts)
			t.Logf("footprint %.0f MiB, native %.0f MiB", float64(need)/(1<<20), float64(native)/(1<<20))
			if mib := need >> 20; mib < c.min || mib > c.max {
				t.Errorf("footprint %d MiB, want %d..%d", mib, c.min, c.max)
			}
			if c.native != (native > 16<<20) && turbojpeg.Available {
				t.Errorf("native %d bytes", native)
			}
			if fits := need <= DefaultMaxDecodeMemory; fits != c.fitsBudget {
				t.Errorf("fits the default budget: %v", fits)
			}
		})
	}
}

// headerTIFF is a 16-bit RGBA TIFF of one deflated strip as x/image/tiff
// writes it, w×h as its header says, whose strip holds one row: all
// Footprint reads.
func headerTIFF(t *testing.T, w, h int) []byte {
	s := tiffKinds(w, 1, false)[5] // nrgba16
	s.comp = 8
	b := writeTIFF(t, s)
	ifd := binary.LittleEndian.Uint32(b[4:])
	e := b[ifd+2+12 : ifd+2+24]
	if binary.LittleEndian.Uint16(e) != 257 {
		t.Fatal("headerTIFF: no ImageLength")
	}
	binary.LittleEndian.PutUint16(e[8:], uint16(h))
	return b
}

// nrgba64 is a 16-bit image with alpha: PNG colour type 6 at depth 16.
func nrgba64(w, h int) *image.NRGBA64 {
	m := image.NewNRGBA64(image.Rect(0, 0, w, h))
	for i := range m.Pix {
		m.Pix[i] = uint8(i * 7 / 5)
	}
	return m
}

// rgba64 is an opaque 16-bit image: colour type 2 at depth 16.
func rgba64(w, h int) *image.RGBA64 {
	m := image.NewRGBA64(image.Rect(0, 0, w, h))
	for i := range m.Pix {
		m.Pix[i] = uint8(i * 3 / 7)
		if i%8 >= 6 {
			m.Pix[i] = 0xff
		}
	}
	return m
}

func gray16(w, h int) *image.Gray16 {
	m := image.NewGray16(image.Rect(0, 0, w, h))
	for i := range m.Pix {
		m.Pix[i] = uint8(i / 3)
	}
	return m
}

func withAlpha(m *image.RGBA) *image.NRGBA {
	n := image.NewNRGBA(m.Rect)
	copy(n.Pix, m.Pix)
	for i := 3; i < len(n.Pix); i += 4 {
		n.Pix[i] = uint8(i / 5)
	}
	return n
}

func palettedOf(w, h int) *image.Paletted {
	pal := make(color.Palette, 256)
	for i := range pal {
		pal[i] = color.RGBA{uint8(i), uint8(255 - i), uint8(i * 3), 255}
	}
	m := image.NewPaletted(image.Rect(0, 0, w, h), pal)
	for i := range m.Pix {
		m.Pix[i] = uint8(i / 97)
	}
	return m
}

// interlacedPNG encodes m as an Adam7-interlaced 8-bit RGBA PNG (image/png
// writes none), every row unfiltered.
func interlacedPNG(t *testing.T, m *image.NRGBA) []byte {
	t.Helper()
	w, h := m.Rect.Dx(), m.Rect.Dy()
	var raw bytes.Buffer
	zw := zlib.NewWriter(&raw)
	for _, p := range [7][4]int{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}} {
		for y := p[1]; y < h; y += p[3] {
			if p[0] >= w {
				break
			}
			row := []byte{0}
			for x := p[0]; x < w; x += p[2] {
				row = append(row, m.Pix[y*m.Stride+4*x:y*m.Stride+4*x+4]...)
			}
			zw.Write(row)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(data)))
		out.Write(n[:])
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		out.WriteString(typ)
		out.Write(data)
		binary.BigEndian.PutUint32(n[:], crc.Sum32())
		out.Write(n[:])
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9], ihdr[12] = 8, 6, 1 // depth 8, RGBA, Adam7
	chunk("IHDR", ihdr)
	chunk("IDAT", raw.Bytes())
	chunk("IEND", nil)
	// The decoder agrees that this is the image.
	got, err := png.Decode(bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := got.(*image.NRGBA); !ok || !bytes.Equal(n.Pix, m.Pix) {
		t.Fatal("interlacedPNG: the decoded image differs")
	}
	return out.Bytes()
}
