package actors

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/anthdm/hollywood/actor"

	"github.com/backlot/backlot/persistence"
)

// gatedAppends is a store (with no claims of its own) that records how
// many events each AppendFenced carries and can hold a given call at its
// start until the test releases it.
type gatedAppends struct {
	noClaims
	mu    sync.Mutex
	sizes []int
	gates map[int]chan chan struct{} // call number (from 1) → where it asks to go on
}

func (g *gatedAppends) AppendFenced(ctx context.Context, id string, token uint64, evs ...persistence.Event) ([]persistence.Event, *persistence.Batch, error) {
	g.mu.Lock()
	g.sizes = append(g.sizes, len(evs))
	gate := g.gates[len(g.sizes)]
	g.mu.Unlock()
	if gate != nil {
		goOn := make(chan struct{})
		gate <- goOn
		<-goOn
	}
	return g.noClaims.Store.AppendFenced(ctx, id, token, evs...)
}

func (g *gatedAppends) calls() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int(nil), g.sizes...)
}

// held waits for call n to reach its gate and returns its release.
func (g *gatedAppends) held(t *testing.T, n int) chan struct{} {
	t.Helper()
	select {
	case goOn := <-g.gates[n]:
		return goOn
	case <-time.After(10 * time.Second):
		t.Fatalf("append %d never came (calls so far: %v)", n, g.calls())
		return nil
	}
}

// gatedBatch starts a system on a gatedAppends holding the appends
// numbered in gates, and records a batch of n images in it.
func gatedBatch(t *testing.T, n int, gates ...int) (*gatedAppends, *env, *persistence.Batch) {
	t.Helper()
	g := &gatedAppends{gates: map[int]chan chan struct{}{}}
	for _, k := range gates {
		g.gates[k] = make(chan chan struct{})
	}
	e := newEnv(t, func(c *Config) { g.noClaims = noClaims{c.Store}; c.Store = g })
	src := jpegOf(t, 64, 48)
	srcs := make([][]byte, n)
	for i := range srcs {
		srcs[i] = src
	}
	return g, e, e.create(t, srcs...)
}

// claim is image i of b, as e's pool tells it was claimed.
func claim(e *env, b *persistence.Batch, i int) claimed {
	return claimed{job: persistence.Job{BatchID: b.ID, ImageID: b.Images[i].ID}, pool: e.sys.pool}
}

// firstAppendHeld claims image 0 of b through the manager and waits until
// the supervisor it spawns is inside its first append (gate 1): it
// returns that supervisor and the append's release.
func firstAppendHeld(t *testing.T, g *gatedAppends, e *env, b *persistence.Batch) (*actor.PID, chan struct{}) {
	t.Helper()
	e.sys.engine.Send(e.sys.manager, claim(e, b, 0))
	release := g.held(t, 1)
	pid := e.sys.engine.Registry.GetPID("batch", b.ID+".1") // the first one the manager spawned
	if pid == nil {
		t.Fatalf("no supervisor batch/%s.1", b.ID)
	}
	return pid, release
}

// TestSupervisorSharesAppends: messages that reach a supervisor while its
// store write is under way are recorded together, in one append, and each
// gets its own events: every image of the batch completes, the stream has
// no gap or repeat, and there are fewer appends than messages.
func TestSupervisorSharesAppends(t *testing.T) {
	g, e, b := gatedBatch(t, 4, 1)
	sub := e.sys.Subscribe(b.ID, 0)
	sup, release := firstAppendHeld(t, g, e, b)
	for i := 1; i < len(b.Images); i++ {
		e.sys.engine.Send(sup, claim(e, b, i))
	}
	close(release)

	evs := follow(t, sub)
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("events %v: seq %d at %d, a gap or repeat", types(evs), ev.Seq, i)
		}
	}
	want := 1 + 2*len(b.Images) + 1 // queued, processing and completed each, done
	if len(evs) != want || evs[len(evs)-1].Type != persistence.EventDone {
		t.Fatalf("events %v, want %d ending in done", types(evs), want)
	}
	// The second append holds the claims that waited (sent before the
	// release, so ahead of anything else in the inbox), and may hold the
	// first image's completion too: its resize starts once the first
	// append is released and can end before the flush the second append
	// comes from is read.
	calls := g.calls()
	if waited := len(b.Images) - 1; len(calls) < 2 || calls[0] != 1 || (calls[1] != waited && calls[1] != waited+1) {
		t.Fatalf("appends of %v events: want 1, then the %d claims that waited in one (and perhaps the first image's completion)", calls, waited)
	}
	if len(calls) >= 2*len(b.Images) {
		t.Fatalf("%d appends for %d messages: none shared", len(calls), 2*len(b.Images))
	}
}

