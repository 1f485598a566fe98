package resize

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/blob"
)

func options(w, h int, fit persistence.Fit, f persistence.Format) persistence.Options {
	return persistence.Options{Width: w, Height: h, Fit: fit, Format: f, Quality: 85}
}

// processOK runs Process and checks what every success must hold: the
// reported size and byte count are the file's, and the file decodes as the
// asked format.
func processOK(t *testing.T, src string, opts persistence.Options, lim Limits) (image.Image, Result) {
	t.Helper()
	dst := filepath.Join(filepath.Dir(src), "out")
	res, err := processFile(src, dst, opts, lim)
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	st, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != res.Bytes {
		t.Errorf("Result.Bytes = %d, file has %d", res.Bytes, st.Size())
	}
	if raw, err := os.ReadFile(dst); err != nil || crc32.Checksum(raw, crc32.MakeTable(crc32.Castagnoli)) != res.Sum {
		t.Errorf("Result.Sum = %08x, not the file's CRC-32C (%v)", res.Sum, err)
	}
	img, format := decodeFile(t, dst)
	if format != string(opts.Format) {
		t.Errorf("output is %s, want %s", format, opts.Format)
	}
	if b := img.Bounds(); b.Dx() != res.Width || b.Dy() != res.Height {
		t.Errorf("Result says %dx%d, file is %v", res.Width, res.Height, b.Size())
	}
	return img, res
}

func TestProcessFits(t *testing.T) {
	cases := []struct {
		name       string
		sw, sh     int
		opts       persistence.Options
		wantW, wnH int
	}{
		{"cover landscape", 800, 600, options(100, 100, persistence.FitCover, persistence.FormatJPEG), 100, 100},
		{"cover portrait", 600, 800, options(100, 100, persistence.FitCover, persistence.FormatPNG), 100, 100},
		{"cover wide box", 600, 800, options(160, 90, persistence.FitCover, persistence.FormatJPEG), 160, 90},
		{"contain landscape", 800, 600, options(100, 100, persistence.FitContain, persistence.FormatJPEG), 100, 75},
		{"contain portrait", 600, 800, options(100, 100, persistence.FitContain, persistence.FormatPNG), 75, 100},
		{"contain enlarges", 40, 30, options(200, 200, persistence.FitContain, persistence.FormatJPEG), 200, 150},
		{"fill landscape", 800, 600, options(50, 120, persistence.FitFill, persistence.FormatJPEG), 50, 120},
		{"fill portrait", 600, 800, options(120, 50, persistence.FitFill, persistence.FormatPNG), 120, 50},
		{"cover enlarges", 30, 40, options(100, 100, persistence.FitCover, persistence.FormatPNG), 100, 100},
	}
	sources := map[string][]byte{} // made once per format and size: -race makes encoding slow
	for _, in := range []string{"jpeg", "png"} {
		for _, c := range cases {
			t.Run(in+"/"+c.name, func(t *testing.T) {
				key := fmt.Sprint(in, c.sw, c.sh)
				if sources[key] == nil {
					sources[key] = encodeAs(t, in, Synthetic(c.sw, c.sh, 1))
				}
				src := writeFile(t, t.TempDir(), "src", sources[key])
				_, res := processOK(t, src, c.opts, Limits{})
				if res.Width != c.wantW || res.Height != c.wnH {
					t.Errorf("output %dx%d, want %dx%d", res.Width, res.Height, c.wantW, c.wnH)
				}
			})
		}
	}
}

// TestProcessFormats runs every input format through the pipeline, large
// enough (except the 1x1 WebP) that the pre-shrink is taken.
func TestProcessFormats(t *testing.T) {
	img := Synthetic(300, 200, 4)
	for _, f := range []string{"jpeg", "png", "gif", "webp", "bmp", "tiff"} {
		t.Run(f, func(t *testing.T) {
			src := writeFile(t, t.TempDir(), "src", encodeAs(t, f, img))
			_, res := processOK(t, src, options(30, 30, persistence.FitCover, persistence.FormatPNG), Limits{})
			if res.Width != 30 || res.Height != 30 {
				t.Errorf("output %dx%d", res.Width, res.Height)
			}
		})
	}
	t.Run("lossy webp", func(t *testing.T) {
		src := writeFile(t, t.TempDir(), "src", webpLossy)
		processOK(t, src, options(10, 10, persistence.FitCover, persistence.FormatJPEG), Limits{})
	})
}

