package encbench

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"io"
	"testing"

	wasmavif "github.com/gen2brain/avif"
	wasmwebp "github.com/gen2brain/webp"

	"github.com/backlot/backlot/actors/resize"
	"github.com/backlot/backlot/actors/resize/avif"
	"github.com/backlot/backlot/actors/resize/webp"
)

// BenchmarkEncode is the per-image encode time of each candidate at
// 100x100 (a thumbnail) and 1600x900 (a large view) of a photo-like
// image, one encode at a time on one thread, WebP at quality 85 and
// method 4, AVIF at quality 60 and the speed the server uses:
//
//	nice -n 19 go test -tags nodynamic -run '^$' -bench Encode -benchtime 10x ./actors/resize/encbench/
//
// cgo-* are libwebp 1.2.4 and libavif 0.11.1 (libaom) from Debian;
// wasm-* are gen2brain/webp v0.5.5 and gen2brain/avif v0.4.4, the same
// libraries compiled to WebAssembly and run by wazero. Without the
// nodynamic tag gen2brain calls a system libwebp.so through purego when
// one is installed (libwebp-dev here), and wasm-webp measures cgo-webp
// again. Each reports the
// output's bytes as B/img, to see that both do the same job.
func BenchmarkEncode(b *testing.B) {
	for _, sz := range [][2]int{{100, 100}, {1600, 900}} {
		src := resize.Synthetic(sz[0], sz[1], 7)
		img := image.NewNRGBA(src.Rect)
		draw.Draw(img, img.Rect, src, image.Point{}, draw.Src)
		name := fmt.Sprintf("%dx%d", sz[0], sz[1])
		cands := []struct {
			name string
			enc  func(io.Writer) error
			cgo  bool
		}{
			{"webp/cgo", func(w io.Writer) error { return webp.Encode(w, img, 85) }, true},
			{"webp/wasm", func(w io.Writer) error {
				return wasmwebp.Encode(w, img, wasmwebp.Options{Quality: 85, Method: webp.Method})
			}, false},
			{"avif/cgo", func(w io.Writer) error { return avif.Encode(w, img, 60, avif.Speed) }, true},
			{"avif/wasm", func(w io.Writer) error {
				return wasmavif.Encode(w, img, wasmavif.Options{Quality: 60, QualityAlpha: 60, Speed: avif.Speed, ChromaSubsampling: image.YCbCrSubsampleRatio420})
			}, false},
		}
		for _, c := range cands {
			b.Run(c.name+"/"+name, func(b *testing.B) {
				if c.cgo && !webp.Available {
					b.Skip("built without cgo")
				}
				var buf bytes.Buffer
				if err := c.enc(&buf); err != nil { // warm up: wazero compiles its module once
					b.Fatal(err)
				}
				b.ResetTimer()
				for b.Loop() {
					buf.Reset()
					if err := c.enc(&buf); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(buf.Len()), "B/img")
			})
		}
	}
}

// TestEncodersDecode checks each candidate's output decodes to the
// input's size (gen2brain's decoders read both), so the benchmark
// compares encoders that work.
func TestEncodersDecode(t *testing.T) {
	if !webp.Available {
		t.Skip("built without cgo")
	}
	src := resize.Synthetic(64, 48, 3)
	img := image.NewNRGBA(src.Rect)
	draw.Draw(img, img.Rect, src, image.Point{}, draw.Src)
	var w, a bytes.Buffer
	if err := webp.Encode(&w, img, 85); err != nil {
		t.Fatal(err)
	}
	if err := avif.Encode(&a, img, 60, avif.Speed); err != nil {
		t.Fatal(err)
	}
	for name, dec := range map[string]func() (image.Image, error){
		"webp": func() (image.Image, error) { return wasmwebp.Decode(bytes.NewReader(w.Bytes())) },
		"avif": func() (image.Image, error) { return wasmavif.Decode(bytes.NewReader(a.Bytes())) },
	} {
		m, err := dec()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if m.Bounds().Size() != img.Rect.Size() {
			t.Errorf("%s: decoded %v, want %v", name, m.Bounds(), img.Rect)
		}
	}
	t.Logf("AV1 encoder: %s", avif.Codec())
}
