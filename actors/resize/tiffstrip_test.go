package resize

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"

	"golang.org/x/image/tiff"
)

// restripDecode decodes the TIFF data through restrip, re-stripping any
// strip (minStrip 0) into strips of target bytes; !ok: planTiff left it
// to the plain decode.
func restripDecode(data []byte, minStrip, target int64) (img image.Image, ok bool, err error) {
	r := bytes.NewReader(data)
	p := planTiff(r, int64(len(data)), minStrip, target)
	if p == nil {
		return nil, false, nil
	}
	img, err = tiff.Decode(newTiffStrips(p, r))
	return img, true, err
}

// tiffSpec is a TIFF for writeTIFF: raw is the samples, row after row, in
// the file's byte order, before any predictor.
type tiffSpec struct {
	be        bool
	w, h      int
	bps       []uint16
	photo     uint16
	extra     uint16 // ExtraSamples, 0: none
	cmap      []uint16
	comp      uint16 // 1, 5, 8 or 32773
	predictor bool
	rps       int // 0: no RowsPerStrip tag (one strip)
	raw       []byte
}

func (s tiffSpec) rowBytes() int { return (s.w*len(s.bps)*int(s.bps[0]) + 7) / 8 }

// writeTIFF writes a TIFF by hand: the strips first, then IFD0 and its
// out-of-line values. x/image/tiff writes neither LZW, PackBits, a
// predictor, 3-sample RGB, big-endian nor several strips.
func writeTIFF(t testing.TB, s tiffSpec) []byte {
	t.Helper()
	var bo interface {
		binary.ByteOrder
		binary.AppendByteOrder
	} = binary.LittleEndian
	out := []byte("II*\x00\x00\x00\x00\x00")
	if s.be {
		bo = binary.BigEndian
		out = []byte("MM\x00*\x00\x00\x00\x00")
	}
	rb := s.rowBytes()
	rps := s.rps
	if rps == 0 {
		rps = s.h
	}
	var offs, cnts []uint32
	for y := 0; y < s.h; y += rps {
		rows := min(rps, s.h-y)
		data := bytes.Clone(s.raw[y*rb : (y+rows)*rb])
		if s.predictor {
			n := len(s.bps) * int(s.bps[0]) / 8
			for r := range rows {
				row := data[r*rb : (r+1)*rb]
				if s.bps[0] == 16 {
					for x := len(row) - 2; x >= n; x -= 2 {
						bo.PutUint16(row[x:], bo.Uint16(row[x:])-bo.Uint16(row[x-n:]))
					}
				} else {
					for x := len(row) - 1; x >= n; x-- {
						row[x] -= row[x-n]
					}
				}
			}
		}
		offs = append(offs, uint32(len(out)))
		enc := compressStrip(t, s.comp, data)
		cnts = append(cnts, uint32(len(enc)))
		out = append(out, enc...)
		if len(out)%2 == 1 {
			out = append(out, 0)
		}
	}
	type entry struct {
		tag, typ uint16
		vals     []uint32
	}
	ents := []entry{
		{256, 4, []uint32{uint32(s.w)}},
		{257, 3, []uint32{uint32(s.h)}},
		{258, 3, u32s(s.bps)},
		{259, 3, []uint32{uint32(s.comp)}},
		{262, 3, []uint32{uint32(s.photo)}},
		{273, 4, offs},
		{277, 3, []uint32{uint32(len(s.bps))}},
	}
	if s.rps != 0 {
		ents = append(ents, entry{278, 3, []uint32{uint32(s.rps)}})
	}
	ents = append(ents, entry{279, 4, cnts}, entry{284, 3, []uint32{1}})
	if s.predictor {
		ents = append(ents, entry{317, 3, []uint32{2}})
	}
	if s.cmap != nil {
		ents = append(ents, entry{320, 3, u32s(s.cmap)})
	}
	if s.extra != 0 {
		ents = append(ents, entry{338, 3, []uint32{uint32(s.extra)}})
	}
	ifd := len(out)
	bo.PutUint32(out[4:], uint32(ifd))
	out = bo.AppendUint16(out, uint16(len(ents)))
	values := ifd + 2 + 12*len(ents) + 4
	var extra []byte
	for _, e := range ents {
		out = bo.AppendUint16(out, e.tag)
		out = bo.AppendUint16(out, e.typ)
		out = bo.AppendUint32(out, uint32(len(e.vals)))
		var v []byte
		for _, x := range e.vals {
			if e.typ == 3 {
				v = bo.AppendUint16(v, uint16(x))
			} else {
				v = bo.AppendUint32(v, x)
			}
		}
		if len(v) <= 4 {
			out = append(out, append(v, make([]byte, 4-len(v))...)...)
			continue
		}
		out = bo.AppendUint32(out, uint32(values+len(extra)))
		extra = append(extra, v...)
	}
	out = append(out, 0, 0, 0, 0)
	return append(out, extra...)
}

