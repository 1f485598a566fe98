package resize

import (
	"fmt"
	"image"
	"io"
	"math"
	"runtime/debug"
	"slices"
	"sync/atomic"
	"time"

	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/blob"
)

// Source is an image's bytes, read at any offset (decoders and header
// probes jump about), and their length: a blob.Object, or in tests a file
// with its size.
type Source interface {
	io.ReaderAt
	Size() int64
}

// Output makes the object the result of output v is written to, once
// Process has its pixels to encode: the blob store's Create of the
// result's key (ResultKey; with UseReserve: the reserve is kept for work
// already accepted). Process ends each Writer it gets with Commit, once
// every output is written whole and the attempt is still wanted, or with
// Abort.
type Output func(v persistence.Variant) (blob.Writer, error)

// ResultKey is the blob key of output v of an image of a batch with opts:
// blob.OutputKey for a batch without variants (as before variants
// existed), blob.VariantKey for each of its variants.
func ResultKey(batchID, imageID string, opts persistence.Options, v persistence.Variant) string {
	if len(opts.Variants) == 0 {
		return blob.OutputKey(batchID, imageID, v.Format.Ext())
	}
	return blob.VariantKey(batchID, imageID, v.Name, v.Format.Ext())
}

// Limits bound one attempt.
type Limits struct {
	// MaxPixels caps width*height as declared by the header, checked before
	// any pixel is decoded; <= 0 means no limit.
	MaxPixels int64
	// Timeout bounds one attempt; 0 means none.
	Timeout time.Duration
	// Nice, when > 0, runs the work on a thread of that nice value (Linux;
	// worker.go), so that a node's request path comes first when the CPUs
	// are full; 0 runs it at the caller's priority.
	Nice int
	// Budget, shared by every attempt given it, bounds the decodes under
	// way at once and the bytes they hold (budget.go); nil bounds nothing.
	Budget *Budget
	// Stages, when set, hears where each successful Process spent its
	// time (stages.go); Rebuild does not tell it.
	Stages StageWatcher

	hooks *hooks // tests only; nil in production
}

// hooks let tests stop the worker at chosen points instead of racing it
// against the clock.
type hooks struct {
	admitted func()        // after the budget admitted the attempt, before it starts
	decoded  func()        // after the pixels are decoded
	written  func()        // after the temp file is written, before the commit
	exited   chan struct{} // closed when a timed worker has returned
	expire   chan struct{} // if set, stands in for the timer
	// keepSource leaves the source in the page cache: a benchmark that
	// reads one file over and over measures the pipeline on a source in
	// memory, as a node's resizer finds a fresh upload, not a disk read.
	keepSource bool
}

// expired is nil, which never fires, unless a test stands in for the timer.
func (h *hooks) expired() <-chan struct{} {
	if h == nil {
		return nil
	}
	return h.expire
}

func (h *hooks) onAdmitted() {
	if h != nil && h.admitted != nil {
		h.admitted()
	}
}

func (h *hooks) onDecoded() {
	if h != nil && h.decoded != nil {
		h.decoded()
	}
}

func (h *hooks) onWritten() {
	if h != nil && h.written != nil {
		h.written()
	}
}

// Result describes the written output (the first, with variants).
type Result struct {
	Width, Height int
	Bytes         int64
	// Sum is the CRC-32C (Castagnoli) of the written file; with Bytes it
	// lets a reader tell a result a power cut took (Verify).
	Sum uint32
	// Variants are every output, in the options' order, when the options
	// have variants; nil otherwise.
	Variants []persistence.Output
}

// Process decodes src, applies its Exif orientation (JPEG), resizes it per
// opts, encodes it (JPEG, WebP or AVIF at opts.Quality, or PNG) and writes
// it to the object out creates, committed whole or not at all (and not
// durably: see writeResult). Zero-valued Fit, Format and Quality take
// their defaults.
//
// With opts.Variants, src is decoded once, at the scale the variant
// needing the most pixels needs, and every variant is resized from those
// pixels; all are written, then all committed, or none: one unit.
//
// Process owns src from the call: the work reads it until it returns,
// which after ErrTimeout is later than Process, and then closes it when
// it is an io.Closer (a blob.Object is). When src can drop its bytes from
// a cache (blob.CacheDropper), the work does so once it has decoded them.
//
// Errors: ErrUnsupported, ErrTooManyPixels, an undecodable image or a
// recovered *PanicError are permanent (see Permanent); I/O errors (the
// store's among them) and ErrTimeout are worth a retry. After ErrTimeout
// the abandoned work runs on in the background (decoders cannot be
// interrupted) but never commits its result: it aborts it. With
// lim.Nice > 0 the work runs on a thread of that priority (worker.go)
// while the caller waits.
//
// With lim.Budget, Process first waits for a decode slot and for the
// attempt's Footprint in bytes, worked out from the header, and the work
// gives both back when it has returned, abandoned or not (budget.go).
// The timeout counts from then: waiting for memory is not the attempt's
// fault.
func Process(src Source, out Output, opts persistence.Options, lim Limits) (Result, error) {
	return process(src, out, opts, "", lim)
}

