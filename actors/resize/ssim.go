package resize

import "image"

// LumaSSIM is the mean SSIM (Wang et al. 2004, C1 = (0.01·255)², C2 =
// (0.03·255)²) of a's and b's Rec. 601 luma over 8×8 windows stepped by
// 4 (the whole image when smaller): how `make compare-variants` and the
// quality tests judge an output against sharp's. a and b have one size.
func LumaSSIM(a, b image.Image) float64 {
	ya, yb := luma(a), luma(b)
	w, h := a.Bounds().Dx(), a.Bounds().Dy()
	const c1, c2 = 6.5025, 58.5225
	win := min(8, w, h)
	var sum float64
	var n int
	for y := 0; y+win <= h; y += max(1, win/2) {
		for x := 0; x+win <= w; x += max(1, win/2) {
			var ma, mb float64
			for j := range win {
				for i := range win {
					ma += ya[(y+j)*w+x+i]
					mb += yb[(y+j)*w+x+i]
				}
			}
			k := float64(win * win)
			ma, mb = ma/k, mb/k
			var va, vb, cov float64
			for j := range win {
				for i := range win {
					da, db := ya[(y+j)*w+x+i]-ma, yb[(y+j)*w+x+i]-mb
					va += da * da
					vb += db * db
					cov += da * db
				}
			}
			va, vb, cov = va/(k-1), vb/(k-1), cov/(k-1)
			sum += (2*ma*mb + c1) * (2*cov + c2) / ((ma*ma + mb*mb + c1) * (va + vb + c2))
			n++
		}
	}
	return sum / float64(n)
}

// luma is m's Rec. 601 luma, 0..255, row by row.
func luma(m image.Image) []float64 {
	r := m.Bounds()
	y := make([]float64, 0, r.Dx()*r.Dy())
	for py := r.Min.Y; py < r.Max.Y; py++ {
		for px := r.Min.X; px < r.Max.X; px++ {
			cr, cg, cb, _ := m.At(px, py).RGBA()
			y = append(y, (0.299*float64(cr)+0.587*float64(cg)+0.114*float64(cb))/257)
		}
	}
	return y
}