func u32s(v []uint16) []uint32 {
	var o []uint32
	for _, x := range v {
		o = append(o, uint32(x))
	}
	return o
}

// compressStrip compresses a strip's data: zlib, PackBits (runs and
// literals), or TIFF LZW (literal codes only, a Clear code every 200 of
// them so the code width stays 9 bits: valid, if not small).
func compressStrip(t testing.TB, comp uint16, data []byte) []byte {
	switch comp {
	case 1:
		return data
	case 8:
		var b bytes.Buffer
		zw := zlib.NewWriter(&b)
		zw.Write(data)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	case 32773:
		var o []byte
		for i := 0; i < len(data); {
			j := i
			for j < len(data) && j-i < 128 && data[j] == data[i] {
				j++
			}
			if j-i >= 3 {
				o = append(o, byte(int8(1-(j-i))), data[i])
				i = j
				continue
			}
			j = min(i+128, len(data))
			for k := i; k+2 < j; k++ {
				if data[k] == data[k+1] && data[k] == data[k+2] {
					j = k
					break
				}
			}
			if j == i {
				j = i + 1
			}
			o = append(o, byte(j-i-1))
			o = append(o, data[i:j]...)
			if i%7 == 0 {
				o = append(o, 0x80) // a no-op code now and then
			}
			i = j
		}
		return o
	case 5:
		var o []byte
		var acc uint64
		var nb uint
		put := func(code uint64) {
			acc = acc<<9 | code
			nb += 9
			for nb >= 8 {
				o = append(o, byte(acc>>(nb-8)))
				nb -= 8
			}
		}
		put(256)
		for i, c := range data {
			if i > 0 && i%200 == 0 {
				put(256)
			}
			put(uint64(c))
		}
		put(257)
		if nb > 0 {
			o = append(o, byte(acc<<(8-nb)))
		}
		return o
	}
	t.Fatalf("compression %d", comp)
	return nil
}

// tiffKinds (named by tiffKindNames) are the pixel layouts x/image/tiff decodes, with test
// samples: 8-bit RGB, RGBA (associated and not), 16-bit RGB and RGBA,
// gray 1, 8 and 16 bits, and paletted.
func tiffKinds(w, h int, be bool) []tiffSpec {
	samples := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*7/3 + i/(w+1) + i*i%11)
		}
		return b
	}
	cmap := make([]uint16, 3*256)
	for i := range cmap {
		cmap[i] = uint16(i * 257)
	}
	pal := samples(w * h)
	for i := range pal {
		pal[i] %= 200
	}
	return []tiffSpec{
		{be, w, h, []uint16{8, 8, 8}, 2, 0, nil, 0, false, 0, samples(3 * w * h)},
		{be, w, h, []uint16{8, 8, 8, 8}, 2, 1, nil, 0, false, 0, samples(4 * w * h)},
		{be, w, h, []uint16{8, 8, 8, 8}, 2, 2, nil, 0, false, 0, samples(4 * w * h)},
		{be, w, h, []uint16{16, 16, 16}, 2, 0, nil, 0, false, 0, samples(6 * w * h)},
		{be, w, h, []uint16{16, 16, 16, 16}, 2, 1, nil, 0, false, 0, samples(8 * w * h)},
		{be, w, h, []uint16{16, 16, 16, 16}, 2, 2, nil, 0, false, 0, samples(8 * w * h)},
		{be, w, h, []uint16{1}, 1, 0, nil, 0, false, 0, samples((w + 7) / 8 * h)},
		{be, w, h, []uint16{8}, 1, 0, nil, 0, false, 0, samples(w * h)},
		{be, w, h, []uint16{8}, 0, 0, nil, 0, false, 0, samples(w * h)},
		{be, w, h, []uint16{16}, 1, 0, nil, 0, false, 0, samples(2 * w * h)},
		{be, w, h, []uint16{8}, 3, 0, cmap, 0, false, 0, pal},
	}
}

