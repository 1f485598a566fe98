package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/backlot/backlot/persistence"
)

// testVariants: a batch's variants are stored with its options, an
// image's completed event records each variant's output, in order, all
// or none (ErrConflict for one missing, one extra or out of order, and
// for variants in a batch without them), and the stored image and event
// give them back.
func testVariants(t *testing.T, op Opener) {
	s := open(t, op)
	opts := persistence.Options{Variants: []persistence.Variant{
		{Name: "thumb", Width: 100, Height: 100, Fit: persistence.FitCover, Format: persistence.FormatWebP, Quality: 85},
		{Name: "large", Width: 1600, Height: 1600, Fit: persistence.FitContain, Format: persistence.FormatAVIF, Quality: 60},
	}}
	images := []persistence.Image{{ID: uuid.NewString(), Name: "a.jpg", Format: "jpeg"}}
	b, queued, err := persistence.NewBatch(uuid.NewString(), time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC), opts, images)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Create(t.Context(), b, queued); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if got := mustBatch(t, s, b.ID); !reflect.DeepEqual(got.Options, opts) {
		t.Fatalf("options %+v, want %+v", got.Options, opts)
	}
	thumb := persistence.Output{Name: "thumb", Width: 100, Height: 100, Bytes: 2000, Sum: 7}
	large := persistence.Output{Name: "large", Width: 1600, Height: 900, Bytes: 90000, Sum: 9}
	done := func(outs ...persistence.Output) persistence.Event {
		ev := completed(b, 0)
		ev.Variants = outs
		return ev
	}
	mustAppend(t, s, b.ID, processing(b, 0))
	for name, ev := range map[string]persistence.Event{
		"none":         done(),
		"one of two":   done(thumb),
		"out of order": done(large, thumb),
		"one extra":    done(thumb, large, thumb),
	} {
		t.Run(name, func(t *testing.T) { refused(t, s, b.ID, persistence.ErrConflict, ev) })
	}
	mustAppend(t, s, b.ID, done(thumb, large))
	want := []persistence.Output{thumb, large}
	if im := mustBatch(t, s, b.ID).Images[0]; im.State != persistence.ImageCompleted || !reflect.DeepEqual(im.Variants, want) {
		t.Errorf("image %+v, want completed with %+v", im, want)
	}
	var found bool
	for _, ev := range mustEvents(t, s, b.ID, 0) {
		if ev.Type == persistence.EventCompleted {
			found = true
			if !reflect.DeepEqual(ev.Variants, want) {
				t.Errorf("completed event's variants %+v, want %+v", ev.Variants, want)
			}
		}
	}
	if !found {
		t.Error("no completed event")
	}

	plain := create(t, s, 1)
	ev := completed(plain, 0)
	ev.Variants = []persistence.Output{thumb}
	mustAppend(t, s, plain.ID, processing(plain, 0))
	t.Run("variants without variants", func(t *testing.T) { refused(t, s, plain.ID, persistence.ErrConflict, ev) })
}
