package actors

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/bolt"
)

// noClaims is a store whose queue never yields a job, so a test decides
// what the supervisor is told was claimed.
type noClaims struct{ persistence.Store }

func (noClaims) Claim(ctx context.Context) (persistence.Job, error) {
	<-ctx.Done()
	return persistence.Job{}, ctx.Err()
}

// TestSupervisorResyncsAfterAnotherWriter: a second writer (a duplicate
// supervisor while members disagree on the owner) appends behind the
// supervisor's back; the supervisor fans out its own next event, the
// subscriber finds the gap before it and subscribes again, and the
// supervisor answers from the store: no gap, no repeat.
func TestSupervisorResyncsAfterAnotherWriter(t *testing.T) {
	var st persistence.Store
	e := newEnv(t, func(c *Config) { st = c.Store; c.Store = noClaims{c.Store} })
	src := jpegOf(t, 64, 48)
	b := e.create(t, src, src)
	sub := e.sys.Subscribe(b.ID, 0)
	defer sub.Close()
	var got []persistence.Event
	next := func() {
		t.Helper()
		select {
		case ch, ok := <-sub.C():
			if !ok {
				t.Fatalf("subscription closed after %v", got)
			}
			got = append(got, ch.Events...)
		case <-time.After(10 * time.Second):
			t.Fatalf("no chunk after %v", got)
		}
	}
	next() // queued
	other := persistence.Event{Type: persistence.EventProcessing, BatchID: b.ID, ImageID: b.Images[0].ID, At: time.Now().UTC()}
	if _, _, err := st.Append(t.Context(), b.ID, other); err != nil {
		t.Fatal(err)
	}
	e.sys.engine.Send(e.sys.manager, claimed{job: persistence.Job{BatchID: b.ID, ImageID: b.Images[1].ID}, pool: e.sys.pool})
	for len(got) < 3 {
		next()
	}
	for i, ev := range got[:3] {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("seqs %v: a gap or repeat", got)
		}
	}
	if got[1].ImageID != b.Images[0].ID || got[2].ImageID != b.Images[1].ID {
		t.Fatalf("events %+v: want the other writer's, then ours", got)
	}
}

// TestSupervisorClosesABatchAnotherWriterFinished: another writer records
// the last terminal event but one behind the supervisor's back; the
// supervisor's own last terminal event then leaves every image terminal in
// the store though its mirror did not expect it, and the store adds done
// to that write (when each writer judged by its own mirror, as before the
// store decided done, neither added it and the batch never ended).
func TestSupervisorClosesABatchAnotherWriterFinished(t *testing.T) {
	var st persistence.Store
	e := newEnv(t, func(c *Config) { st = c.Store; c.Store = noClaims{c.Store} })
	src := jpegOf(t, 64, 48)
	b := e.create(t, src, src)
	sub := e.sys.Subscribe(b.ID, 0)
	first := <-sub.C() // the supervisor has loaded the batch
	im0 := b.Images[0].ID
	other := []persistence.Event{
		{Type: persistence.EventProcessing, BatchID: b.ID, ImageID: im0, At: time.Now().UTC()},
		{Type: persistence.EventCompleted, BatchID: b.ID, ImageID: im0, Width: 1, Height: 1, Bytes: 1, At: time.Now().UTC()},
	}
	if _, _, err := st.Append(t.Context(), b.ID, other...); err != nil {
		t.Fatal(err)
	}
	e.sys.engine.Send(e.sys.manager, claimed{job: persistence.Job{BatchID: b.ID, ImageID: b.Images[1].ID}, pool: e.sys.pool})
	evs := append(first.Events, follow(t, sub)...)
	if got := types(evs); len(got) != 6 || got[5] != persistence.EventDone {
		t.Fatalf("stream %v: want the whole log ending in done", got)
	}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("seqs of %v: a gap or repeat", types(evs))
		}
	}
}

// diesAfterDone is a store whose process "dies" right after the write
// that recorded a batch's done: the write is committed, and its caller
// hears only an error, as a SIGKILL between the commit and the reply
// would leave it.
type diesAfterDone struct {
	persistence.Store
	died chan struct{}
	once sync.Once
}

func (s *diesAfterDone) AppendFenced(ctx context.Context, id string, token uint64, evs ...persistence.Event) ([]persistence.Event, *persistence.Batch, error) {
	out, b, err := s.Store.AppendFenced(ctx, id, token, evs...)
	if err == nil && len(out) > 0 && out[len(out)-1].Type == persistence.EventDone {
		s.once.Do(func() { close(s.died) })
		return nil, nil, errors.New("the process died after the commit")
	}
	return out, b, err
}

// TestCrashAfterLastTerminal: a crash right after the write of an image's
// last terminal event (the supervisor never learns it was written, the
// job is never acked) still leaves exactly one done, written by the store
// in that same write, with nothing to repair: after a restart on the same
// store, the redelivered job finds its image terminal and is acked, and
// the log is unchanged.
func TestCrashAfterLastTerminal(t *testing.T) {
	dir := t.TempDir()
	blobs := blobsAt(t, dir)
	path := filepath.Join(dir, "test.db")
	st, err := bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	dying := &diesAfterDone{Store: st, died: make(chan struct{})}
	sys, err := Start(t.Context(), Config{Store: dying, Blobs: blobs, Workers: 2, RetryBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	src := jpegOf(t, 64, 48)
	e := &env{store: st, blobs: blobs, sys: sys}
	b := e.create(t, src, src, src)
	select {
	case <-dying.died:
	case <-time.After(30 * time.Second):
		t.Fatal("the batch's last terminal event was never written")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sys.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	before, err := st.Events(t.Context(), b.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	st, err = bolt.Open(path) // what was in flight is pending again
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sys, err = Start(t.Context(), Config{Store: st, Blobs: blobs, Workers: 2, RetryBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := sys.Stop(ctx); err != nil {
			t.Error(err)
		}
	}()
	waitFor(t, 30*time.Second, "the redelivered jobs acked", func() bool {
		p, f, err := st.QueueDepth(t.Context())
		return err == nil && p == 0 && f == 0
	})
	after, err := st.Events(t.Context(), b.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(after, before) {
		t.Fatalf("the restart changed the log:\n%v\nto\n%v", types(before), types(after))
	}
	dones, terminals := 0, map[string]int{}
	for _, ev := range after {
		switch {
		case ev.Type == persistence.EventDone:
			dones++
		case ev.Type.Terminal():
			terminals[ev.ImageID]++
		}
	}
	if dones != 1 || after[len(after)-1].Type != persistence.EventDone || len(terminals) != 3 {
		t.Fatalf("log %v: want one terminal event per image and exactly one done, last", types(after))
	}
	for id, n := range terminals {
		if n != 1 {
			t.Fatalf("image %s has %d terminal events: %v", id, n, types(after))
		}
	}
}
