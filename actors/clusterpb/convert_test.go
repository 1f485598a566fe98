package clusterpb_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/anthdm/hollywood/actor"
	"github.com/anthdm/hollywood/remote"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/backlot/backlot/actors/clusterpb"
	"github.com/backlot/backlot/actors/resize"
	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/blob"
)

// events has one event of every type with every field its type uses.
func events() []persistence.Event {
	at := time.Date(2026, 3, 4, 5, 6, 7, 891011121, time.UTC)
	return []persistence.Event{
		{Seq: 1, Type: persistence.EventQueued, BatchID: "b", Total: 2, At: at,
			Images: []persistence.ImageRef{{ID: "i1", Name: "a.jpg"}, {ID: "i2", Name: "b \"quoted\".png"}}},
		{Seq: 2, Type: persistence.EventProcessing, BatchID: "b", ImageID: "i1", Attempt: 1, At: at},
		{Seq: 3, Type: persistence.EventRetrying, BatchID: "b", ImageID: "i1", Attempt: 1, Error: "timed out", At: at},
		{Seq: 4, Type: persistence.EventCompleted, BatchID: "b", ImageID: "i1", Width: 4096, Height: 1, Bytes: 1 << 40, Sum: 0xdeadbeef, At: at},
		{Seq: 5, Type: persistence.EventFailed, BatchID: "b", ImageID: "i2", Attempts: 3, Error: "unsupported", At: at},
		{Seq: 6, Type: persistence.EventDone, BatchID: "b", Total: 2, Completed: 1, Failed: 1}, // zero At
	}
}

// TestEventRoundTrip: persistence → proto → wire (Hollywood's serializer,
// as remote uses it) → proto → persistence loses nothing.
func TestEventRoundTrip(t *testing.T) {
	in := events()
	d := clusterpb.NewDelivery(in, true, nil)
	got := wire(t, d).(*clusterpb.Delivery)
	out := clusterpb.ToEvents(got.GetEvents())
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n in %+v\nout %+v", in, out)
	}
	if !got.GetFinal() || got.Err() != nil {
		t.Fatalf("final %v err %v", got.GetFinal(), got.Err())
	}
}

