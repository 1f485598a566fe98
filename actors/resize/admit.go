package resize

import (
	"errors"
	"fmt"

	"github.com/backlot/backlot/persistence"
)

// ErrTooMuchMemory: decoding the image would take more memory than a node
// ever gives one attempt (Budget.Ceiling), however alone it ran.
var ErrTooMuchMemory = errors.New("the image needs more memory to decode than this node allows")

// Ceiling is the most memory one attempt may ever hold: twice the
// budget's bytes. An attempt over the budget takes all of it and runs
// alone (budget.go); one over the ceiling is not run at all. With the
// default budget (384 MiB) that is 768 MiB: beside Go's runtime, the
// store and the HTTP layer, a node then stays under 1 GiB. No valid image
// within the default limits comes near it in a build with libjpeg-turbo
// (the largest, a 16-bit RGBA PNG at 50 MP, needs 378 MiB); without cgo
// a progressive CMYK JPEG of more than about 33 MP does (image/jpeg holds
// 24 bytes a pixel for it), and is refused.
func (b *Budget) Ceiling() int64 { return 2 * b.size }

// Admit reports whether the image src, which Probe accepted, can be
// decoded by an attempt with opts within ceiling bytes: nil, or an error
// wrapping ErrTooMuchMemory that says how much it needs. The need counted
// is what the attempt holds when its decoder succeeds (Footprint less
// the reservation for image/jpeg taking over from a failed libjpeg-turbo,
// which decodeTurbo refuses for such an image instead). ceiling <= 0
// admits everything.
func Admit(src Source, opts persistence.Options, maxPixels, ceiling int64) error {
	if ceiling <= 0 {
		return nil
	}
	h := withHead(src) // the header walks read the head from memory (head.go)
	defer h.release()
	src = h
	info, cfg, err := probeConfig(src, maxPixels)
	if err != nil {
		return err
	}
	vs, err := variantsOf(opts)
	if err != nil {
		return permanent(err)
	}
	if need, _ := footprintOuts(src, info, cfg, vs, false); need > ceiling {
		return fmt.Errorf("%w: decoding this %dx%d %s to the options asked needs about %.1f MiB, over this node's limit of %.1f MiB (twice --max-decode-memory)",
			ErrTooMuchMemory, info.Width, info.Height, info.Format, float64(need)/(1<<20), float64(ceiling)/(1<<20))
	}
	return nil
}
