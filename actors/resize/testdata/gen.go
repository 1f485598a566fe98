//go:build ignore

// gen writes the JPEGs in this directory that image/jpeg cannot make: other
// chroma subsamplings, progressive, YCCK. Each is resize.Synthetic(480, 360,
// seed 7) encoded by libjpeg-turbo at quality 85. Run from the repository
// root (needs cgo and libturbojpeg0-dev):
//
//	go run ./actors/resize/testdata/gen.go
package main

/*
#cgo LDFLAGS: -lturbojpeg
#include <stdlib.h>
#include <turbojpeg.h>

static int compress(unsigned char *pix, int w, int h, int pf, int samp, int flags,
                    unsigned char **out, unsigned long *size) {
	tjhandle t = tjInitCompress();
	if (!t) return -1;
	int r = tjCompress2(t, pix, w, 0, h, pf, out, size, samp, 85, flags);
	tjDestroy(t);
	return r;
}
*/
import "C"

import (
	"log"
	"os"
	"path/filepath"
	"unsafe"

	"github.com/backlot/backlot/actors/resize"
)

func main() {
	const w, h = 480, 360
	rgba := resize.Synthetic(w, h, 7)
	// CMYK for the YCCK file: the naive conversion is enough for a test input.
	cmyk := make([]byte, len(rgba.Pix))
	for i := 0; i < len(rgba.Pix); i += 4 {
		r, g, b := rgba.Pix[i], rgba.Pix[i+1], rgba.Pix[i+2]
		k := 255 - max(r, g, b)
		cmyk[i], cmyk[i+1], cmyk[i+2], cmyk[i+3] = 255-r-k, 255-g-k, 255-b-k, k
	}
	// CMYK patches for TestCMYKProfile: ink on multiples of 51 (where
	// lcms.TintedCMYK's grid is exact), stored inverted as Adobe's
	// CMYK JPEGs are (the decoders invert it back).
	const pw, ph, patch = 4 * 64, 2 * 64, 64
	patches := make([]byte, 4*pw*ph)
	cmykPatches := [][4]byte{ // as TestCMYKProfile lists them
		{0, 0, 0, 0}, {255, 0, 0, 0}, {0, 255, 0, 0}, {0, 0, 255, 0},
		{0, 0, 0, 102}, {102, 51, 204, 0}, {51, 153, 0, 51}, {0, 102, 255, 0},
	}
	for i, ink := range cmykPatches {
		for y := range patch {
			for x := range patch {
				o := 4 * ((i/4*patch+y)*pw + i%4*patch + x)
				for c := range 4 {
					patches[o+c] = 255 - ink[c]
				}
			}
		}
	}
	files := []struct {
		name        string
		pix         []byte
		pf, samp, f C.int
		w, h        C.int
	}{
		{"422.jpg", rgba.Pix, C.TJPF_RGBA, C.TJSAMP_422, 0, w, h},
		{"444.jpg", rgba.Pix, C.TJPF_RGBA, C.TJSAMP_444, 0, w, h},
		{"440.jpg", rgba.Pix, C.TJPF_RGBA, C.TJSAMP_440, 0, w, h},
		{"411.jpg", rgba.Pix, C.TJPF_RGBA, C.TJSAMP_411, 0, w, h},
		{"420-progressive.jpg", rgba.Pix, C.TJPF_RGBA, C.TJSAMP_420, C.TJFLAG_PROGRESSIVE, w, h},
		{"ycck.jpg", cmyk, C.TJPF_CMYK, C.TJSAMP_444, 0, w, h},
		{"cmyk-patches.jpg", patches, C.TJPF_CMYK, C.TJSAMP_444, 0, pw, ph},
	}
	dir := filepath.Join("actors", "resize", "testdata")
	for _, f := range files {
		var out *C.uchar
		var size C.ulong
		p := C.CBytes(f.pix)
		rc := C.compress((*C.uchar)(p), f.w, f.h, f.pf, f.samp, f.f, &out, &size)
		C.free(p)
		if rc != 0 {
			log.Fatalf("%s: %s", f.name, C.GoString(C.tjGetErrorStr2(nil)))
		}
		b := C.GoBytes(unsafe.Pointer(out), C.int(size))
		C.tjFree(out)
		if err := os.WriteFile(filepath.Join(dir, f.name), b, 0o644); err != nil {
			log.Fatal(err)
		}
		log.Printf("%s: %d bytes", f.name, len(b))
	}
}
