package resize

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/jpeg"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/backlot/backlot/actors/resize/avif"
	"github.com/backlot/backlot/actors/resize/turbojpeg"
	"github.com/backlot/backlot/actors/resize/webp"
	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/blob"
)

// memWriter is a blob.Writer in memory that records how it ended.
type memWriter struct {
	bytes.Buffer
	aborted, committed bool
}

func (w *memWriter) Abort() error { w.aborted = true; return nil }
func (w *memWriter) Commit(context.Context) (blob.Info, error) {
	w.committed = true
	return blob.Info{}, nil
}

// fourVariants are issue 20's: a thumbnail, a card, a view and a large
// view, all JPEG q85.
var fourVariants = persistence.Options{Variants: []persistence.Variant{
	{Name: "thumb", Width: 100, Height: 100, Fit: persistence.FitCover, Format: persistence.FormatJPEG, Quality: 85},
	{Name: "card", Width: 320, Height: 320, Fit: persistence.FitCover, Format: persistence.FormatJPEG, Quality: 85},
	{Name: "view", Width: 800, Height: 800, Fit: persistence.FitContain, Format: persistence.FormatJPEG, Quality: 85},
	{Name: "large", Width: 1600, Height: 1600, Fit: persistence.FitContain, Format: persistence.FormatJPEG, Quality: 85},
}}

// TestVariantsFromOneDecode: every variant is made, at its size, in
// order, and committed only once all are written.
func TestVariantsFromOneDecode(t *testing.T) {
	src := writeFile(t, t.TempDir(), "src", encodeAs(t, "jpeg", Synthetic(1920, 1080, 2)))
	f, err := openFile(src)
	if err != nil {
		t.Fatal(err)
	}
	outs := map[string]*memWriter{}
	res, err := Process(f, func(v persistence.Variant) (blob.Writer, error) {
		for _, w := range outs {
			if w.committed {
				t.Errorf("a variant was committed before %s was written", v.Name)
			}
		}
		outs[v.Name] = &memWriter{}
		return outs[v.Name], nil
	}, fourVariants, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name string
		w, h int
	}{{"thumb", 100, 100}, {"card", 320, 320}, {"view", 800, 450}, {"large", 1600, 900}}
	if len(res.Variants) != len(want) || res.Width != 100 || res.Bytes != res.Variants[0].Bytes {
		t.Fatalf("result %+v", res)
	}
	for i, w := range want {
		got := res.Variants[i]
		m := outs[w.name]
		if got.Name != w.name || got.Width != w.w || got.Height != w.h || m == nil || !m.committed || int64(m.Len()) != got.Bytes {
			t.Fatalf("variant %d: %+v, want %s %dx%d written and committed", i, got, w.name, w.w, w.h)
		}
		img, err := jpeg.Decode(bytes.NewReader(m.Bytes()))
		if err != nil || img.Bounds().Dx() != w.w || img.Bounds().Dy() != w.h {
			t.Fatalf("%s decodes to %v (%v)", w.name, img.Bounds(), err)
		}
	}
}

// TestVariantsAreOneUnit: when one variant cannot be written, the
// attempt fails and none is committed: those written are aborted.
func TestVariantsAreOneUnit(t *testing.T) {
	src := writeFile(t, t.TempDir(), "src", encodeAs(t, "jpeg", Synthetic(640, 480, 2)))
	for _, failAt := range []string{"thumb", "view", "large"} {
		t.Run(failAt, func(t *testing.T) {
			f, err := openFile(src)
			if err != nil {
				t.Fatal(err)
			}
			var made []*memWriter
			_, err = Process(f, func(v persistence.Variant) (blob.Writer, error) {
				if v.Name == failAt {
					return nil, blob.ErrInsufficientStorage
				}
				made = append(made, &memWriter{})
				return made[len(made)-1], nil
			}, fourVariants, Limits{})
			if !errors.Is(err, blob.ErrInsufficientStorage) || Permanent(err) {
				t.Fatalf("err %v, want a transient ErrInsufficientStorage", err)
			}
			for i, w := range made {
				if w.committed || !w.aborted {
					t.Errorf("variant %d: committed %v, aborted %v", i, w.committed, w.aborted)
				}
			}
		})
	}
}