// Rebuild is Process making only the output named name (a variant of
// opts, or DefaultVariant) again, from the same decode as Process makes
// for all of opts' outputs, so its bytes are those Process wrote. Its
// Result describes that output alone.
func Rebuild(src Source, out Output, opts persistence.Options, name string, lim Limits) (Result, error) {
	if _, ok := opts.Output(name); !ok {
		closeSource(src)
		return Result{}, permanent(fmt.Errorf("no output named %q", name))
	}
	return process(src, out, opts, name, lim)
}

func process(src Source, out Output, opts persistence.Options, only string, lim Limits) (Result, error) {
	began := time.Now()
	type outcome struct {
		res Result
		err error
	}
	vs, err := variantsOf(opts)
	if err != nil {
		closeSource(src)
		return Result{}, permanent(err)
	}
	info, cfg, err := probeConfig(src, lim.MaxPixels)
	if err != nil {
		closeSource(src)
		return Result{}, err
	}
	var sh share
	fallback := true
	if lim.Budget != nil {
		need, native := safeFootprint(src, info, cfg, vs)
		if ceiling := lim.Budget.Ceiling(); need > ceiling {
			// Admitted under another limit (a node restarted with less, a
			// peer configured otherwise), or needing it only if
			// libjpeg-turbo fails and image/jpeg takes over.
			if sure, _ := safeFootprintOf(src, info, cfg, vs, false); sure > ceiling && sure != math.MaxInt64 {
				closeSource(src)
				return Result{}, permanent(fmt.Errorf("%w: about %.1f MiB, over %.1f MiB", ErrTooMuchMemory, float64(sure)/(1<<20), float64(ceiling)/(1<<20)))
			}
			fallback = false
		}
		sh = lim.Budget.acquire(need, native)
	}
	lim.hooks.onAdmitted()
	// work owns src and the share from here on: whoever runs it, the
	// caller or a worker the caller gave up on, gives them back when it
	// returns.
	work := func(a *attempt) (Result, error) {
		defer sh.release()
		defer closeSource(src)
		st := stageTimes{admit: time.Since(began)}
		res, err := run(src, info, out, vs, only, lim, a, fallback, &st)
		if err == nil && (len(opts.Variants) == 0 || only != "") {
			res.Variants = nil
		}
		if err == nil && only == "" && lim.Stages != nil {
			st.tell(lim.Stages)
		}
		return res, err
	}
	if lim.Timeout <= 0 && lim.Nice <= 0 {
		return work(nil)
	}
	start := func(f func()) { go f() }
	if lim.Nice > 0 {
		start = func(f func()) { onWorker(lim.Nice, f) }
	}
	done := make(chan outcome, 1) // buffered: an abandoned worker must not block
	if lim.Timeout <= 0 {
		start(func() {
			res, err := work(nil)
			done <- outcome{res, err}
		})
		o := <-done
		return o.res, o.err
	}
	a := new(attempt)
	start(func() {
		if lim.hooks != nil && lim.hooks.exited != nil {
			defer close(lim.hooks.exited)
		}
		res, err := work(a)
		done <- outcome{res, err}
	})
	var expire <-chan time.Time
	if lim.hooks == nil || lim.hooks.expire == nil {
		t := time.NewTimer(lim.Timeout)
		defer t.Stop()
		expire = t.C
	}
	select {
	case o := <-done:
		return o.res, o.err
	case <-expire:
	case <-lim.hooks.expired():
	}
	if a.abandon() {
		return Result{}, fmt.Errorf("%w after %v", ErrTimeout, lim.Timeout)
	}
	// The worker won the race: its commit is under way, so its outcome,
	// not a timeout, is the truth about the result.
	o := <-done
	return o.res, o.err
}

// closeSource closes src when it is an io.Closer.
func closeSource(src Source) {
	if c, ok := src.(io.Closer); ok {
		_ = c.Close()
	}
}

// safeFootprint is footprint on the caller's goroutine, where a panic
// (a bug: footprint checks every offset it reads) would take the actor
// down: it asks for the whole budget instead.
func safeFootprint(f Source, info Info, cfg image.Config, vs []persistence.Variant) (need, native int64) {
	return safeFootprintOf(f, info, cfg, vs, true)
}

func safeFootprintOf(f Source, info Info, cfg image.Config, vs []persistence.Variant, fallback bool) (need, native int64) {
	defer func() {
		if recover() != nil {
			need, native = math.MaxInt64, 0
		}
	}()
	return footprintOuts(f, info, cfg, vs, fallback)
}

// attempt decides, once, between the worker committing its result and
// the caller giving up on it; whichever moves the state first wins. A nil attempt
// (no timeout) always commits.
type attempt struct{ state atomic.Int32 }

const (
	running int32 = iota
	committed
	abandoned
)

func (a *attempt) commit() bool  { return a == nil || a.state.CompareAndSwap(running, committed) }
func (a *attempt) abandon() bool { return a.state.CompareAndSwap(running, abandoned) }