func TestProcessGrayStaysGray(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 400, 300))
	for i := range g.Pix {
		g.Pix[i] = uint8(i % 251)
	}
	src := writeFile(t, t.TempDir(), "src", encodeAs(t, "jpeg", g))
	out, _ := processOK(t, src, options(50, 50, persistence.FitCover, persistence.FormatJPEG), Limits{})
	if _, ok := out.(*image.Gray); !ok {
		t.Errorf("gray source gave a %T", out)
	}
}

func TestProcessFlattensAlphaForJPEG(t *testing.T) {
	m := image.NewNRGBA(image.Rect(0, 0, 64, 64)) // fully transparent
	src := writeFile(t, t.TempDir(), "src", encodeAs(t, "png", m))
	out, _ := processOK(t, src, options(16, 16, persistence.FitCover, persistence.FormatJPEG), Limits{})
	r, g, b, _ := out.At(8, 8).RGBA()
	if r>>8 < 250 || g>>8 < 250 || b>>8 < 250 {
		t.Errorf("transparent pixel became %v, want white", out.At(8, 8))
	}
}

func isRed(c color.Color) bool {
	r, g, b, _ := c.RGBA()
	return r>>8 > 200 && g>>8 < 60 && b>>8 < 60
}

func isBlue(c color.Color) bool {
	r, g, b, _ := c.RGBA()
	return r>>8 < 60 && g>>8 < 60 && b>>8 > 200
}

// TestProcessExifOrientation: stored 200x100, left half red, right half
// blue; the Exif tag says how it is shown.
func TestProcessExifOrientation(t *testing.T) {
	j := encodeAs(t, "jpeg", halves(200, 100))
	cases := []struct {
		o             uint16
		w, h          int
		first, second func(color.Color) bool // top/left part, bottom/right part
	}{
		{1, 100, 50, isRed, isBlue}, // left red, right blue
		{3, 100, 50, isBlue, isRed}, // upside down: left blue
		{6, 50, 100, isRed, isBlue}, // quarter turn clockwise: red on top
		{8, 50, 100, isBlue, isRed}, // counter-clockwise: blue on top
		{5, 50, 100, isRed, isBlue}, // transposed: red on top
		{7, 50, 100, isBlue, isRed}, // transversed: blue on top
		{2, 100, 50, isBlue, isRed}, // mirrored
	}
	for _, c := range cases {
		t.Run(string(rune('0'+c.o)), func(t *testing.T) {
			src := writeFile(t, t.TempDir(), "src", withSegments(j, jfifSegment(), exifSegment(binary.LittleEndian, c.o)))
			out, res := processOK(t, src, options(100, 100, persistence.FitContain, persistence.FormatPNG), Limits{})
			if res.Width != c.w || res.Height != c.h {
				t.Fatalf("output %dx%d, want %dx%d", res.Width, res.Height, c.w, c.h)
			}
			var a, b color.Color
			if c.w > c.h {
				a, b = out.At(c.w/4, c.h/2), out.At(3*c.w/4, c.h/2)
			} else {
				a, b = out.At(c.w/2, c.h/4), out.At(c.w/2, 3*c.h/4)
			}
			if !c.first(a) || !c.second(b) {
				t.Errorf("orientation %d: first part %v, second part %v", c.o, a, b)
			}
		})
	}
	// Cover in a wide box fills it in the shown orientation: the shown
	// image is portrait, so the crop keeps its middle rows, where red
	// (top) meets blue (bottom).
	src := writeFile(t, t.TempDir(), "src", withSegments(j, exifSegment(binary.BigEndian, 6)))
	out, res := processOK(t, src, options(100, 20, persistence.FitCover, persistence.FormatPNG), Limits{})
	if res.Width != 100 || res.Height != 20 || !isRed(out.At(50, 2)) || !isBlue(out.At(50, 17)) {
		t.Errorf("cover 100x20 of a rotated image: %dx%d, top %v, bottom %v", res.Width, res.Height, out.At(50, 2), out.At(50, 17))
	}
}