// TestSharedAppendRefusedOneByOne: when the shared append is refused
// because one message's event breaks a rule (its image was finished by
// another writer meanwhile), each message is appended alone: the others
// are recorded, the refused one changes nothing, and the batch ends.
func TestSharedAppendRefusedOneByOne(t *testing.T) {
	g, e, b := gatedBatch(t, 3, 1, 2)
	sup, release := firstAppendHeld(t, g, e, b)
	e.sys.engine.Send(sup, claim(e, b, 1))
	e.sys.engine.Send(sup, claim(e, b, 2))
	close(release)
	release = g.held(t, 2) // images 1 and 2's processing, together
	// Another writer finishes image 2 before that append lands.
	at := time.Now().UTC()
	other := []persistence.Event{
		{Type: persistence.EventProcessing, BatchID: b.ID, ImageID: b.Images[2].ID, At: at},
		{Type: persistence.EventCompleted, BatchID: b.ID, ImageID: b.Images[2].ID, At: at},
	}
	if _, _, err := g.noClaims.Store.Append(t.Context(), b.ID, other...); err != nil {
		t.Fatal(err)
	}
	close(release)

	// The shared append holds images 1 and 2's processing, and may hold
	// image 0's completion too (see TestSupervisorSharesAppends); refused,
	// its messages are appended one by one.
	evs := follow(t, e.sys.Subscribe(b.ID, 0))
	if calls := g.calls(); len(calls) < 4 || (calls[1] != 2 && calls[1] != 3) || calls[2] != 1 || calls[3] != 1 {
		t.Fatalf("appends of %v events: want 1, 2 (refused; 3 with image 0's completion), then 1 and 1", calls)
	}
	per := map[string][]persistence.EventType{}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("events %v: a gap or repeat at %d", types(evs), i)
		}
		per[ev.ImageID] = append(per[ev.ImageID], ev.Type)
	}
	for i, im := range b.Images {
		if got := per[im.ID]; len(got) != 2 || got[0] != persistence.EventProcessing || got[1] != persistence.EventCompleted {
			t.Fatalf("image %d's events %v, want processing, completed", i, got)
		}
	}
	if last := evs[len(evs)-1]; last.Type != persistence.EventDone {
		t.Fatalf("events %v, want done last", types(evs))
	}
}

// TestStoppedSupervisorFlushes: a supervisor stopped while messages it
// handled wait for their flush (the node shuts down) appends them all the
// same, as it did before it staged them: none is lost, none redone.
func TestStoppedSupervisorFlushes(t *testing.T) {
	g, e, b := gatedBatch(t, 3, 1)
	sup, release := firstAppendHeld(t, g, e, b)
	e.sys.engine.Send(sup, claim(e, b, 1))
	e.sys.engine.Send(sup, claim(e, b, 2))
	stopped := e.sys.engine.Poison(sup) // after the two claims: their flush comes after it
	close(release)
	select {
	case <-stopped.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the supervisor did not stop")
	}
	got, err := g.noClaims.Store.Batch(t.Context(), b.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i, im := range got.Images {
		if im.Attempts != 1 {
			t.Fatalf("image %d has %d attempts recorded after the stop, want 1 (appends %v)", i, im.Attempts, g.calls())
		}
	}
}