func TestJobAndOptionsRoundTrip(t *testing.T) {
	job := persistence.Job{BatchID: "b", ImageID: "i"}
	opts := persistence.Options{Width: 640, Height: 480, Fit: persistence.FitContain, Format: persistence.FormatPNG, Quality: 77}
	pool := actor.NewPID("127.0.0.1:7001", "pool/node")
	wk := resize.Work{Job: job, Opts: opts, Attempt: 2}
	if got := wire(t, clusterpb.FromWork(wk)).(*clusterpb.Work).Resize(); !reflect.DeepEqual(got, wk) {
		t.Fatalf("work %+v, want %+v", got, wk)
	}
	vopts := persistence.Options{Variants: []persistence.Variant{
		{Name: "thumb", Width: 100, Height: 100, Fit: persistence.FitCover, Format: persistence.FormatWebP, Quality: 85},
		{Name: "large", Width: 1600, Height: 1600, Fit: persistence.FitContain, Format: persistence.FormatAVIF, Quality: 60},
	}}
	vw := wire(t, &clusterpb.Work{Job: clusterpb.FromJob(job), Opts: clusterpb.FromOptions(vopts)}).(*clusterpb.Work)
	if got := vw.GetOpts().Persistence(); !reflect.DeepEqual(got, vopts) {
		t.Fatalf("variants: got %+v, want %+v", got, vopts)
	}
	outs := []persistence.Output{{Name: "thumb", Width: 100, Height: 100, Bytes: 2000, Sum: 7}, {Name: "large", Width: 1600, Height: 900, Bytes: 90000, Sum: 9}}
	ev := persistence.Event{Seq: 4, Type: persistence.EventCompleted, BatchID: "b", ImageID: "i", Width: 100, Height: 100, Bytes: 2000, Sum: 7, Variants: outs}
	d := wire(t, clusterpb.NewDelivery([]persistence.Event{ev}, false, nil)).(*clusterpb.Delivery)
	if got := clusterpb.ToEvents(d.GetEvents()); len(got) != 1 || !reflect.DeepEqual(got[0].Variants, outs) {
		t.Fatalf("completed event's variants: %+v", got)
	}
	c := wire(t, &clusterpb.Claimed{Job: clusterpb.FromJob(job), Pool: pool}).(*clusterpb.Claimed)
	if c.GetJob().Persistence() != job || !c.GetPool().Equals(pool) {
		t.Fatalf("claimed %v", c)
	}
	failed := resize.Done{Job: job, Attempt: 3, Took: 1500 * time.Millisecond, Pool: pool, Err: fmt.Errorf("decode: %w", resize.ErrUnsupported)}
	wd := wire(t, clusterpb.FromDone(failed)).(*clusterpb.WorkDone).Resize()
	if wd.Took != failed.Took || wd.Job != job || wd.Attempt != 3 || !wd.Pool.Equals(pool) ||
		!resize.Permanent(wd.Err) || resize.Message(wd.Err) != resize.Message(failed.Err) {
		t.Fatalf("work done %+v, want %+v", wd, failed)
	}
	transient := wire(t, clusterpb.FromDone(resize.Done{Job: job, Attempt: 1, Err: errors.New("timed out")})).(*clusterpb.WorkDone).Resize()
	if transient.Err == nil || resize.Permanent(transient.Err) || transient.Err.Error() != "timed out" {
		t.Fatalf("transient failure %v", transient.Err)
	}
	down := wire(t, clusterpb.FromDone(resize.Done{Job: job, Attempt: 1, Err: fmt.Errorf("open source: %w", blob.ErrUnavailable)})).(*clusterpb.WorkDone).Resize()
	if !errors.Is(down.Err, blob.ErrUnavailable) || resize.Permanent(down.Err) {
		t.Fatalf("a failure of an unreachable blob store crossed as %v", down.Err)
	}
	res := resize.Result{Width: 100, Height: 75, Bytes: 4321, Sum: 0xfeedf00d}
	ok := wire(t, clusterpb.FromDone(resize.Done{Job: job, Attempt: 1, Res: res})).(*clusterpb.WorkDone).Resize()
	if ok.Err != nil || !reflect.DeepEqual(ok.Res, res) {
		t.Fatalf("work done (success) %+v", ok)
	}
	res.Variants = []persistence.Output{{Name: "a", Width: 100, Height: 75, Bytes: 4321, Sum: 0xfeedf00d}, {Name: "b", Width: 10, Height: 7, Bytes: 99, Sum: 3}}
	vok := wire(t, clusterpb.FromDone(resize.Done{Job: job, Attempt: 1, Res: res})).(*clusterpb.WorkDone).Resize()
	if vok.Err != nil || !reflect.DeepEqual(vok.Res, res) || !reflect.DeepEqual(vok.Event(3).Variants, res.Variants) {
		t.Fatalf("work done with variants %+v", vok)
	}
	st := wire(t, &clusterpb.Settle{Job: clusterpb.FromJob(job), Requeue: true, After: durationpb.New(4 * time.Second), FreeSlot: true}).(*clusterpb.Settle)
	if st.GetJob().Persistence() != job || !st.GetRequeue() || st.GetAfter().AsDuration() != 4*time.Second || !st.GetFreeSlot() {
		t.Fatalf("settle %v", st)
	}
	if (*clusterpb.Job)(nil).Persistence() != (persistence.Job{}) {
		t.Fatal("nil job")
	}
}

// TestDeliveryError: the persistence sentinels and ErrMoved survive the wire.
func TestDeliveryError(t *testing.T) {
	for _, sentinel := range []error{persistence.ErrNotFound, persistence.ErrUnavailable, clusterpb.ErrMoved, errors.New("other")} {
		err := wire(t, clusterpb.NewDelivery(nil, true, errorf(sentinel))).(*clusterpb.Delivery).Err()
		if err == nil || err.Error() != errorf(sentinel).Error() {
			t.Fatalf("%v: got %v", sentinel, err)
		}
		if sentinel == persistence.ErrNotFound || sentinel == persistence.ErrUnavailable || sentinel == clusterpb.ErrMoved {
			if !errors.Is(err, sentinel) {
				t.Fatalf("%v lost across the wire: %v", sentinel, err)
			}
		}
	}
}

func errorf(err error) error { return &wrapped{err} }

type wrapped struct{ err error }

func (w *wrapped) Error() string { return "load batch b: " + w.err.Error() }
func (w *wrapped) Unwrap() error { return w.err }

// wire sends msg through what Hollywood's remote does with it: the type
// name, proto bytes, and a lookup of the name on the receiving side.
func wire(t *testing.T, msg proto.Message) any {
	t.Helper()
	var s remote.ProtoSerializer
	b, err := s.Serialize(msg)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Deserialize(b, s.TypeName(msg))
	if err != nil {
		t.Fatalf("deserialize %s: %v", s.TypeName(msg), err)
	}
	return out
}