func TestProcessErrors(t *testing.T) {
	dir := t.TempDir()
	j := encodeAs(t, "jpeg", Synthetic(300, 200, 5))
	opts := persistence.DefaultOptions()
	cases := []struct {
		name      string
		src       string
		opts      persistence.Options
		lim       Limits
		permanent bool
		is        error
		text      string
	}{
		{name: "truncated jpeg", src: writeFile(t, dir, "trunc", j[:len(j)/2]), opts: opts, permanent: true, text: "decode jpeg: "},
		{name: "jpeg cut in its scan header", src: writeFile(t, dir, "cut", j[:bytes.Index(j, []byte{0xff, 0xda})+5]), opts: opts, permanent: true, text: "decode jpeg: unexpected EOF"},
		{name: "not an image", src: writeFile(t, dir, "txt", []byte("just some text, long enough")), opts: opts, permanent: true, is: ErrUnsupported},
		{name: "too many pixels", src: writeFile(t, dir, "big", j), opts: opts, lim: Limits{MaxPixels: 300*200 - 1}, permanent: true, is: ErrTooManyPixels},
		{name: "missing source", src: filepath.Join(dir, "gone"), opts: opts, permanent: false, is: os.ErrNotExist},
		{name: "unknown format", src: writeFile(t, dir, "ok", j), opts: persistence.Options{Width: 10, Height: 10, Format: "heic"}, permanent: true},
		{name: "empty box", src: writeFile(t, dir, "ok2", j), opts: persistence.Options{Width: 0, Height: 10}, permanent: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			dst := filepath.Join(out, "dst")
			_, err := processFile(c.src, dst, c.opts, c.lim)
			if err == nil {
				t.Fatal("Process succeeded")
			}
			if Permanent(err) != c.permanent {
				t.Errorf("Permanent(%v) = %v", err, !c.permanent)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("err = %v, want %v", err, c.is)
			}
			if c.text != "" && !strings.Contains(err.Error(), c.text) {
				t.Errorf("err = %q, want it to say %q", err, c.text)
			}
			if names := listDir(t, out); len(names) != 0 {
				t.Errorf("failed Process left %v", names)
			}
		})
	}
	// The store's failures are the server's, worth a retry; a result
	// that failed is aborted, never committed, and the source is closed.
	for _, c := range []struct {
		name   string
		create error // Output's error
		write  error // the Writer's Write error
	}{
		{name: "result not created", create: blob.ErrInsufficientStorage},
		{name: "result not written", write: blob.ErrInsufficientStorage},
		{name: "store unreachable", write: blob.ErrUnavailable},
	} {
		t.Run(c.name, func(t *testing.T) {
			src, err := openFile(writeFile(t, dir, "ok3", j))
			if err != nil {
				t.Fatal(err)
			}
			w := &failWriter{err: c.write}
			out := func(persistence.Variant) (blob.Writer, error) {
				if c.create != nil {
					return nil, fmt.Errorf("create: %w", c.create)
				}
				return w, nil
			}
			_, err = Process(src, out, opts, Limits{})
			want := c.create
			if want == nil {
				want = c.write
			}
			if !errors.Is(err, want) || Permanent(err) {
				t.Errorf("err = %v, want a transient %v", err, want)
			}
			if c.create == nil && (!w.aborted || w.committed) {
				t.Errorf("aborted %v, committed %v: want aborted only", w.aborted, w.committed)
			}
			if _, err := src.Stat(); err == nil {
				t.Error("the source is still open")
			}
		})
	}
}

// failWriter is a blob.Writer whose every Write fails with err.
type failWriter struct {
	err                error
	aborted, committed bool
}

func (w *failWriter) Write(p []byte) (int, error) { return 0, fmt.Errorf("write: %w", w.err) }
func (w *failWriter) Abort() error                { w.aborted = true; return nil }
func (w *failWriter) Commit(context.Context) (blob.Info, error) {
	w.committed = true
	return blob.Info{}, nil
}

