package resize

import (
	"bytes"
	"context"
	"fmt"
	"image/jpeg"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/blob"
	"github.com/backlot/backlot/persistence/blob/fsblob"
)

// benchSizes are the sources the benchmarks resize: 640x480, 1920x1080
// and 4000x3000, or the WxH list in BACKLOT_BENCH_SIZES (space or comma
// separated; bench/compare.sh passes its workloads' sizes).
var benchSizes = func() []struct{ w, h int } {
	env := strings.FieldsFunc(os.Getenv("BACKLOT_BENCH_SIZES"), func(r rune) bool { return r == ' ' || r == ',' })
	if len(env) == 0 {
		return []struct{ w, h int }{{640, 480}, {1920, 1080}, {4000, 3000}}
	}
	var sizes []struct{ w, h int }
	for _, f := range env {
		var w, h int
		if _, err := fmt.Sscanf(f, "%dx%d", &w, &h); err != nil || w <= 0 || h <= 0 {
			panic(fmt.Sprintf("BACKLOT_BENCH_SIZES: %q is not WxH", f))
		}
		sizes = append(sizes, struct{ w, h int }{w, h})
	}
	return sizes
}()

// benchJPEGs holds each size's photo-like JPEG (quality 90), made once:
// a 4000x3000 one takes longer to make than to resize.
var benchJPEGs = sync.OnceValue(func() map[[2]int][]byte {
	m := make(map[[2]int][]byte)
	for _, s := range benchSizes {
		var b bytes.Buffer
		if err := jpeg.Encode(&b, Synthetic(s.w, s.h, 1), &jpeg.Options{Quality: 90}); err != nil {
			panic(err)
		}
		m[[2]int{s.w, s.h}] = b.Bytes()
	}
	return m
})

// BenchmarkProcess is one whole attempt as the resizer actor runs it:
// open, probe, decode, shrink, Lanczos, encode q85, fsync, rename. The
// decoder is this build's (Decoder()): run it with CGO_ENABLED=0 too.
// benchLimits keeps the benchmarks' one source file in the page cache, as
// a resizer finds a fresh upload; without it each run would read it from
// the disk (Process drops a source's pages once decoded).
var benchLimits = Limits{hooks: &hooks{keepSource: true}}

func BenchmarkProcess(b *testing.B) {
	opts := persistence.Options{Width: 100, Height: 100, Fit: persistence.FitCover, Format: persistence.FormatJPEG, Quality: 85}
	for _, s := range benchSizes {
		b.Run(fmt.Sprintf("%dx%d", s.w, s.h), func(b *testing.B) {
			dir := b.TempDir()
			src := writeFile(b, dir, "src.jpg", benchJPEGs()[[2]int{s.w, s.h}])
			dst := filepath.Join(dir, "dst.jpg")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := processFile(src, dst, opts, benchLimits); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(s.w*s.h)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mpx/s")
		})
	}
}

// BenchmarkDecode is this build's JPEG decode as Process runs it for a
// 100x100 cover (libjpeg-turbo at a DCT scale, or image/jpeg at full
// size), the floor under BenchmarkProcess.
func BenchmarkDecode(b *testing.B) {
	opts := persistence.Options{Width: 100, Height: 100, Fit: persistence.FitCover, Format: persistence.FormatJPEG, Quality: 85}
	for _, s := range benchSizes {
		b.Run(fmt.Sprintf("%dx%d", s.w, s.h), func(b *testing.B) {
			f, err := openFile(writeFile(b, b.TempDir(), "src.jpg", benchJPEGs()[[2]int{s.w, s.h}]))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			info := Info{Format: "jpeg", Width: s.w, Height: s.h}
			b.ReportAllocs()
			for b.Loop() {
				d, err := decodeSource(f, info, opts)
				if err != nil {
					b.Fatal(err)
				}
				d.release()
			}
		})
	}
}

