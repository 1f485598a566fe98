package resize

import (
	"image"

	"github.com/backlot/backlot/actors/resize/lcms"
	"github.com/backlot/backlot/persistence"
)

// outPlanes are the 4:2:0 planes of the outputs of one image that go to
// their encoder as planes (resampleYCbCr): those of a colour JPEG's
// planar decode, shown as stored (orientation 1), without a colour
// transform, in a format planarEncoder takes.
//
// An output whose crop is another's and whose size is exactly half of it
// (a 1600x900 and an 800x450 variant of the same image, as in issue
// 20's four, or any srcset's 2x and 1x) is the 2×2 box average of that
// output's planes: the best intermediate there is, already low-passed by
// Lanczos at twice its resolution, for a sixth of the cost of resizing it
// from the decode's half-size rung (which also box-averaged first). Its
// parent's planes are kept until every output made from them is.
type outPlanes struct {
	ok     []bool // output i goes through planes
	parent []int  // the output i is halved from, or -1
	planes []*image.YCbCr
	bufs   [][]byte
	plans  []plan
}

func newOutPlanes(img image.Image, colour *lcms.Transform, vs []persistence.Variant, plans []plan) *outPlanes {
	n := len(vs)
	p := &outPlanes{ok: make([]bool, n), parent: make([]int, n), planes: make([]*image.YCbCr, n),
		bufs: make([][]byte, n), plans: plans}
	_, ycc := img.(*image.YCbCr)
	for i, v := range vs {
		p.ok[i] = ycc && colour == nil && plans[i].orient == 1 && planarEncoder(v.Format)
		p.parent[i] = -1
	}
	for i := range vs {
		if !p.ok[i] {
			continue
		}
		for j := range vs {
			if j != i && p.ok[j] && plans[j].crop == plans[i].crop &&
				plans[j].w == 2*plans[i].w && plans[j].h == 2*plans[i].h {
				p.parent[i] = j
				break
			}
		}
	}
	return p
}

// direct reports whether output i is made through planes.
func (p *outPlanes) direct(i int) bool { return p.ok[i] }

// get makes output i's planes (and its parent's first, if it has one
// not made yet), from the rungs or by halving.
func (p *outPlanes) get(i int, rungs *ladder) *image.YCbCr {
	if p.planes[i] != nil {
		return p.planes[i]
	}
	if j := p.parent[i]; j >= 0 {
		if r, ok := halve(rung{img: p.get(j, rungs), scale: 1}); ok {
			p.planes[i], p.bufs[i] = r.img.(*image.YCbCr), r.pooled
			return p.planes[i]
		}
	}
	img, scale := rungs.pick(p.plans[i])
	m, _ := img.(*image.YCbCr) // direct: the decode is planar, and so are its rungs
	p.planes[i], p.bufs[i] = resampleYCbCr(m, p.plans[i], scale)
	return p.planes[i]
}

// done gives back the planes of output i, which is written, and of its
// parent, unless an output of left (those still to be made) needs them.
func (p *outPlanes) done(i int, left []int) {
	needed := func(k int) bool {
		for _, l := range left {
			if l == k || p.parent[l] == k {
				return true
			}
		}
		return false
	}
	for _, k := range []int{i, p.parent[i]} {
		if k >= 0 && p.planes[k] != nil && !needed(k) {
			putBytes(p.bufs[k])
			p.planes[k], p.bufs[k] = nil, nil
		}
	}
}

// release gives back whatever planes are left (after an error).
func (p *outPlanes) release() {
	for k, b := range p.bufs {
		putBytes(b)
		p.planes[k], p.bufs[k] = nil, nil
	}
}
