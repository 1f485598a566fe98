package resize

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/semaphore"
)

// DefaultMaxDecodeMemory is the Budget's bytes unless configured: with it
// (and Go's memory limit at it plus 256 MiB less libjpeg's share, which
// cmd/backlot sets) a node's peak RSS stays under 1 GiB whatever mix of
// valid inputs within the default limits it is given (README,
// Performance: "Memory by bytes"). A 16-bit RGBA PNG at 7000x7000 made a
// thumbnail (378 MiB) still fits, alone.
const DefaultMaxDecodeMemory = 384 << 20

// Budget bounds what a process's resizes hold at once: at most Slots
// attempts decode at a time, and the working sets of those running,
// estimated from their headers before any pixel is decoded (Footprint),
// add up to at most Bytes. An attempt takes its slot and its share before
// it opens its decoder and gives both back only when its work has really
// stopped: an attempt abandoned by its timeout runs on in the background
// (no decoder can be interrupted) and keeps both until it returns, so
// its retry waits for it, and a node never decodes more than Slots images
// at once, timed-out ones included.
//
// An attempt whose estimate is over Bytes takes the whole budget: it runs
// alone, once everything before it has finished, rather than fail an
// image within the pixel limit.
//
// The budget counts what attempts hold, not the garbage they leave: Go
// frees it at its next collection, and a large allocation made before
// then lands beside it (a 392 MB image allocated while the last one's
// 392 MB wait for the collector puts both in the resident set). So an
// attempt of collectAbove bytes or more first has Go collect (runtime.GC),
// and one that takes the whole budget also has the freed memory returned
// to the system (debug.FreeOSMemory): it runs alone, on a clean heap. Waiters are served first come, first
// served (semaphore.Weighted), so a large image is not starved by a
// stream of small ones.
//
// A Budget is shared by every caller of Process that is given it (the
// resizer actors and the HTTP layer's rebuild of a lost result); a nil
// *Budget bounds nothing.
type Budget struct {
	slots, bytes *semaphore.Weighted
	nslots, size int64

	held    atomic.Int64 // bytes held by running attempts
	running atomic.Int64 // attempts holding a slot
	waiting atomic.Int64 // attempts waiting for a slot or bytes
	peak    atomic.Int64 // most bytes ever held at once

	mu       sync.Mutex
	native   int64       // of held, what libjpeg-turbo may have allocated in C
	onNative func(int64) // told native after each change
}

// NewBudget makes a budget of bytes (> 0) for at most slots (> 0)
// attempts at once.
func NewBudget(bytes int64, slots int) *Budget {
	if bytes <= 0 || slots <= 0 {
		panic(fmt.Sprintf("resize.NewBudget(%d, %d): both must be positive", bytes, slots))
	}
	return &Budget{
		slots: semaphore.NewWeighted(int64(slots)), bytes: semaphore.NewWeighted(bytes),
		nslots: int64(slots), size: bytes,
	}
}

// Bytes is the budget's size.
func (b *Budget) Bytes() int64 { return b.size }

// Slots is how many attempts may decode at once.
func (b *Budget) Slots() int { return int(b.nslots) }

// Held is the bytes the running attempts hold now.
func (b *Budget) Held() int64 { return b.held.Load() }

// Peak is the most bytes ever held at once.
func (b *Budget) Peak() int64 { return b.peak.Load() }

// Running is the number of attempts holding a slot now, abandoned ones
// that have not yet returned included.
func (b *Budget) Running() int { return int(b.running.Load()) }

// Waiting is the number of attempts waiting for a slot or for bytes.
func (b *Budget) Waiting() int { return int(b.waiting.Load()) }

// Native is the part of Held that is C memory (libjpeg-turbo's: a
// progressive JPEG's coefficients for the whole image), which Go's
// collector neither sees nor frees.
func (b *Budget) Native() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.native
}

// OnNative has f called with Native after every change, in order, and at
// once with its current value: a process that sets Go's memory limit
// (debug.SetMemoryLimit) lowers it by what C holds, so that the heap's
// garbage and libjpeg's memory together stay within what was meant for
// both. f must not call back into the budget.
func (b *Budget) OnNative(f func(native int64)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.onNative = f
	if f != nil {
		f(b.native)
	}
}

func (b *Budget) addNative(d int64) {
	if d == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.native += d
	if b.onNative != nil {
		b.onNative(b.native)
	}
}

// share is what one attempt holds: a slot, n bytes, native of them C's.
// The zero share (no Budget) holds nothing.
type share struct {
	b      *Budget
	n      int64
	native int64
}

// acquire waits for a slot, then for need bytes (all of the budget when
// need is more), native of them C's. Slots are always taken before bytes
// and both are given back together, so no two attempts can each hold
// what the other waits for.
func (b *Budget) acquire(need, native int64) share {
	if b == nil {
		return share{}
	}
	n := min(max(need, 1), b.size)
	b.waiting.Add(1)
	// Background: an attempt that started waiting is always admitted
	// eventually, since every holder returns (Process's callers wait too).
	_ = b.slots.Acquire(context.Background(), 1)
	_ = b.bytes.Acquire(context.Background(), n)
	b.waiting.Add(-1)
	b.running.Add(1)
	h := b.held.Add(n)
	for p := b.peak.Load(); h > p && !b.peak.CompareAndSwap(p, h); p = b.peak.Load() {
	}
	native = min(max(native, 0), n)
	b.addNative(native)
	switch {
	case n == b.size:
		debug.FreeOSMemory()
	case n >= collectAbove:
		runtime.GC()
	}
	return share{b: b, n: n, native: native}
}

// collectAbove is the footprint from which an attempt has Go collect
// before it starts: a collection costs milliseconds (the heap's pointers
// are few, pixels hold none), so only attempts whose allocations are
// large enough to matter pay for one.
const collectAbove = 64 << 20

// release gives the slot and the bytes back; called once, by whatever
// ran the attempt, when it has returned.
func (s share) release() {
	if s.b == nil {
		return
	}
	s.b.addNative(-s.native)
	s.b.held.Add(-s.n)
	s.b.running.Add(-1)
	s.b.bytes.Release(s.n)
	s.b.slots.Release(1)
}
