package resize

import (
	"image"
	"math"
	"math/rand/v2"
)

// Synthetic returns a deterministic photo-like w×h image for tests and
// benchmarks (here and in bench/): smooth gradients and soft waves (sky,
// skin), hard-edged discs and bars at odd positions (objects), and a few
// levels of noise (sensor grain), so JPEG sizes, decode times and resize
// errors resemble a photo's rather than a flat test card's. It is an
// *image.RGBA, which image/jpeg encodes without per-pixel allocation.
func Synthetic(w, h int, seed uint64) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	// Separable waves cost one sin per row and column, not per pixel.
	wx, wy := make([]float64, w), make([]float64, h)
	px, py := rng.Float64()*6, rng.Float64()*6
	for x := range wx {
		wx[x] = 30 * math.Sin(px+float64(x)*2*math.Pi*3/float64(w))
	}
	for y := range wy {
		wy[y] = 30 * math.Sin(py+float64(y)*2*math.Pi*2/float64(h))
	}
	type disc struct {
		cx, cy, r2 float64
		c          [3]float64
	}
	discs := make([]disc, 5)
	for i := range discs {
		r := (0.05 + 0.15*rng.Float64()) * float64(min(w, h))
		discs[i] = disc{rng.Float64() * float64(w), rng.Float64() * float64(h), r * r,
			[3]float64{rng.Float64()*160 - 80, rng.Float64()*160 - 80, rng.Float64()*160 - 80}}
	}
	bar0, bar1 := int(0.6*float64(w)), int(0.63*float64(w))+1
	noise := rng.Uint64() | 1
	for y := range h {
		row := m.Pix[y*m.Stride : y*m.Stride+4*w]
		fy := float64(y) / float64(h)
		for x := range w {
			fx := float64(x) / float64(w)
			c := [3]float64{
				60 + 120*fx + wx[x],
				40 + 100*fy + wy[y],
				90 + 60*(1-fx)*fy + 0.5*(wx[x]-wy[y]),
			}
			for _, d := range discs {
				if dx, dy := float64(x)-d.cx, float64(y)-d.cy; dx*dx+dy*dy < d.r2 {
					c[0], c[1], c[2] = c[0]+d.c[0], c[1]+d.c[1], c[2]+d.c[2]
				}
			}
			if x >= bar0 && x < bar1 {
				c = [3]float64{230, 225, 210}
			}
			// xorshift: rand's generator per pixel costs more than the rest.
			noise ^= noise << 13
			noise ^= noise >> 7
			noise ^= noise << 17
			n := float64(int(noise&15) - 8)
			p := row[4*x : 4*x+4 : 4*x+4]
			p[0], p[1], p[2], p[3] = clamp8(c[0]+n), clamp8(c[1]+n), clamp8(c[2]+n), 0xff
		}
	}
	return m
}

func clamp8(v float64) uint8 {
	switch {
	case v <= 0:
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v + 0.5)
}
