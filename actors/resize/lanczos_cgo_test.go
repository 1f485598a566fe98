//go:build cgo

package resize

import (
	"math/rand/v2"
	"testing"
)

// randomPlane is a w×h plane of noise with a stride wider than w.
func randomPlane(r *rand.Rand, w, h int) view {
	stride := w + r.IntN(9)
	pix := make([]uint8, stride*h)
	for i := range pix {
		pix[i] = uint8(r.IntN(256))
	}
	xs, ys := make([]float64, w), make([]float64, h)
	for i := range xs {
		xs[i] = float64(i) + 0.5
	}
	for j := range ys {
		ys[j] = float64(j) + 0.5
	}
	return view{pix: pix, stride: stride, xs: xs, ys: ys, cx: 1, cy: 1}
}

// TestResizeCMatchesGo: the C loops give what the Go ones give, to within
// one level (float sums in another order), for down- and upscales, odd
// sizes and windows that crop.
func TestResizeCMatchesGo(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	differ, pixels := 0, 0
	for range 200 {
		w, h := 1+r.IntN(400), 1+r.IntN(300)
		v := randomPlane(r, w, h)
		nx, ny := 1+r.IntN(200), 1+r.IntN(200)
		x0, y0 := r.Float64()*float64(w)/4, r.Float64()*float64(h)/4
		x1, y1 := float64(w)-r.Float64()*float64(w)/4, float64(h)-r.Float64()*float64(h)/4
		tx, ty := weigh(v.xs, 1, x0, x1, nx), weigh(v.ys, 1, y0, y1, ny)
		c0, c1 := tx.columns()
		tmp := make([]float32, ny*(c1-c0))
		got, want := make([]uint8, nx*ny), make([]uint8, nx*ny)
		if !resizeC(v, tx, ty, got, tmp) {
			t.Fatalf("%dx%d -> %dx%d: resizeC declined", w, h, nx, ny)
		}
		v.resizeGo(tx, ty, want, tmp)
		for i := range got {
			if d := int(got[i]) - int(want[i]); d > 1 || d < -1 {
				t.Fatalf("%dx%d -> %dx%d: pixel %d is %d in C, %d in Go", w, h, nx, ny, i, got[i], want[i])
			} else if d != 0 {
				differ++
			}
		}
		pixels += len(got)
	}
	// A sum that lands within a rounding error of a half level may round
	// either way (C may fuse a multiply and an add), so a few pixels differ
	// by one: 14 of 1.9 million when written. A rounding fault (truncating
	// instead of rounding, say) makes half of them differ.
	if differ > pixels/10000 {
		t.Fatalf("%d of %d pixels differ by one between C and Go; want at most %d", differ, pixels, pixels/10000)
	}
	t.Logf("%d of %d pixels differ by one", differ, pixels)
}

// TestRound8: both of the C loops' roundings to 8 bits (the vertical
// pass's, scalar, and the horizontal pass's, eight lanes at once) give
// clampf's value, at the edges of each level and outside [0, 255].
func TestRound8(t *testing.T) {
	vals := []float32{-1000, -1, -0.7, -0.5, -0.49, -0.0001, 0, 0.0001, 0.49, 0.4999999, 0.5, 0.51, 1, 1.5, 2.5,
		127.49, 127.5, 253.5, 254.4, 254.5, 254.6, 255, 255.4, 255.49, 255.5, 255.6, 256, 300, 1000}
	r := rand.New(rand.NewPCG(7, 8))
	for range 20000 {
		vals = append(vals, r.Float32()*300-20)
	}
	for len(vals)%8 != 0 {
		vals = append(vals, 0)
	}
	for i := 0; i < len(vals); i += 8 {
		var v [8]float32
		copy(v[:], vals[i:])
		scalar, vector := round8C(v)
		for k := range v {
			if want := clampf(v[k]); scalar[k] != want || vector[k] != want {
				t.Fatalf("%v: scalar %d, vector %d; want %d", v[k], scalar[k], vector[k], want)
			}
		}
	}
}

// TestResizeCDeclines: taps that would read outside the plane or write
// outside dst are refused before any C runs.
func TestResizeCDeclines(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	v := randomPlane(r, 64, 64)
	tx, ty := weigh(v.xs, 1, 0, 64, 20), weigh(v.ys, 1, 0, 64, 20)
	tmp := make([]float32, 20*64)
	if !resizeC(v, tx, ty, make([]uint8, 400), tmp) {
		t.Fatal("valid call declined")
	}
	short := v
	short.pix = v.pix[:len(v.pix)-v.stride]
	bad := ty
	bad.first = append([]int(nil), ty.first...)
	bad.first[0] = -1
	for name, ok := range map[string]bool{
		"short dst":   resizeC(v, tx, ty, make([]uint8, 399), tmp),
		"short tmp":   resizeC(v, tx, ty, make([]uint8, 400), tmp[:10]),
		"short plane": resizeC(short, tx, ty, make([]uint8, 400), tmp),
		"negative":    resizeC(v, tx, bad, make([]uint8, 400), tmp),
	} {
		if ok {
			t.Errorf("%s: ran", name)
		}
	}
}

func BenchmarkPlaneResize(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	v := randomPlane(r, 240, 240)
	tx, ty := weigh(v.xs, 1, 0, 240, 100), weigh(v.ys, 1, 0, 240, 100)
	tmp, dst := make([]float32, 100*240), make([]uint8, 100*100)
	b.Run("c", func(b *testing.B) {
		for b.Loop() {
			resizeC(v, tx, ty, dst, tmp)
		}
	})
	b.Run("go", func(b *testing.B) {
		for b.Loop() {
			v.resizeGo(tx, ty, dst, tmp)
		}
	})
}
