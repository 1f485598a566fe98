package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/image/tiff"

	"github.com/backlot/backlot/actors/resize"
	"github.com/backlot/backlot/bench"
)

// BenchmarkPeakRSS starts the real backlot binary, uploads a hostile mix
// of valid inputs within the default limits and reports the process's
// peak resident set (VmHWM) once every image is finished: two 16-bit RGBA
// PNGs at 7000x7000 (49 MP, 392 MB decoded each, one of them also asked
// for a 4096x4096 PNG), an 8-bit RGBA one and a paletted one at the same
// size, a progressive 4:2:0, a progressive 4:4:4, a YCCK (CMYK) and a
// progressive YCCK JPEG at 7000x7000 (made by libjpeg-turbo: needs cgo,
// left out without it), and 20 ordinary 1600x1200 photos, all uploaded at
// once in separate batches.
//
//	go test -run '^$' -bench PeakRSS -benchtime 1x -timeout 60m ./cmd/backlot
//
// Sub-benchmarks: the mix with default flags (--workers: the number of
// CPUs); with --resize-timeout 300ms, where every big image times out and
// is retried; with --workers 16; and, alone with default flags, a 16-bit
// RGBA TIFF at 7000x7000 in one deflated strip (x/image/tiff's layout),
// the one input whose decoder needs most of a gigabyte by itself. It
// reports peak-MiB (VmHWM) and seconds until the last batch's done; never
// an assertion: the figures are in the README.
// BACKLOT_RSS_FLAGS adds flags to every run (e.g. --max-decode-memory);
// BACKLOT_RSS_ONLY keeps the batches whose name contains it (e.g. ycck),
// BACKLOT_RSS_SKIP drops those whose name does (e.g. tiff);
// BACKLOT_RSS_LOG names a file for the process's stderr (with
// GODEBUG=gctrace=1, say).
func BenchmarkPeakRSS(b *testing.B) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		b.Skip("needs /proc (Linux)")
	}
	bin := backlotBinary(b)
	mix, tif := hostileMix(b)
	extra := strings.Fields(os.Getenv("BACKLOT_RSS_FLAGS"))
	for _, c := range []struct {
		name  string
		mix   []rssBatch
		flags []string
	}{
		{"default", mix, nil},
		{"timeout300ms", mix, []string{"--resize-timeout", "300ms"}},
		{"workers16", mix, []string{"--workers", "16"}},
		{"tiff16-alone", tif, nil},
	} {
		if len(c.mix) == 0 {
			continue
		}
		b.Run(c.name, func(b *testing.B) {
			var peak int64
			var took time.Duration
			for range b.N {
				hwm, d := peakRSSRun(b, bin, c.mix, append(append([]string(nil), c.flags...), extra...))
				peak = max(peak, hwm)
				took = max(took, d)
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
			b.ReportMetric(took.Seconds(), "s-to-done")
		})
	}
}

// TestMaxDecodeMemory: --max-decode-memory (BACKLOT_MAX_DECODE_MEMORY) is
// a byte size, positive, by default resize.DefaultMaxDecodeMemory, and
// the node's resizers get a budget of that many bytes and --workers
// decode slots.
func TestMaxDecodeMemory(t *testing.T) {
	if d := DefaultConfig(); d.MaxDecodeMemory != resize.DefaultMaxDecodeMemory {
		t.Errorf("default %d, want %d", d.MaxDecodeMemory, resize.DefaultMaxDecodeMemory)
	}
	for _, c := range []struct {
		args []string
		env  string
		want int64
		err  string
	}{
		{args: []string{"--max-decode-memory", "512MiB"}, want: 512 << 20},
		{env: "1GiB", want: 1 << 30},
		{args: []string{"--max-decode-memory", "2GB"}, env: "1GiB", want: 2e9},
		{args: []string{"--max-decode-memory", "0"}, err: "-max-decode-memory must be positive"},
		{env: "lots", err: "BACKLOT_MAX_DECODE_MEMORY"},
	} {
		cfg := DefaultConfig()
		err := cfg.Parse(c.args, func(k string) string {
			if k == "BACKLOT_MAX_DECODE_MEMORY" {
				return c.env
			}
			return ""
		})
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%v %q: %v, want %q", c.args, c.env, err, c.err)
		case c.err == "" && (err != nil || cfg.MaxDecodeMemory != c.want):
			t.Errorf("%v %q: %d (%v), want %d", c.args, c.env, cfg.MaxDecodeMemory, err, c.want)
		}
	}
	n := startNode(t, t.TempDir(), func(c *Config) { c.MaxDecodeMemory = 100 << 20; c.Workers = 3 })
	if b := n.System().Budget(); b.Bytes() != 100<<20 || b.Slots() != 3 {
		t.Errorf("the resizers' budget: %d bytes, %d slots; want %d and 3", b.Bytes(), b.Slots(), 100<<20)
	}
}