func TestProcessAtomic(t *testing.T) {
	dir := t.TempDir()
	src := writeFile(t, dir, "src", encodeAs(t, "jpeg", Synthetic(320, 240, 6)))
	dst := filepath.Join(dir, "dst")
	if err := os.WriteFile(dst, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := processFile(src, dst, persistence.DefaultOptions(), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dst)
	if err != nil || int64(len(b)) != res.Bytes || !bytes.HasPrefix(b, []byte("\xff\xd8")) {
		t.Errorf("dst is %d bytes (%v), want the %d-byte JPEG", len(b), err, res.Bytes)
	}
	if names := listDir(t, dir); !slices.Equal(names, []string{"dst", "src"}) {
		t.Errorf("dir holds %v, want only dst and src", names)
	}
}

func TestProcessPanicIsPermanent(t *testing.T) {
	for _, timeout := range []time.Duration{0, time.Hour} {
		t.Run(timeout.String(), func(t *testing.T) {
			dir := t.TempDir()
			src := writeFile(t, dir, "src", encodeAs(t, "png", Synthetic(64, 64, 1)))
			lim := Limits{Timeout: timeout, hooks: &hooks{decoded: func() { panic("decoder bug") }}}
			_, err := processFile(src, filepath.Join(dir, "dst"), persistence.DefaultOptions(), lim)
			var pe *PanicError
			if !errors.As(err, &pe) || !Permanent(err) || pe.Value != "decoder bug" || len(pe.Stack) == 0 {
				t.Fatalf("err = %v, want a permanent *PanicError with a stack", err)
			}
			if names := listDir(t, dir); !slices.Equal(names, []string{"src"}) {
				t.Errorf("dir holds %v", names)
			}
		})
	}
}

// TestProcessTimeoutBigImage: a tiny timeout on a big image. The work
// cannot finish in a microsecond; the test then waits for the abandoned
// worker to exit (no sleeping) and checks it left nothing.
func TestProcessTimeoutBigImage(t *testing.T) {
	dir := t.TempDir()
	src := writeFile(t, dir, "src", encodeAs(t, "jpeg", Synthetic(2000, 1500, 8)))
	dst := filepath.Join(dir, "dst")
	exited := make(chan struct{})
	_, err := processFile(src, dst, persistence.DefaultOptions(), Limits{Timeout: time.Microsecond, hooks: &hooks{exited: exited}})
	if !errors.Is(err, ErrTimeout) || Permanent(err) {
		t.Fatalf("err = %v, want a transient ErrTimeout", err)
	}
	<-exited
	if names := listDir(t, dir); !slices.Equal(names, []string{"src"}) {
		t.Errorf("after the abandoned worker: dir holds %v", names)
	}
}

// TestProcessTimeoutGuardsRename lets the timeout strike while the worker
// holds a durable temp file, just before its commit: the worker must lose
// the commit, remove the temp file and never rename.
func TestProcessTimeoutGuardsRename(t *testing.T) {
	dir := t.TempDir()
	src := writeFile(t, dir, "src", encodeAs(t, "jpeg", Synthetic(200, 150, 9)))
	dst := filepath.Join(dir, "dst")
	reached, release := make(chan struct{}), make(chan struct{})
	h := &hooks{
		written: func() { close(reached); <-release },
		exited:  make(chan struct{}),
		expire:  make(chan struct{}),
	}
	go func() { <-reached; close(h.expire) }()
	_, err := processFile(src, dst, persistence.DefaultOptions(), Limits{Timeout: time.Hour, hooks: h})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	names := listDir(t, dir)
	if len(names) != 2 || !strings.HasPrefix(names[0], ".dst.tmp-") {
		t.Fatalf("while the worker waits: dir holds %v, want its temp file and src", names)
	}
	close(release)
	<-h.exited
	if names := listDir(t, dir); !slices.Equal(names, []string{"src"}) {
		t.Errorf("after the abandoned worker: dir holds %v", names)
	}
}

// TestProcessTimeoutNotHit: a generous timeout changes nothing.
func TestProcessTimeoutNotHit(t *testing.T) {
	src := writeFile(t, t.TempDir(), "src", encodeAs(t, "jpeg", Synthetic(200, 150, 9)))
	processOK(t, src, persistence.DefaultOptions(), Limits{Timeout: time.Hour})
}

// TestNice: with Limits.Nice the work runs on a thread of that nice value
// (Linux), the caller's thread keeps its own, and the result is the same.
func TestNice(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("thread priorities are Linux's")
	}
	const nice = 7
	got := make(chan int, 1)
	onWorker(nice, func() {
		n, err := threadNice()
		if err != nil {
			t.Error(err)
		}
		got <- n
	})
	if n := <-got; n != nice {
		t.Errorf("worker thread nice %d, want %d", n, nice)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if n, err := threadNice(); err != nil || n == nice {
		t.Errorf("caller's thread nice %d (%v): the worker's priority leaked", n, err)
	}
	src := writeFile(t, t.TempDir(), "src", encodeAs(t, "jpeg", Synthetic(200, 150, 9)))
	for _, timeout := range []time.Duration{0, time.Hour} {
		seen := make(chan int, 1)
		lim := Limits{Nice: nice, Timeout: timeout, hooks: &hooks{decoded: func() {
			n, _ := threadNice() // on the thread that decodes
			seen <- n
		}}}
		if _, res := processOK(t, src, persistence.DefaultOptions(), lim); res.Width != 100 || res.Height != 100 {
			t.Errorf("timeout %v: result %+v", timeout, res)
		}
		if n := <-seen; n != nice {
			t.Errorf("timeout %v: decoded on a thread of nice %d, want %d", timeout, n, nice)
		}
	}
}
