package resize

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backlot/backlot/actors/resize/turbojpeg"
	"github.com/backlot/backlot/persistence"
)

// eventually polls cond (every millisecond, for at most 10 s) until it
// holds: the attempts under test wait on a semaphore, which has no event
// to wait for.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s, still not: %s", what)
		}
		<-tick.C
	}
}

// budgetSource is a PNG (decoded in Go, whatever the build) and its
// footprint for the default options.
func budgetSource(t *testing.T) (string, int64) {
	t.Helper()
	src := writeFile(t, t.TempDir(), "src.png", encodeAs(t, "png", Synthetic(400, 300, 11)))
	est, err := footprintFile(src, persistence.DefaultOptions(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return src, est
}

// gate holds attempts once decoded until opened, counting them.
type gate struct {
	open    chan struct{}
	reached chan struct{} // one send per attempt that got there
	in      atomic.Int32  // attempts decoded and not yet let through
	most    atomic.Int32  // the most ever at the gate at once
}

func newGate(n int) *gate {
	return &gate{open: make(chan struct{}), reached: make(chan struct{}, n)}
}

func (g *gate) hook() {
	n := g.in.Add(1)
	for m := g.most.Load(); n > m && !g.most.CompareAndSwap(m, n); m = g.most.Load() {
	}
	g.reached <- struct{}{}
	<-g.open
	g.in.Add(-1)
}

// TestBudgetBoundsBytes: five attempts whose footprints add up to more
// than the budget, started at once: only as many as fit decode at a
// time, the others wait before decoding, and all finish.
func TestBudgetBoundsBytes(t *testing.T) {
	src, est := budgetSource(t)
	b := NewBudget(2*est+est/2, 10) // room for two
	g := newGate(5)
	lim := Limits{Budget: b, hooks: &hooks{decoded: g.hook}}
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := processFile(src, filepath.Join(filepath.Dir(src), fmt.Sprint("out", i)), persistence.DefaultOptions(), lim)
			errs <- err
		}()
	}
	<-g.reached
	<-g.reached
	eventually(t, "three attempts waiting for the budget", func() bool { return b.Waiting() == 3 })
	if n := g.in.Load(); n != 2 {
		t.Errorf("%d attempts decoded at once, want 2", n)
	}
	if b.Held() != 2*est || b.Running() != 2 {
		t.Errorf("held %d bytes by %d attempts, want %d by 2", b.Held(), b.Running(), 2*est)
	}
	close(g.open)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if m := g.most.Load(); m != 2 {
		t.Errorf("at most %d attempts decoded at once, want 2", m)
	}
	if b.Held() != 0 || b.Running() != 0 || b.Peak() > b.Bytes() {
		t.Errorf("after all: held %d, running %d, peak %d of %d", b.Held(), b.Running(), b.Peak(), b.Bytes())
	}
}

// TestBudgetTimedOutAttemptKeepsShare: an attempt that times out while
// decoding keeps its share and its slot until its decode returns; the
// retry, started as soon as the caller has its ErrTimeout, waits for it
// and only then decodes.
func TestBudgetTimedOutAttemptKeepsShare(t *testing.T) {
	src, est := budgetSource(t)
	b := NewBudget(est, 4) // one attempt at a time
	g := newGate(1)
	first := &hooks{decoded: g.hook, expire: make(chan struct{}), exited: make(chan struct{})}
	go func() { <-g.reached; close(first.expire) }()
	_, err := processFile(src, filepath.Join(filepath.Dir(src), "out"), persistence.DefaultOptions(),
		Limits{Budget: b, Timeout: time.Hour, hooks: first})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("first attempt: %v, want ErrTimeout", err)
	}
	if b.Held() != est || b.Running() != 1 {
		t.Fatalf("after the timeout: held %d by %d attempts, want %d by the abandoned one", b.Held(), b.Running(), est)
	}

	early := make(chan struct{}, 1) // the retry admitted before the first returned
	admitted := make(chan struct{})
	retry := &hooks{admitted: func() {
		select {
		case <-first.exited:
		default:
			early <- struct{}{}
		}
		close(admitted)
	}}
	done := make(chan error, 1)
	go func() {
		_, err := processFile(src, filepath.Join(filepath.Dir(src), "out"), persistence.DefaultOptions(),
			Limits{Budget: b, Timeout: time.Hour, hooks: retry})
		done <- err
	}()
	eventually(t, "the retry waiting for the budget", func() bool { return b.Waiting() == 1 })
	select {
	case <-admitted:
		t.Fatal("the retry started while the timed-out attempt still decodes")
	default:
	}
	close(g.open) // the abandoned decode returns
	<-first.exited
	if err := <-done; err != nil {
		t.Fatalf("retry: %v", err)
	}
	if len(early) > 0 {
		t.Error("the retry was admitted before the timed-out attempt returned")
	}
	if b.Held() != 0 || b.Running() != 0 {
		t.Errorf("after all: held %d, running %d", b.Held(), b.Running())
	}
}

