//go:build ignore

// genbig writes JPEGs that image/jpeg cannot make, for the memory tests
// and benchmarks: a progressive 4:2:0 one, a progressive 4:4:4 one, a YCCK
// (CMYK) one and a progressive YCCK one, each w×h of smooth gradients (so
// that a 49-megapixel file stays far under the upload limit), encoded by
// libjpeg-turbo at quality 80, named prefix + kind + ".jpg". Needs cgo and
// libturbojpeg0-dev. cmd/backlot's BenchmarkPeakRSS runs it at the pixel
// limit; the mem-*.jpg files here (footprint_test.go) are
//
//	go run ./actors/resize/testdata/genbig.go -w 1600 -h 1200 -prefix mem- -out actors/resize/testdata
//
// It prints the names it wrote, one a line.
package main

/*
#cgo LDFLAGS: -lturbojpeg
#include <stdlib.h>
#include <turbojpeg.h>

static int compress(unsigned char *pix, int w, int h, int pf, int samp, int flags,
                    unsigned char **out, unsigned long *size) {
	tjhandle t = tjInitCompress();
	if (!t) return -1;
	int r = tjCompress2(t, pix, w, 0, h, pf, out, size, samp, 80, flags);
	tjDestroy(t);
	return r;
}
*/
import "C"

import (
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"path/filepath"
	"unsafe"
)

func main() {
	w := flag.Int("w", 7000, "width")
	h := flag.Int("h", 7000, "height")
	out := flag.String("out", ".", "directory to write into")
	prefix := flag.String("prefix", "", "prefix of the file names")
	flag.Parse()
	rgb := make([]byte, 4**w**h)
	cmyk := make([]byte, 4**w**h)
	for y := 0; y < *h; y++ {
		fy := float64(y) / float64(*h)
		for x := 0; x < *w; x++ {
			fx := float64(x) / float64(*w)
			r := 128 + 100*math.Sin(6*fx+2*fy)
			g := 128 + 100*math.Cos(5*fy-3*fx)
			b := 255 * fx * fy
			i := 4 * (y**w + x)
			rgb[i], rgb[i+1], rgb[i+2], rgb[i+3] = uint8(r), uint8(g), uint8(b), 255
			k := 255 - max(uint8(r), uint8(g), uint8(b))
			cmyk[i], cmyk[i+1], cmyk[i+2], cmyk[i+3] = 255-uint8(r)-k, 255-uint8(g)-k, 255-uint8(b)-k, k
		}
	}
	files := []struct {
		name        string
		pix         []byte
		pf, samp, f C.int
	}{
		{"progressive-420.jpg", rgb, C.TJPF_RGBA, C.TJSAMP_420, C.TJFLAG_PROGRESSIVE},
		{"progressive-444.jpg", rgb, C.TJPF_RGBA, C.TJSAMP_444, C.TJFLAG_PROGRESSIVE},
		{"ycck.jpg", cmyk, C.TJPF_CMYK, C.TJSAMP_444, 0},
		{"ycck-progressive.jpg", cmyk, C.TJPF_CMYK, C.TJSAMP_444, C.TJFLAG_PROGRESSIVE},
	}
	for _, f := range files {
		var buf *C.uchar
		var size C.ulong
		p := C.CBytes(f.pix)
		rc := C.compress((*C.uchar)(p), C.int(*w), C.int(*h), f.pf, f.samp, f.f, &buf, &size)
		C.free(p)
		if rc != 0 {
			log.Fatalf("%s: %s", f.name, C.GoString(C.tjGetErrorStr2(nil)))
		}
		b := C.GoBytes(unsafe.Pointer(buf), C.int(size))
		C.tjFree(buf)
		if err := os.WriteFile(filepath.Join(*out, *prefix+f.name), b, 0o644); err != nil {
			log.Fatal(err)
		}
		fmt.Println(*prefix + f.name)
	}
}