// alive lets an abandoned worker stop early between stages; the commit is
// what guarantees correctness.
func (a *attempt) alive() bool { return a == nil || a.state.Load() != abandoned }

// run is one attempt on f, which probe judged to be info, making the
// outputs vs (defaults filled in) from one decode; with only, just the
// output of that name.
func run(f Source, info Info, dst Output, vs []persistence.Variant, only string, lim Limits, a *attempt, fallback bool, st *stageTimes) (res Result, err error) {
	// A decoder panic on hostile bytes fails this image, never the node.
	defer func() {
		if v := recover(); v != nil {
			res, err = Result{}, &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	t := time.Now()
	// Read before the decode drops the source's pages from the cache.
	colour := colourTransform(f, info) // nil: the pixels are sRGB, or taken as such
	dec, err := decodeSourceFallback(f, info, vs, fallback)
	if err != nil {
		return Result{}, err
	}
	defer dec.release()
	if d, ok := f.(blob.CacheDropper); ok && (lim.hooks == nil || !lim.hooks.keepSource) {
		// The source is read, and cold from here on: written once by the
		// upload, read once here. Dropping its pages keeps the page cache
		// from growing with every upload. That matters most on VMs whose
		// memory the host backs on first touch (Firecracker, the
		// reference machine): writing into page cache pages never used
		// runs at about 400 MB/s there, against about 5 GB/s into pages
		// freed and reused (README, Performance).
		d.DropCache()
	}
	st.decode = time.Since(t)
	lim.hooks.onDecoded()
	if !a.alive() {
		return Result{}, errAbandoned
	}

	// Plan on the decoded size in source pixels (a GIF's first frame may be
	// smaller than the screen its header declares); resample maps it onto
	// a DCT-scaled decode.
	if dec.img.Bounds().Empty() {
		return Result{}, permanent(fmt.Errorf("decode %s: empty image", info.Format))
	}
	plans := make([]plan, len(vs))
	for i, v := range vs {
		if plans[i], err = makePlan(dec.w, dec.h, dec.orient, persistence.Single(v)); err != nil {
			return Result{}, permanent(err)
		}
	}
	// The decode, and smaller copies as variants need them. One output
	// is resized from the decode itself, as before variants existed, so
	// its bytes do not change; a rebuilt variant climbs as it did.
	rungs := newLadder(dec, len(vs) > 1)
	defer rungs.release()
	_, gray := dec.img.(*image.Gray)
	pl := newOutPlanes(dec.img, colour, vs, plans)
	defer pl.release()
	// Larger outputs first, so that one half another's size is halved
	// from its planes (outPlanes); with only, just that one.
	order := make([]int, 0, len(vs))
	for i, v := range vs {
		if only == "" || v.Name == only {
			order = append(order, i)
		}
	}
	if len(order) == 0 { // Rebuild checked the name; a guard, not a case
		return Result{}, permanent(fmt.Errorf("no output named %q", only))
	}
	slices.SortStableFunc(order, func(i, j int) int { return plans[j].w*plans[j].h - plans[i].w*plans[i].h })
	// Every output is written before any is committed, so that the
	// variants of an image are one unit: all committed, or all aborted.
	written := make([]*pending, 0, len(order))
	defer func() {
		for _, w := range written {
			w.abort() // no-op once committed
		}
	}()
	outs := make([]persistence.Output, len(vs))
	for n, i := range order {
		v := vs[i]
		t = time.Now()
		var enc image.Image
		if pl.direct(i) {
			enc = pl.get(i, rungs)
		} else {
			img, scale := rungs.pick(plans[i])
			out := resample(img, plans[i], scale)
			if colour != nil && !gray {
				colour.Apply(out)
			}
			enc = encodable(out, v.Format, gray)
		}
		if n == len(order)-1 {
			// Before the last encode: the decoded pixels are done with.
			rungs.release()
			dec.release()
		}
		if !a.alive() {
			return Result{}, errAbandoned
		}
		t = st.lap(&st.resize, t)
		w, err := writeOutput(func() (blob.Writer, error) { return dst(v) }, func(w io.Writer) error {
			return encode(w, enc, v)
		})
		pl.done(i, order[n+1:])
		if err != nil {
			return Result{}, err
		}
		t = st.lap(&st.encode, t)
		st.encode -= w.io
		st.write += w.io
		written = append(written, w)
		size := enc.Bounds().Size()
		outs[i] = persistence.Output{Name: v.Name, Width: size.X, Height: size.Y, Bytes: w.n, Sum: w.sum}
	}
	if only != "" {
		outs = outs[order[0] : order[0]+1]
	}
	lim.hooks.onWritten()
	if !a.commit() {
		return Result{}, errAbandoned
	}
	t = time.Now()
	for _, w := range written {
		if err := w.commit(); err != nil {
			return Result{}, err
		}
	}
	st.lap(&st.write, t)
	o := outs[0]
	return Result{Width: o.Width, Height: o.Height, Bytes: o.Bytes, Sum: o.Sum, Variants: outs}, nil
}