// TestBudgetSlotsCountTimedOutAttempts: with two slots and memory to
// spare, two attempts that timed out while decoding still hold both
// slots, so a third waits; it starts once one of them has really
// returned, while the other still decodes.
func TestBudgetSlotsCountTimedOutAttempts(t *testing.T) {
	src, _ := budgetSource(t)
	b := NewBudget(1<<40, 2)
	gates := [2]*gate{newGate(1), newGate(1)}
	var stuck [2]*hooks
	for i, g := range gates {
		stuck[i] = &hooks{decoded: g.hook, expire: make(chan struct{}), exited: make(chan struct{})}
		go func() { <-g.reached; close(stuck[i].expire) }()
		_, err := processFile(src, filepath.Join(filepath.Dir(src), fmt.Sprint("out", i)), persistence.DefaultOptions(),
			Limits{Budget: b, Timeout: time.Hour, hooks: stuck[i]})
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("attempt %d: %v, want ErrTimeout", i, err)
		}
	}
	if b.Running() != 2 {
		t.Fatalf("%d attempts hold a slot after their timeouts, want 2", b.Running())
	}
	admitted := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := processFile(src, filepath.Join(filepath.Dir(src), "out3"), persistence.DefaultOptions(),
			Limits{Budget: b, hooks: &hooks{admitted: func() { close(admitted) }}})
		done <- err
	}()
	eventually(t, "the third attempt waiting for a slot", func() bool { return b.Waiting() == 1 })
	select {
	case <-admitted:
		t.Fatal("a third decode started while two timed-out ones still run")
	default:
	}
	close(gates[0].open)
	<-stuck[0].exited
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if gates[1].in.Load() != 1 {
		t.Error("the second timed-out attempt should still be decoding")
	}
	close(gates[1].open)
	<-stuck[1].exited
	if b.Running() != 0 || b.Held() != 0 {
		t.Errorf("after all: running %d, held %d", b.Running(), b.Held())
	}
}

// TestBudgetLargerImageRunsAlone: an image whose footprint is over the
// whole budget is not refused: it takes all of it, so it waits for the
// attempts before it and the ones after it wait for it.
func TestBudgetLargerImageRunsAlone(t *testing.T) {
	src, est := budgetSource(t)
	b := NewBudget(est/2, 4)
	g := newGate(3)
	lim := Limits{Budget: b, hooks: &hooks{decoded: g.hook}}
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := processFile(src, filepath.Join(filepath.Dir(src), fmt.Sprint("out", i)), persistence.DefaultOptions(), lim)
			errs <- err
		}()
	}
	<-g.reached
	eventually(t, "two attempts waiting", func() bool { return b.Waiting() == 2 })
	if b.Held() != b.Bytes() {
		t.Errorf("the running attempt holds %d of %d bytes, want all", b.Held(), b.Bytes())
	}
	close(g.open)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if m := g.most.Load(); m != 1 {
		t.Errorf("%d over-budget attempts decoded at once, want 1", m)
	}
}

// TestBudgetErrorsBeforeDecodeHoldNothing: a source that cannot be opened
// or probed fails before it waits for anything.
func TestBudgetErrorsBeforeDecodeHoldNothing(t *testing.T) {
	dir := t.TempDir()
	b := NewBudget(1, 1)
	blocker := b.acquire(1, 0) // the budget is all taken
	defer blocker.release()
	for _, src := range []string{filepath.Join(dir, "missing"), writeFile(t, dir, "junk", []byte("not an image"))} {
		_, err := processFile(src, filepath.Join(dir, "out"), persistence.DefaultOptions(), Limits{Budget: b})
		if err == nil {
			t.Errorf("%s: no error", src)
		}
	}
	if b.Waiting() != 0 {
		t.Errorf("%d attempts waiting", b.Waiting())
	}
}

// TestBudgetNative: while a progressive JPEG decodes through
// libjpeg-turbo, the budget reports the C memory its footprint counts for
// libjpeg's coefficients (OnNative hears of it, in order), and nothing
// once it has returned; a PNG made into a PNG, all in Go, holds none.
func TestBudgetNative(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join("testdata", "mem-progressive-444.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	jpg := writeFile(t, dir, "src.jpg", data)
	png := writeFile(t, dir, "src.png", encodeAs(t, "png", Synthetic(200, 100, 2)))
	b := NewBudget(1<<40, 4)
	var mu sync.Mutex
	var heard []int64
	b.OnNative(func(n int64) { mu.Lock(); heard = append(heard, n); mu.Unlock() })
	for _, c := range []struct {
		src    string
		opts   persistence.Options
		native bool
	}{
		{jpg, persistence.DefaultOptions(), turbojpeg.Available},
		{png, options(50, 50, persistence.FitCover, persistence.FormatPNG), false}, // libjpeg-turbo neither decodes nor encodes
	} {
		var during int64
		lim := Limits{Budget: b, hooks: &hooks{decoded: func() { during = b.Native() }}}
		if _, err := processFile(c.src, filepath.Join(dir, "out"), c.opts, lim); err != nil {
			t.Fatal(err)
		}
		// 1600x1200 4:4:4: 90,000 blocks of 64 two-byte coefficients
		if c.native && during < 128*90_000 || !c.native && during != 0 {
			t.Errorf("%s: %d native bytes held while decoding", filepath.Base(c.src), during)
		}
		if b.Native() != 0 {
			t.Errorf("%s: %d native bytes held after", filepath.Base(c.src), b.Native())
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if heard[0] != 0 || heard[len(heard)-1] != 0 || turbojpeg.Available && len(heard) < 3 {
		t.Errorf("OnNative heard %v: 0 at once, then each change, back to 0", heard)
	}
}