var tiffKindNames = []string{"rgb8", "rgba8", "nrgba8", "rgb16", "rgba16", "nrgba16", "gray1", "gray8", "gray8-inverted", "gray16", "paletted"}

// sameImage reports whether a and b are the same type with the same
// bounds, pixels and palette.
func sameImage(a, b image.Image) bool {
	return reflect.TypeOf(a) == reflect.TypeOf(b) && reflect.DeepEqual(a, b)
}

// TestTiffStripMatchesPlain: every pixel layout, compression (none,
// LZW, deflate, PackBits), with and without the horizontal predictor,
// in both byte orders, in one strip or several (with a short last one),
// re-stripped into strips of one row, two rows or a size that does not
// divide the image, decodes exactly as x/image/tiff's plain decode.
func TestTiffStripMatchesPlain(t *testing.T) {
	const w, h = 37, 23
	for _, be := range []bool{false, true} {
		for i, k := range tiffKinds(w, h, be) {
			for _, comp := range []uint16{1, 5, 8, 32773} {
				for _, pred := range []bool{false, true} {
					if pred && k.bps[0] == 1 {
						continue // x/image refuses it; TestTiffStripRefusals
					}
					for _, rps := range []int{0, 5} {
						s := k
						s.comp, s.predictor, s.rps = comp, pred, rps
						data := writeTIFF(t, s)
						want, err := tiff.Decode(bytes.NewReader(data))
						if err != nil {
							t.Fatalf("%s: plain decode: %v", tiffKindNames[i], err)
						}
						rb := int64(s.rowBytes())
						for _, target := range []int64{1, 2 * rb, 3*rb + 1, 1 << 20} {
							name := fmt.Sprintf("%s be=%v comp=%d predictor=%v rps=%d target=%d", tiffKindNames[i], be, comp, pred, rps, target)
							got, ok, err := restripDecode(data, 0, target)
							if !ok || err != nil {
								t.Fatalf("%s: ok %v, %v", name, ok, err)
							}
							if !sameImage(got, want) {
								t.Fatalf("%s: the pixels differ", name)
							}
						}
					}
				}
			}
		}
	}
}

