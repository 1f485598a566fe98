package resize

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// pngHeader is a PNG signature and an IHDR chunk declaring w×h 8-bit RGB,
// with a correct CRC, and nothing else: what a decompression bomb's first
// bytes look like.
func pngHeader(w, h uint32) []byte {
	data := binary.BigEndian.AppendUint32(nil, w)
	data = binary.BigEndian.AppendUint32(data, h)
	data = append(data, 8, 2, 0, 0, 0) // depth, colour type RGB, compression, filter, interlace
	chunk := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	chunk = append(chunk, "IHDR"...)
	chunk = append(chunk, data...)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
	return append([]byte("\x89PNG\r\n\x1a\n"), chunk...)
}

func TestProbeFormats(t *testing.T) {
	dir := t.TempDir()
	img := Synthetic(37, 21, 7)
	for _, f := range []string{"jpeg", "png", "gif", "webp", "bmp", "tiff"} {
		t.Run(f, func(t *testing.T) {
			w, h := 37, 21
			if f == "webp" {
				w, h = 1, 1
			}
			// No extension: the bytes, not the name, decide.
			path := writeFile(t, dir, "upload-"+f, encodeAs(t, f, img))
			info, err := probeFile(path, int64(w*h))
			if err != nil {
				t.Fatal(err)
			}
			if want := (Info{Format: f, Width: w, Height: h}); info != want {
				t.Errorf("Probe = %+v, want %+v", info, want)
			}
			if w*h == 1 {
				return // a limit of 0 means none
			}
			if _, err := probeFile(path, int64(w*h-1)); !errors.Is(err, ErrTooManyPixels) {
				t.Errorf("one pixel over the limit: err = %v, want ErrTooManyPixels", err)
			}
		})
	}
	t.Run("lossy webp", func(t *testing.T) {
		info, err := probeFile(writeFile(t, dir, "lossy", webpLossy), 0)
		if err != nil || info != (Info{"webp", 1, 1}) {
			t.Errorf("Probe = %+v, %v", info, err)
		}
	})
}

func TestProbeRejects(t *testing.T) {
	dir := t.TempDir()
	j := encodeAs(t, "jpeg", Synthetic(40, 30, 1))
	cases := []struct {
		name string
		data []byte
	}{
		{"text", []byte("name,width,height\ncat.jpg,100,100\n")},
		{"empty", nil},
		{"bmp magic on text", []byte("BMW owners' manual, chapter 1")},
		{"png signature only", []byte("\x89PNG\r\n\x1a\n")},
		{"jpeg without a frame header", j[:20]},
		{"png declaring 0x10", pngHeader(0, 10)},
		{"png with a bad crc", func() []byte { b := pngHeader(10, 10); b[len(b)-1] ^= 1; return b }()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := probeFile(writeFile(t, dir, "f", c.data), 0)
			if !errors.Is(err, ErrUnsupported) || !Permanent(err) {
				t.Errorf("Probe err = %v, want a permanent ErrUnsupported", err)
			}
		})
	}
}

func TestProbeBomb(t *testing.T) {
	path := writeFile(t, t.TempDir(), "bomb.png", pngHeader(100000, 100000))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := probeFile(path, 40_000_000)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooManyPixels) || !Permanent(err) {
		t.Fatalf("err = %v, want a permanent ErrTooManyPixels", err)
	}
	// 10^10 pixels would be 30 GB; the header check must cost next to nothing.
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("Probe allocated %d bytes", n)
	}
	info, err := probeFile(path, 0)
	if err != nil || info.Width != 100000 || info.Height != 100000 {
		t.Errorf("no limit: Probe = %+v, %v", info, err)
	}
}

// TestProbeReadError: a source that cannot be read (a disk's I/O error, a
// remote store gone) is a transient error, never ErrUnsupported.
func TestProbeReadError(t *testing.T) {
	for _, at := range []int64{0, 20} { // the magic number, the header after it
		src := &brokenSource{data: encodeAs(t, "png", Synthetic(64, 64, 1)), at: at}
		_, err := Probe(src, 0)
		if !errors.Is(err, errBroken) || Permanent(err) || errors.Is(err, ErrUnsupported) {
			t.Errorf("read fails at %d: err = %v, want a transient read error", at, err)
		}
	}
}

var errBroken = errors.New("disk on fire")

// brokenSource reads data but fails every read that reaches offset at.
type brokenSource struct {
	data []byte
	at   int64
}

func (s *brokenSource) Size() int64 { return int64(len(s.data)) }

func (s *brokenSource) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > s.at {
		return 0, errBroken
	}
	return copy(p, s.data[off:]), nil
}

func FuzzProbe(f *testing.F) {
	for _, c := range sniffCases {
		f.Add(c.head)
	}
	img := Synthetic(5, 3, 2)
	for _, format := range []string{"jpeg", "png", "gif", "bmp", "tiff"} {
		f.Add(encodeAs(f, format, img))
	}
	f.Add(webpLossless)
	f.Add(webpLossy)
	f.Add(pngHeader(100000, 100000))
	const limit = 1 << 20
	// One file per fuzzing process, rewritten each time: a process runs its
	// inputs one after another, and a fresh TempDir per input costs 50x more.
	path := filepath.Join(f.TempDir(), "f")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		info, err := probeFile(path, limit)
		if err != nil {
			if !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrTooManyPixels) {
				t.Fatalf("a readable file gave %v: only ErrUnsupported or ErrTooManyPixels may come", err)
			}
			if !Permanent(err) {
				t.Fatalf("%v is not permanent", err)
			}
			return
		}
		if format, _ := Sniff(data); info.Format != format {
			t.Fatalf("Probe says %q, Sniff %q", info.Format, format)
		}
		if info.Width < 1 || info.Height < 1 || int64(info.Width)*int64(info.Height) > limit {
			t.Fatalf("Probe passed %dx%d", info.Width, info.Height)
		}
	})
}