// BenchmarkProcessParallel is the pipeline's own throughput with as many
// goroutines as GOMAXPROCS (2 on the reference machine: the resizers a
// 2-core node runs), each on its own output: the ceiling that end-to-end
// images/s (`backlot bench`) is measured against.
func BenchmarkProcessParallel(b *testing.B) {
	opts := persistence.Options{Width: 100, Height: 100, Fit: persistence.FitCover, Format: persistence.FormatJPEG, Quality: 85}
	for _, s := range benchSizes {
		b.Run(fmt.Sprintf("%dx%d", s.w, s.h), func(b *testing.B) {
			dir := b.TempDir()
			src := writeFile(b, dir, "src.jpg", benchJPEGs()[[2]int{s.w, s.h}])
			var n sync.Mutex
			next := 0
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				n.Lock()
				dst := filepath.Join(dir, fmt.Sprintf("dst-%d.jpg", next))
				next++
				n.Unlock()
				for pb.Next() {
					if _, err := processFile(src, dst, opts, benchLimits); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// BenchmarkVariants is issue 20's goal: the four variants of a 1920x1080
// JPEG (fourVariants: 100x100 cover, 320x320 cover, 800x800 contain,
// 1600x1600 contain, JPEG q85) from one decode against the 1600x1600
// variant alone, each a whole attempt writing its results through
// fsblob. Each iteration runs both, one after the other, so that a
// machine shared with others slows both alike; it reports each one's
// process CPU time (user+system, getrusage) per attempt and their ratio,
// which the goal is stated in (at most 1.3). On the 2-core VM, five runs:
// 1.16–1.22 (median 1.18; 24.0 ms alone, 28.4 four) since the outputs go
// to the encoder as 4:2:0 planes, the view is halved from the large
// output and the decode is at 1/1 rather than 7/8; 1.28–1.31 (37.8, 48.9)
// before; 1.43–1.46 when each variant was resized from the decode itself,
// before the ladder:
//
//	nice -n 19 go test -run '^$' -bench Variants -benchtime 100x -count 3 ./actors/resize/
func BenchmarkVariants(b *testing.B) {
	large := persistence.Options{Variants: fourVariants.Variants[3:]}
	attempt := variantsAttempt(b)
	var alone, four time.Duration
	b.ReportAllocs()
	for b.Loop() {
		alone += attempt(large)
		four += attempt(fourVariants)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(b.N) }
	b.ReportMetric(ms(alone), "alone-cpu-ms/op")
	b.ReportMetric(ms(four), "four-cpu-ms/op")
	b.ReportMetric(float64(four)/float64(alone), "ratio")
}

// variantsAttempt returns a function that runs one attempt at the
// benchmarks' 1920x1080 JPEG with opts, outputs to fsblob, and returns the
// process CPU time it took.
func variantsAttempt(b *testing.B) func(persistence.Options) time.Duration {
	dir := b.TempDir()
	path := writeFile(b, dir, "src.jpg", benchJPEG1080())
	blobs, err := fsblob.New(dir, fsblob.Options{})
	if err != nil {
		b.Fatal(err)
	}
	out := func(v persistence.Variant) (blob.Writer, error) {
		return blobs.Create(context.Background(), "out-"+v.Name+"."+v.Format.Ext(), blob.CreateOptions{UseReserve: true})
	}
	return func(opts persistence.Options) time.Duration {
		f, err := openFile(path)
		if err != nil {
			b.Fatal(err)
		}
		start := cpuTime()
		if _, err := Process(f, out, opts, benchLimits); err != nil {
			b.Fatal(err)
		}
		return cpuTime() - start
	}
}

// benchJPEG1080 is the 1920x1080 photo-like JPEG (q90) of the benchmarks.
var benchJPEG1080 = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, Synthetic(1920, 1080, 1), &jpeg.Options{Quality: 90}); err != nil {
		panic(err)
	}
	return b.Bytes()
})

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkVariantsWebP is bench/variants.sh's Backlot half as a Go
// benchmark: the four variants of a 1920x1080 JPEG as WebP q85, method 4
// (sharp-variants.js's settings), one attempt after another; it reports
// process CPU time per image, the figure make compare-variants compares
// with sharp's (174 ms, three runs 173.9–174.2; 204 before the planar
// path, 200.8–204.8; libwebp's encode is 88 % of it):
//
//	nice -n 19 go test -run '^$' -bench VariantsWebP -benchtime 40x -count 3 ./actors/resize/
func BenchmarkVariantsWebP(b *testing.B) {
	if err := CanEncode(persistence.FormatWebP); err != nil {
		b.Skip(err)
	}
	opts := persistence.Options{Variants: slices.Clone(fourVariants.Variants)}
	for i := range opts.Variants {
		opts.Variants[i].Format = persistence.FormatWebP
	}
	attempt := variantsAttempt(b)
	var cpu time.Duration
	for b.Loop() {
		cpu += attempt(opts)
	}
	b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}