// TestDecodeServesLargestVariant: the one decode is at the DCT scale
// the variant needing the most pixels needs, never a smaller one's.
func TestDecodeServesLargestVariant(t *testing.T) {
	if !turbojpeg.Available {
		t.Skip("no libjpeg-turbo: image/jpeg decodes at full size")
	}
	fs := turbojpeg.Factors()
	all := dctScaleAll(fs, 1920, 1080, 2, 2, 1, fourVariants.Variants)
	large := dctScale(fs, 1920, 1080, 2, 2, 1, persistence.Single(fourVariants.Variants[3]))
	thumb := dctScale(fs, 1920, 1080, 2, 2, 1, persistence.Single(fourVariants.Variants[0]))
	if all != large || !thumb.Less(all) {
		t.Errorf("all %v, large alone %v, thumb alone %v: want all = large > thumb", all, large, thumb)
	}
}

// TestVariantsFootprint: admission counts every variant's buffers on
// top of the one decode: more than the largest alone, less than
// decoding once per variant.
func TestVariantsFootprint(t *testing.T) {
	src := writeFile(t, t.TempDir(), "src", encodeAs(t, "jpeg", Synthetic(1920, 1080, 2)))
	f, err := openFile(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	all, err := Footprint(f, fourVariants, 0)
	if err != nil {
		t.Fatal(err)
	}
	var sum, largest int64
	for _, v := range fourVariants.Variants {
		n, err := Footprint(f, persistence.Single(v), 0)
		if err != nil {
			t.Fatal(err)
		}
		sum += n
		largest = max(largest, n)
	}
	if all <= largest || all >= sum {
		t.Errorf("four variants need %d bytes; the largest alone %d, each decoded on its own %d", all, largest, sum)
	}
}

// TestCanEncode: JPEG and PNG always; WebP and AVIF where the build has
// libwebp and libavif (cgo), else an error naming the format, and
// Process refuses them as permanent.
func TestCanEncode(t *testing.T) {
	for _, f := range []persistence.Format{persistence.FormatJPEG, persistence.FormatPNG} {
		if err := CanEncode(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	for f, ok := range map[persistence.Format]bool{persistence.FormatWebP: webp.Available, persistence.FormatAVIF: avif.Available} {
		err := CanEncode(f)
		if ok != (err == nil) {
			t.Errorf("%s: available %v, CanEncode %v", f, ok, err)
		}
		if ok {
			continue
		}
		if !errors.Is(err, ErrCannotEncode) || !strings.Contains(err.Error(), string(f)) {
			t.Errorf("%s: %v, want ErrCannotEncode naming it", f, err)
		}
		src, err := openFile(writeFile(t, t.TempDir(), "src", encodeAs(t, "png", Synthetic(32, 32, 1))))
		if err != nil {
			t.Fatal(err)
		}
		_, err = Process(src, func(persistence.Variant) (blob.Writer, error) { return &memWriter{}, nil },
			persistence.Options{Width: 10, Height: 10, Format: f}, Limits{})
		if !errors.Is(err, ErrCannotEncode) || !Permanent(err) {
			t.Errorf("Process to %s: %v, want a permanent ErrCannotEncode", f, err)
		}
	}
}

// TestWebPAndAVIFOutputs: a transparent PNG stays transparent in WebP
// (decoded back) and AVIF gets an alpha item; JPEG flattens it.
func TestWebPAndAVIFOutputs(t *testing.T) {
	if !webp.Available {
		t.Skip("built without cgo")
	}
	m := image.NewNRGBA(image.Rect(0, 0, 64, 64))
	for i := 0; i < len(m.Pix); i += 4 {
		m.Pix[i], m.Pix[i+3] = 200, uint8(i/4%64*4)
	}
	src := writeFile(t, t.TempDir(), "src", encodeAs(t, "png", m))
	for _, f := range []persistence.Format{persistence.FormatWebP, persistence.FormatAVIF} {
		t.Run(string(f), func(t *testing.T) {
			s, err := openFile(src)
			if err != nil {
				t.Fatal(err)
			}
			var w memWriter
			res, err := Process(s, func(persistence.Variant) (blob.Writer, error) { return &w, nil },
				persistence.Options{Width: 32, Height: 32, Format: f}, Limits{})
			if err != nil || res.Width != 32 || int64(w.Len()) != res.Bytes {
				t.Fatalf("%+v %v", res, err)
			}
			b := w.Bytes()
			switch f {
			case persistence.FormatWebP:
				if string(b[:4]) != "RIFF" || string(b[8:12]) != "WEBP" {
					t.Fatalf("not a WebP: % x", b[:16])
				}
				img, err := decode("webp", bytes.NewReader(b))
				if err != nil {
					t.Fatal(err)
				}
				if _, _, _, a := img.At(1, 1).RGBA(); a == 0xffff {
					t.Errorf("alpha lost: %v", img.At(1, 1))
				}
			case persistence.FormatAVIF:
				if string(b[4:12]) != "ftypavif" || !bytes.Contains(b, []byte("auxC")) {
					t.Errorf("not an AVIF with an alpha item: % x", b[:32])
				}
			}
		})
	}
}

// TestCodecNativeBound: libwebp's and libavif's memory is C's, which
// MemStats does not see; the process's peak resident set grows by less
// than codecNative while each encodes (the first encode of each, so
// libaom's tables count too). Linux: the peak is reset through
// /proc/self/clear_refs.
func TestCodecNativeBound(t *testing.T) {
	if !webp.Available || !avif.Available {
		t.Skip("no libwebp or libavif in this build")
	}
	if raceEnabled {
		t.Skip("the race detector's shadow memory is resident too")
	}
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Skipf("cannot reset the peak RSS: %v", err)
	}
	for _, sz := range [][2]int{{1600, 900}, {4096, 2304}, {100, 100}} {
		src := Synthetic(sz[0], sz[1], 5)
		img := &image.NRGBA{Pix: src.Pix, Stride: src.Stride, Rect: src.Rect} // opaque: the same bytes
		for _, f := range []persistence.Format{persistence.FormatWebP, persistence.FormatAVIF} {
			var out memWriter
			out.Grow(8 * sz[0] * sz[1] / 10) // the output's buffer is Go's: not what is measured
			runtime.GC()
			debug.FreeOSMemory()
			rss := procStatus(t, "VmRSS")
			if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
				t.Fatal(err)
			}
			if err := encodeCodec(&out, img, f, 85); err != nil {
				t.Fatal(err)
			}
			grew := procStatus(t, "VmHWM") - rss
			bound := codecNative(f, sz[0], sz[1])
			if grew > bound {
				t.Errorf("%s %dx%d: peak RSS grew by %.1f MiB, over the bound of %.1f MiB", f, sz[0], sz[1], float64(grew)/(1<<20), float64(bound)/(1<<20))
			}
			t.Logf("%s %dx%d: peak RSS grew %.1f MiB, bound %.1f MiB", f, sz[0], sz[1], float64(grew)/(1<<20), float64(bound)/(1<<20))
		}
	}
}

// TestLadder: each variant is resized from the smallest rung that still
// holds its target's samples over its crop, and comes out within 35 dB
// (TestQualityScaled's floor) of the same variant made alone, from a
// decode for it only. halvePlane averages 2×2, odd edges with
// themselves.
func TestLadder(t *testing.T) {
	dst := make([]uint8, 4)
	halvePlane(dst, 2, 2, []uint8{0, 4, 8, 10, 20, 30, 9, 9, 9}, 3, 3, 3)
	if want := []uint8{9, 19, 9, 9}; string(dst) != string(want) {
		t.Errorf("halvePlane = %v, want %v", dst, want)
	}
	r0, r1 := Synthetic(301, 1, 1).Pix, Synthetic(301, 1, 2).Pix
	got, want := make([]uint8, 600), make([]uint8, 600)
	halveRow(got, r0, r1, 600)
	halveRowGo(want, r0, r1, 600)
	if string(got) != string(want) {
		t.Error("halveRow differs from halveRowGo")
	}
	src := writeFile(t, t.TempDir(), "src", encodeAs(t, "jpeg", Synthetic(1920, 1080, 4)))
	f, err := openFile(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info := Info{Format: "jpeg", Width: 1920, Height: 1080}
	dec, err := decodeSourceFallback(f, info, fourVariants.Variants, true)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.release()
	l := newLadder(dec, true)
	defer l.release()
	for _, v := range fourVariants.Variants {
		p, err := makePlan(dec.w, dec.h, dec.orient, persistence.Single(v))
		if err != nil {
			t.Fatal(err)
		}
		img, scale := l.pick(p)
		if turbojpeg.Available {
			fits := func(s float64) bool {
				return float64(p.crop.Dx())*s >= float64(p.w) && float64(p.crop.Dy())*s >= float64(p.h)
			}
			if !fits(scale) || fits(scale/2) && img.Bounds().Dx() >= 4 {
				t.Errorf("%s: picked scale %v for %dx%d of a %v crop", v.Name, scale, p.w, p.h, p.crop.Size())
			}
		}
		got := resample(img, p, scale)
		alone, err := decodeSource(f, info, persistence.Single(v))
		if err != nil {
			t.Fatal(err)
		}
		want := resample(alone.img, p, alone.scale)
		alone.release()
		if db := psnr(t, got, want); db < 35 {
			t.Errorf("%s from the ladder: %.1f dB from the variant made alone", v.Name, db)
		} else {
			t.Logf("%s: from %v at scale %.3f, %.1f dB from the variant made alone", v.Name, img.Bounds().Size(), scale, db)
		}
	}
}

// TestRebuildSameBytes: Rebuild makes each variant's bytes as Process
// made them, the view that Process halves from the large output's
// planes (outPlanes) included, as JPEG and, where the build has it, as
// WebP.
func TestRebuildSameBytes(t *testing.T) {
	src := writeFile(t, t.TempDir(), "src", encodeAs(t, "jpeg", Synthetic(1920, 1080, 3)))
	formats := []persistence.Format{persistence.FormatJPEG}
	if webp.Available {
		formats = append(formats, persistence.FormatWebP)
	}
	for _, format := range formats {
		opts := persistence.Options{Variants: append([]persistence.Variant(nil), fourVariants.Variants...)}
		for i := range opts.Variants {
			opts.Variants[i].Format = format
		}
		made := map[string]*memWriter{}
		f, err := openFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Process(f, func(v persistence.Variant) (blob.Writer, error) {
			made[v.Name] = &memWriter{}
			return made[v.Name], nil
		}, opts, Limits{}); err != nil {
			t.Fatal(err)
		}
		for _, v := range opts.Variants {
			f, err := openFile(src)
			if err != nil {
				t.Fatal(err)
			}
			var again *memWriter
			res, err := Rebuild(f, func(persistence.Variant) (blob.Writer, error) {
				again = &memWriter{}
				return again, nil
			}, opts, v.Name, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again.Bytes(), made[v.Name].Bytes()) || res.Bytes != int64(again.Len()) {
				t.Errorf("%s %s: rebuilt %d bytes (result %d), Process wrote %d, or other ones", format, v.Name, again.Len(), res.Bytes, made[v.Name].Len())
			}
		}
	}
}