// rssBatch is one batch of the mix: its files and form fields.
type rssBatch struct {
	name  string
	files []part
}

// hostileMix makes the inputs once: large PNGs in Go, large JPEGs through
// actors/resize/testdata/genbig.go (cgo); and the TIFF, apart.
func hostileMix(b *testing.B) (mix, tif []rssBatch) {
	b.Helper()
	const w, h = 7000, 7000
	add := func(name string, data []byte, fields ...part) {
		mix = append(mix, rssBatch{name, append([]part{filePart(name, data)}, fields...)})
	}
	png16 := pngOf(b, gradient16(w, h))
	add("rgba16.png", png16)
	add("rgba16-big.png", png16, fieldPart("width", "4096"), fieldPart("height", "4096"),
		fieldPart("fit", "contain"), fieldPart("format", "png"))
	add("rgba8.png", pngOf(b, gradient8(w, h)))
	var t bytes.Buffer // x/image/tiff writes one strip: inflated whole by its decoder
	if err := tiff.Encode(&t, gradient16(w, h), &tiff.Options{Compression: tiff.Deflate}); err != nil {
		b.Fatal(err)
	}
	tif = []rssBatch{{"rgba16.tiff", []part{filePart("rgba16.tiff", t.Bytes())}}}
	add("palette.png", pngOf(b, paletted(w, h)))

	dir := b.TempDir()
	cmd := exec.Command("go", "run", "../../actors/resize/testdata/genbig.go", "-w", strconv.Itoa(w), "-h", strconv.Itoa(h), "-out", dir)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if out, err := cmd.Output(); err != nil {
		b.Logf("no large JPEGs (genbig needs cgo and libturbojpeg0-dev): %v\n%s", err, errOut.Bytes())
	} else {
		for _, n := range strings.Fields(string(out)) {
			data, err := os.ReadFile(filepath.Join(dir, n))
			if err != nil {
				b.Fatal(err)
			}
			add(n, data)
		}
	}
	var photos []part
	for i := range 20 {
		photos = append(photos, filePart(fmt.Sprintf("p%d.jpg", i), jpegBytes(b, 1600, 1200, uint64(i))))
	}
	mix = append(mix, rssBatch{"photos", photos})
	only, skip := os.Getenv("BACKLOT_RSS_ONLY"), os.Getenv("BACKLOT_RSS_SKIP")
	var some []rssBatch
	for _, m := range mix {
		if strings.Contains(m.name, only) && (skip == "" || !strings.Contains(m.name, skip)) {
			some = append(some, m)
		}
	}
	mix = some
	for _, m := range append(mix, tif...) {
		var n int
		for _, p := range m.files {
			n += len(p.data)
		}
		b.Logf("batch %s: %d bytes", m.name, n)
	}
	return mix, tif
}

