// Command variants is bench/variants.sh's Go half: it writes the inputs,
// runs Backlot's pipeline on them (resize.Process, as a resizer runs it),
// and compares the outputs with sharp's by SSIM.
//
//	variants gen N DIR [PHOTO…] N photo-like 1920x1080 JPEGs (q90) in DIR/v/: resize.Synthetic's, or
//	                            with PHOTOs (keys in DIR of JPEG photographs) N crops of them, taken
//	                            in turn (resize.PhotoCrops)
//	variants run IN OUT         the four WebP variants of each of IN/v/ into OUT/v/, two at a time; images/s as JSON
//	variants ssim A B           mean SSIM of each variant in A/v/ against B/v/'s, by name
//
// Its files go through fsblob, as every file of the module but the
// harness's (persistence/blob's TestOnlyFsblobTouchesFiles): the
// directories are blob stores, the files keys under "v/".
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/image/webp"

	"github.com/backlot/backlot/actors/resize"
	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/blob"
	"github.com/backlot/backlot/persistence/blob/fsblob"
)

// variants are issue 20's four, as WebP q85 (sharp-variants.js's).
var variants = persistence.Options{Variants: []persistence.Variant{
	{Name: "thumb", Width: 100, Height: 100, Fit: persistence.FitCover, Format: persistence.FormatWebP, Quality: 85},
	{Name: "card", Width: 320, Height: 320, Fit: persistence.FitCover, Format: persistence.FormatWebP, Quality: 85},
	{Name: "view", Width: 800, Height: 800, Fit: persistence.FitContain, Format: persistence.FormatWebP, Quality: 85},
	{Name: "large", Width: 1600, Height: 1600, Fit: persistence.FitContain, Format: persistence.FormatWebP, Quality: 85},
}}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "variants:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	switch {
	case len(args) >= 3 && args[0] == "gen":
		n, err := strconv.Atoi(args[1])
		if err != nil {
			return err
		}
		return gen(n, args[2], args[3:])
	case len(args) == 3 && args[0] == "run":
		return process(args[1], args[2])
	case len(args) == 3 && args[0] == "ssim":
		return compare(args[1], args[2])
	}
	return fmt.Errorf("usage: variants gen N DIR [PHOTO…] | run IN OUT | ssim A B")
}

// gen writes the n inputs: resize.Synthetic's images, or n crops of the
// photographs at keys photos of the same store, one from each in turn
// (input i is from photo i mod len(photos)), each photo's spread over it.
func gen(n int, dir string, photos []string) error {
	store, err := fsblob.New(dir, fsblob.Options{})
	if err != nil {
		return err
	}
	if n < len(photos) {
		return fmt.Errorf("%d inputs cannot take a crop from each of %d photos", n, len(photos))
	}
	crops := make([][]*image.NRGBA, len(photos))
	for k, photo := range photos {
		obj, err := store.Open(context.Background(), photo)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(io.NewSectionReader(obj, 0, obj.Size()))
		obj.Close()
		if err != nil {
			return err
		}
		if crops[k], err = resize.PhotoCrops(b, 1920, 1080, (n-k+len(photos)-1)/len(photos)); err != nil {
			return fmt.Errorf("%s: %w", photo, err)
		}
	}
	for i := range n {
		var img image.Image = resize.Synthetic(1920, 1080, uint64(i+1))
		if len(photos) > 0 {
			img = crops[i%len(photos)][i/len(photos)]
		}
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
			return err
		}
		if _, err := blob.Put(context.Background(), store, fmt.Sprintf("v/img-%04d.jpg", i), &b, blob.CreateOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// keys lists the keys under "v/" of the store at dir that end in ext.
func keys(dir, ext string) (blob.Store, []string, error) {
	store, err := fsblob.New(dir, fsblob.Options{})
	if err != nil {
		return nil, nil, err
	}
	var ks []string
	err = store.List(context.Background(), "v/", func(i blob.Info) error {
		if strings.HasSuffix(i.Key, ext) {
			ks = append(ks, i.Key)
		}
		return nil
	})
	sort.Strings(ks)
	return store, ks, err
}

// process makes the variants of every JPEG of in, two images at a time
// (a 2-core node's two resizers), each file read whole first as sharp's
// script does, results written through fsblob as a node writes them.
func process(in, out string) error {
	src, files, err := keys(in, ".jpg")
	if err != nil {
		return err
	}
	blobs, err := fsblob.New(out, fsblob.Options{})
	if err != nil {
		return err
	}
	var (
		mu   sync.Mutex
		next int
		errs []error
		wg   sync.WaitGroup
	)
	start, cpu0 := time.Now(), cpuTime()
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next == len(files) {
					mu.Unlock()
					return
				}
				f := files[next]
				next++
				mu.Unlock()
				obj, err := src.Open(context.Background(), f)
				if err == nil {
					base := strings.TrimSuffix(f, ".jpg")
					_, err = resize.Process(obj, func(v persistence.Variant) (blob.Writer, error) {
						return blobs.Create(context.Background(), base+"."+v.Name+".webp", blob.CreateOptions{UseReserve: true})
					}, variants, resize.Limits{})
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s: %w", f, err))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return errs[0]
	}
	secs := time.Since(start).Seconds()
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"images": len(files), "seconds": secs,
		"imagesPerSecond": float64(len(files)) / secs, "cpuMsPerImage": float64(cpuTime()-cpu0) / 1e6 / float64(len(files))})
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// compare prints, per variant, the mean and lowest SSIM of a's outputs
// against b's of the same name (both decoded, luma only).
func compare(a, b string) error {
	sa, files, err := keys(a, ".webp")
	if err != nil {
		return err
	}
	sb, err := fsblob.New(b, fsblob.Options{})
	if err != nil {
		return err
	}
	type stat struct {
		sum, min float64
		n        int
	}
	stats := map[string]*stat{}
	for _, name := range files {
		parts := strings.Split(name, ".")
		v := parts[len(parts)-2]
		ia, err := decodeWebP(sa, name)
		if err != nil {
			return err
		}
		ib, err := decodeWebP(sb, name)
		if err != nil {
			return err
		}
		if ia.Bounds().Size() != ib.Bounds().Size() {
			return fmt.Errorf("%s: %v here, %v there", name, ia.Bounds().Size(), ib.Bounds().Size())
		}
		s := resize.LumaSSIM(ia, ib)
		st := stats[v]
		if st == nil {
			st = &stat{min: 1}
			stats[v] = st
		}
		st.sum += s
		st.min = min(st.min, s)
		st.n++
	}
	out := map[string]any{}
	for v, st := range stats {
		out[v] = map[string]float64{"mean": st.sum / float64(st.n), "min": st.min, "images": float64(st.n)}
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

func decodeWebP(s blob.Store, key string) (image.Image, error) {
	obj, err := s.Open(context.Background(), key)
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	return webp.Decode(io.NewSectionReader(obj, 0, obj.Size()))
}
