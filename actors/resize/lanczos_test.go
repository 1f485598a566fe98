package resize

import (
	"math"
	"testing"
)

func TestKernelTable(t *testing.T) {
	worst := 0.0
	for i := -40000; i <= 40000; i++ {
		x := float64(i) / 10000 * math.Pi / 3 // not on the table's steps
		worst = max(worst, math.Abs(kernel(x)-lanczos3(x)))
	}
	if worst > 1e-6 {
		t.Errorf("table is %g off lanczos3", worst)
	}
}

// unitPositions are the centres of n pixels from x0.
func unitPositions(x0, n int) []float64 {
	return centres(nil, 0, n, x0, 0)
}

func TestWeigh(t *testing.T) {
	// Same grid in and out: each output is its own pixel (Lanczos is zero
	// at the other integers).
	tp := weigh(unitPositions(0, 10), 1, 0, 10, 10)
	for o := range 10 {
		for k, w := range tp.w[tp.off[o]:tp.off[o+1]] {
			want := float32(0)
			if tp.first[o]+k == o {
				want = 1
			}
			if math.Abs(float64(w-want)) > 1e-6 {
				t.Fatalf("identity: output %d, input %d weighs %g", o, tp.first[o]+k, w)
			}
		}
	}
	for _, c := range []struct {
		name   string
		pos    []float64
		cover  int
		lo, hi float64
		n      int
	}{
		{"downscale", unitPositions(0, 100), 1, 0, 100, 23},
		{"fractional window", unitPositions(0, 100), 1, 12.5, 87.25, 20},
		{"upscale", unitPositions(0, 7), 1, 0, 7, 30},
		{"chroma", centres(nil, 0, 50, 0, 1), 2, 3, 97, 20},
		{"chroma 4:1:1 upscaled", centres(nil, 0, 5, 0, 2), 4, 1, 19, 40},
	} {
		t.Run(c.name, func(t *testing.T) {
			tp := weigh(c.pos, c.cover, c.lo, c.hi, c.n)
			for o := range c.n {
				var sum float64
				for k, w := range tp.w[tp.off[o]:tp.off[o+1]] {
					sum += float64(w)
					// A sample weighs only through the pixels it covers
					// inside the window.
					p := c.pos[tp.first[o]+k]
					half := float64(c.cover) / 2 * (c.pos[1] - c.pos[0]) / float64(c.cover)
					if w != 0 && (p+half <= c.lo || p-half >= c.hi) {
						t.Errorf("output %d reads sample %d at %g, outside [%g, %g)", o, tp.first[o]+k, p, c.lo, c.hi)
					}
				}
				if math.Abs(sum-1) > 1e-5 {
					t.Errorf("output %d: weights sum to %g", o, sum)
				}
			}
		})
	}
	// No sample inside the window: the nearest one.
	tp = weigh([]float64{0.5, 100.5}, 1, 40, 60, 1)
	if tp.first[0] != 0 || len(tp.w) != 1 || tp.w[0] != 1 {
		t.Errorf("no sample inside: first %d, weights %v", tp.first[0], tp.w)
	}
}