// peakRSSRun starts the binary with flags, uploads every batch of mix at
// once, waits for each batch's done on its event stream and returns the
// process's VmHWM and the time from the first upload to the last done.
func peakRSSRun(b *testing.B, bin string, mix []rssBatch, flags []string) (int64, time.Duration) {
	b.Helper()
	dir := b.TempDir()
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data", dir, "--log-format", "json",
		"--retry-backoff", "100ms", "--retention", "0"}, flags...)
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	addr := make(chan string, 1)
	var logMu sync.Mutex
	var tail []string // the last log lines, for a failure
	var logTo io.Writer = io.Discard
	if name := os.Getenv("BACKLOT_RSS_LOG"); name != "" { // the process's stderr, for a closer look
		f, err := os.Create(name)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		logTo = f
	}
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			logMu.Lock()
			fmt.Fprintf(logTo, "%s %s\n", time.Now().Format("15:04:05.000"), sc.Bytes())
			logMu.Unlock()
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "backlot listening" {
				addr <- line.Addr
			}
			logMu.Lock()
			tail = append(tail[max(0, len(tail)-20):], sc.Text())
			logMu.Unlock()
		}
		_, _ = io.Copy(io.Discard, stderr)
		_ = cmd.Wait()
	}()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	}()
	var url string
	select {
	case a := <-addr:
		url = "http://" + a
	case <-exited:
		b.Fatalf("backlot exited before listening: %s", strings.Join(tail, "\n"))
	case <-time.After(30 * time.Second):
		b.Fatal("backlot did not listen within 30s")
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if logTo != io.Discard { // the resident set every 20 ms, beside the log
		go func() {
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)); err == nil {
					for _, l := range strings.Split(string(raw), "\n") {
						if strings.HasPrefix(l, "VmRSS:") {
							logMu.Lock()
							fmt.Fprintf(logTo, "%s rss %s\n", time.Now().Format("15:04:05.000"), strings.Fields(l)[1])
							logMu.Unlock()
						}
					}
				}
			}
		}()
	}
	start := time.Now()
	streams := make([]*stream, len(mix))
	results := make([]string, len(mix))
	for i, m := range mix {
		ct, body := multipartBody(b, m.files...)
		resp := post(b, url+"/api/images", ct, body)
		if resp.StatusCode == 413 { // more than this build may decode at once: refused at upload
			var e apiErr
			decodeJSON(b, resp, &e)
			results[i] = fmt.Sprintf("%s: refused, %s: %s", m.name, e.Code, e.Error)
			continue
		}
		var r uploadReply
		decodeJSON(b, resp, &r)
		if resp.StatusCode != 202 {
			b.Fatalf("upload %s: %d", m.name, resp.StatusCode)
		}
		streams[i] = openSSE(b, ctx, url+r.Events, "")
	}
	var wg sync.WaitGroup
	for i, s := range streams {
		if s == nil {
			continue
		}
		wg.Add(1)
		go func() { // no Fatal off the benchmark's goroutine: the verdict goes to results
			defer wg.Done()
			var last string
			for ev := range s.events {
				if ev.Name == "done" {
					last = ev.Data
				}
			}
			results[i] = fmt.Sprintf("%s: done %s", mix[i].name, last)
			if last == "" {
				results[i] = fmt.Sprintf("%s: stream ended without done (%v)", mix[i].name, s.err)
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	// An attempt that timed out may still be decoding after its image
	// failed: the peak is read once the process has used no CPU for a
	// second.
	waitIdle(b, cmd.Process.Pid)
	for _, r := range results {
		b.Log(r)
	}
	hwm := procStatusBytes(b, cmd.Process.Pid, "VmHWM")
	b.Logf("flags %q: VmHWM %.0f MiB, %.1fs to the last done", flags, float64(hwm)/(1<<20), took.Seconds())
	return hwm, took
}

// waitIdle waits (up to 10 minutes) until process pid has used no CPU
// time for a second.
func waitIdle(b *testing.B, pid int) {
	b.Helper()
	cpu := func() time.Duration {
		d, err := bench.CPUTime(pid)
		if err != nil {
			b.Fatal(err)
		}
		return d
	}
	deadline := time.Now().Add(10 * time.Minute)
	last, quiet := cpu(), 0
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for quiet < 5 && time.Now().Before(deadline) {
		<-tick.C
		if c := cpu(); c == last {
			quiet++
		} else {
			last, quiet = c, 0
		}
	}
}

// procStatusBytes reads a "kB" field of /proc/pid/status, in bytes.
func procStatusBytes(b *testing.B, pid int, field string) int64 {
	b.Helper()
	n, err := bench.StatusBytes(pid, field)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

func pngOf(b *testing.B, img image.Image) []byte {
	b.Helper()
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// gradient16 is a 16-bit RGBA image with translucent pixels: PNG colour
// type 6 at depth 16, decoded by image/png to an *image.NRGBA64.
func gradient16(w, h int) *image.NRGBA64 {
	m := image.NewNRGBA64(image.Rect(0, 0, w, h))
	for y := range h {
		row := m.Pix[y*m.Stride : y*m.Stride+8*w]
		for x := range w {
			// Steps of 16 pixels: long runs that deflate well in PNG and TIFF alike.
			r, g, a := uint16(x/16*16*65535/w), uint16(y*65535/h), uint16(65535-(x/16*16+y)*20000/(w+h))
			p := row[8*x : 8*x+8 : 8*x+8]
			p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7] = uint8(r>>8), uint8(r), uint8(g>>8), uint8(g), 0x40, 0, uint8(a>>8), uint8(a)
		}
	}
	return m
}

// gradient8 is an 8-bit RGBA image with translucent pixels.
func gradient8(w, h int) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		row := m.Pix[y*m.Stride : y*m.Stride+4*w]
		for x := range w {
			p := row[4*x : 4*x+4 : 4*x+4]
			p[0], p[1], p[2], p[3] = uint8(x*255/w), uint8(y*255/h), 0x80, uint8(255-(x+y)*100/(w+h))
		}
	}
	return m
}

// paletted is a 256-colour image (PNG colour type 3).
func paletted(w, h int) *image.Paletted {
	pal := make(color.Palette, 256)
	for i := range pal {
		pal[i] = color.RGBA{uint8(i), uint8(255 - i), uint8(i / 2), 255}
	}
	m := image.NewPaletted(image.Rect(0, 0, w, h), pal)
	for y := range h {
		row := m.Pix[y*m.Stride : y*m.Stride+w]
		for x := range row {
			row[x] = uint8((x/64 + y/64) % 256)
		}
	}
	return m
}