// TestTiffStripEncoded: x/image/tiff's own files (one deflated or
// uncompressed strip) of every type it writes, and the files of its
// testdata (LZW, deflate with the predictor, the old deflate code,
// PackBits, 1-bit, big-endian, several strips, no RowsPerStrip), decode
// through restrip as through the plain decode. A tiled file is left to
// the plain decode.
func TestTiffStripEncoded(t *testing.T) {
	const w, h = 61, 45
	photo := Synthetic(w, h, 5)
	imgs := map[string]image.Image{
		"rgba": photo, "nrgba": withAlpha(photo), "rgba64": rgba64(w, h), "nrgba64": nrgba64(w, h),
		"gray": grayOf(photo), "gray16": gray16(w, h), "paletted": palettedOf(w, h),
	}
	files := map[string][]byte{}
	for name, m := range imgs {
		for _, c := range []tiff.CompressionType{tiff.Uncompressed, tiff.Deflate} {
			var b bytes.Buffer
			if err := tiff.Encode(&b, m, &tiff.Options{Compression: c}); err != nil {
				t.Fatal(err)
			}
			files[fmt.Sprintf("%s-%d", name, c)] = b.Bytes()
		}
	}
	dir, err := os.ReadDir(filepath.Join("testdata", "tiff"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range dir {
		if filepath.Ext(e.Name()) == ".tiff" {
			b, err := os.ReadFile(filepath.Join("testdata", "tiff", e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			files[e.Name()] = b
		}
	}
	for name, data := range files {
		want, werr := tiff.Decode(bytes.NewReader(data))
		for _, target := range []int64{1, 1000, 1 << 20} {
			got, ok, err := restripDecode(data, 0, target)
			switch {
			case name == "video-001-tile-64x64.tiff":
				if ok {
					t.Errorf("%s: a tiled file is re-stripped", name)
				}
			case !ok:
				t.Errorf("%s: not re-stripped", name)
			case (err != nil) != (werr != nil):
				t.Errorf("%s target %d: error %v, the plain decode's %v", name, target, err, werr)
			case err == nil && !sameImage(got, want):
				t.Errorf("%s target %d: the pixels differ", name, target)
			}
		}
	}
}

// TestTiffStripThreshold: only strips inflating to more than the minimum
// are re-stripped, into strips of about the target (at least one row).
func TestTiffStripThreshold(t *testing.T) {
	s := tiffKinds(100, 50, false)[4] // rgba16: 800 bytes a row
	s.comp = 8
	data := writeTIFF(t, s)
	if p := planTiff(bytes.NewReader(data), int64(len(data)), 40000, 4000); p != nil {
		t.Errorf("a 40000-byte strip re-stripped at a minimum of 40000")
	}
	p := planTiff(bytes.NewReader(data), int64(len(data)), 39999, 4512)
	if p == nil || p.r != 5 || p.n != 10 {
		t.Fatalf("plan %+v, want strips of 5 rows", p)
	}
	if p := planTiff(bytes.NewReader(data), int64(len(data)), 0, 100); p == nil || p.r != 1 || p.n != 50 {
		t.Errorf("rows wider than the target: %+v, want one a strip", p)
	}
}

// TestTiffStripRefusals: what restrip leaves to the plain decode
// (tiles, planar configuration 2, unsorted tags, CCITT, a bad header),
// and what it decodes but fails as the plain decode does.
func TestTiffStripRefusals(t *testing.T) {
	base := tiffKinds(20, 10, false)[0]
	base.comp = 8
	good := writeTIFF(t, base)
	ifd := int(binary.LittleEndian.Uint32(good[4:]))
	entry := func(data []byte, tag uint16) []byte {
		n := int(binary.LittleEndian.Uint16(data[ifd:]))
		for i := range n {
			e := data[ifd+2+12*i : ifd+14+12*i]
			if binary.LittleEndian.Uint16(e) == tag {
				return e
			}
		}
		t.Fatalf("no tag %d", tag)
		return nil
	}
	edit := func(f func(d []byte)) []byte {
		d := bytes.Clone(good)
		f(d)
		return d
	}
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"planar 2", edit(func(d []byte) { binary.LittleEndian.PutUint16(entry(d, 284)[8:], 2) })},
		{"unsorted", edit(func(d []byte) { binary.LittleEndian.PutUint16(entry(d, 277), 300) })},
		{"ccitt", edit(func(d []byte) { binary.LittleEndian.PutUint16(entry(d, 259)[8:], 3) })},
		{"jpeg", edit(func(d []byte) { binary.LittleEndian.PutUint16(entry(d, 259)[8:], 7) })},
		{"rational width", edit(func(d []byte) { binary.LittleEndian.PutUint16(entry(d, 256)[2:], 5) })},
		{"bps 4", edit(func(d []byte) {
			off := binary.LittleEndian.Uint32(entry(d, 258)[8:])
			binary.LittleEndian.PutUint16(d[off:], 4)
		})},
		{"colour map past the end", edit(func(d []byte) {
			copy(entry(d, 284), []byte{0x40, 0x01, 3, 0, 0, 3, 0, 0, 0xff, 0xff, 0, 0})
		})},
		{"bad magic", append([]byte("IX"), good[2:]...)},
		{"no IFD", good[:8]},
	} {
		if p := planTiff(bytes.NewReader(c.data), int64(len(c.data)), 0, 1); p != nil {
			t.Errorf("%s: re-stripped", c.name)
		}
	}
	// Tiles.
	tiled, err := os.ReadFile(filepath.Join("testdata", "tiff", "video-001-tile-64x64.tiff"))
	if err != nil {
		t.Fatal(err)
	}
	if p := planTiff(bytes.NewReader(tiled), int64(len(tiled)), 0, 1); p != nil {
		t.Error("tiled: re-stripped")
	}
}

// TestTiffStripCorrupt: strips cut short, with a bad checksum, corrupt,
// too short for the image, too long for the decoder's limit, or
// pointing past the file fail the decode through restrip exactly when
// they fail the plain decode, and never hang or panic.
func TestTiffStripCorrupt(t *testing.T) {
	for _, comp := range []uint16{1, 5, 8, 32773} {
		s := tiffKinds(40, 30, false)[4]
		s.comp = comp
		good := writeTIFF(t, s)
		ifd := int(binary.LittleEndian.Uint32(good[4:]))
		strip := int(binary.LittleEndian.Uint32(good[ifd+2+12*5+8:]))
		count := ifd - strip // the strip and its padding
		var cases [][]byte
		for _, cut := range []int{1, 2, 5, count / 2, count - 5, count - 4, count - 1} {
			d := bytes.Clone(good)
			copy(d[strip+count-cut:], make([]byte, cut)) // zeroed tail
			cases = append(cases, d)
			d = bytes.Clone(good)
			d[strip+count-cut] ^= 0x55 // one byte flipped
			cases = append(cases, d)
		}
		// A strip count too small, too large, past the end.
		for _, n := range []uint32{0, 10, uint32(count) / 2, uint32(count) + 100, 1 << 30} {
			d := bytes.Clone(good)
			binary.LittleEndian.PutUint32(d[ifd+2+12*7+8:], n)
			cases = append(cases, d)
		}
		for i, d := range cases {
			_, werr := tiff.Decode(bytes.NewReader(d))
			_, ok, err := restripDecode(d, 0, 500)
			if !ok {
				continue
			}
			if (err != nil) != (werr != nil) {
				t.Errorf("compression %d case %d: error %v, the plain decode's %v", comp, i, err, werr)
			}
		}
	}
}

// FuzzTiffStrip: whatever the bytes, the decode through restrip fails
// exactly when the plain decode does, and when both succeed the images
// are the same.
func FuzzTiffStrip(f *testing.F) {
	for _, comp := range []uint16{1, 5, 8, 32773} {
		for i, k := range tiffKinds(9, 7, false) {
			k.comp, k.predictor, k.rps = comp, i%2 == 0 && k.bps[0] != 1, i%3
			f.Add(writeTIFF(f, k), int64(7))
		}
	}
	dir, _ := os.ReadDir(filepath.Join("testdata", "tiff"))
	for _, e := range dir {
		if b, err := os.ReadFile(filepath.Join("testdata", "tiff", e.Name())); err == nil && len(b) < 20000 {
			f.Add(b, int64(100))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, target int64) {
		if target < 1 || target > 1<<20 {
			target = 1
		}
		// The decoder's own limits aside, keep each run small.
		if cfg, err := tiff.DecodeConfig(bytes.NewReader(data)); err != nil || cfg.Width*cfg.Height > 1<<16 {
			return
		}
		want, werr := tiff.Decode(bytes.NewReader(data))
		got, ok, err := restripDecode(data, 0, target)
		if !ok {
			return
		}
		if (err != nil) != (werr != nil) {
			t.Fatalf("error %v, the plain decode's %v", err, werr)
		}
		if err == nil && !sameImage(got, want) {
			t.Fatal("the pixels differ")
		}
	})
}

// TestTiffStripAllocations: decoding a one-strip 16-bit RGBA deflate
// TIFF through restrip allocates the image and a small constant, far
// from the plain decode's whole-strip buffers (2-3 times the image).
func TestTiffStripAllocations(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocations of a 32 MB image")
	}
	const w, h = 2000, 2000
	var b bytes.Buffer
	if err := tiff.Encode(&b, nrgba64(w, h), &tiff.Options{Compression: tiff.Deflate}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "one-strip.tiff")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	img := int64(8 * w * h)
	var restripped, plain image.Image
	got := allocated(func() {
		f, err := openFile(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		m, ok, err := decodeRestripped(f)
		if !ok || err != nil {
			t.Fatalf("ok %v, %v", ok, err)
		}
		restripped = m
	})
	old := allocated(func() {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		m, err := tiff.Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		plain = m
	})
	if !sameImage(restripped, plain) {
		t.Fatal("the pixels differ")
	}
	t.Logf("image %.1f MiB; restrip allocated %.1f MiB, the plain decode %.1f MiB",
		float64(img)/(1<<20), float64(got)/(1<<20), float64(old)/(1<<20))
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := planTiff(f, int64(b.Len()), restripMin, restripTarget)
	if extra := int64(got) - img; extra > p.cost() || extra > 8<<20 {
		t.Errorf("restrip allocated %d bytes beyond the image's %d; its cost %d", extra, img, p.cost())
	}
	runtime.KeepAlive(restripped)
}
