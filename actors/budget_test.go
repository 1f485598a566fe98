package actors

import (
	"bytes"
	"testing"

	"github.com/backlot/backlot/actors/resize"
	"github.com/backlot/backlot/persistence"
)

// TestBudgetDefaults: without a budget in Limits, the resizers share one
// of DefaultMaxDecodeMemory bytes with a slot per worker.
func TestBudgetDefaults(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Workers = 3 })
	b := e.sys.Budget()
	if b == nil || b.Slots() != 3 || b.Bytes() != resize.DefaultMaxDecodeMemory {
		t.Fatalf("budget %+v, want %d bytes for 3 slots", b, resize.DefaultMaxDecodeMemory)
	}
}

// TestResizersShareTheBudget: every attempt goes through the budget the
// configuration gives (the node's, shared with the HTTP layer), and once
// the batch is done nothing is held: each attempt gave back its share.
// With a budget smaller than one image (but a ceiling, twice the budget,
// above it), the images run one at a time, each holding all of it.
func TestResizersShareTheBudget(t *testing.T) {
	src := jpegOf(t, 320, 240)
	need, err := resize.Footprint(bytes.NewReader(src), persistence.DefaultOptions(), 0)
	if err != nil {
		t.Fatal(err)
	}
	budget := resize.NewBudget(need*2/3, 4)
	e := newEnv(t, func(c *Config) { c.Workers = 4; c.Limits.Budget = budget })
	if e.sys.Budget() != budget {
		t.Fatal("the system does not use the budget it was given")
	}
	b := e.create(t, src, src, src, src, src, src)
	evs := follow(t, e.sys.Subscribe(b.ID, 0))
	if last := evs[len(evs)-1]; last.Type != persistence.EventDone || last.Completed != 6 {
		t.Fatalf("events %v", types(evs))
	}
	if budget.Peak() != budget.Bytes() || budget.Held() != 0 || budget.Running() != 0 {
		t.Errorf("budget peak %d, held %d, running %d: want %d, 0, 0", budget.Peak(), budget.Held(), budget.Running(), budget.Bytes())
	}
}
