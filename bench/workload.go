package bench

import (
	"bytes"
	"fmt"
	"image/jpeg"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/backlot/backlot/actors/resize"
)

// File is one image the harness uploads, held in memory so that reading it
// never shows in the server's latencies.
type File struct {
	Name        string // the client-side file name sent
	ContentType string // the part's Content-Type (servers judge by bytes anyway)
	Data        []byte
}

// jpegQuality is that of a camera's or phone's "fine" JPEG.
const jpegQuality = 90

// Load returns the run's images: generated from Size, or read from Files.
func Load(c Config) ([]File, error) {
	if len(c.Files) > 0 {
		return ReadFiles(c.Files)
	}
	return Generate(c.Size, c.Seeds)
}

// Generate makes seeds distinct photo-like JPEGs (q90) of size s, in
// parallel: a 4000x3000 one takes about a second to draw and encode.
func Generate(s Size, seeds int) ([]File, error) {
	out := make([]File, seeds)
	errs := make([]error, seeds)
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i := range seeds {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			var b bytes.Buffer
			img := resize.Synthetic(s.W, s.H, uint64(i+1))
			if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: jpegQuality}); err != nil {
				errs[i] = fmt.Errorf("encode %v seed %d: %w", s, i+1, err)
				return
			}
			out[i] = File{Name: fmt.Sprintf("synthetic-%v-%d.jpg", s, i+1), ContentType: "image/jpeg", Data: b.Bytes()}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ReadFiles reads the given files whole.
func ReadFiles(paths []string) ([]File, error) {
	out := make([]File, 0, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read workload file: %w", err)
		}
		if len(b) == 0 {
			return nil, fmt.Errorf("workload file %s is empty", p)
		}
		out = append(out, File{Name: filepath.Base(p), ContentType: http.DetectContentType(b), Data: b})
	}
	return out, nil
}
