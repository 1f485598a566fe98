package persistence_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/backlot/backlot/persistence"
)

// TestEventJSON: the stored encoding of an event round-trips, which every
// backend relies on.
func TestEventJSON(t *testing.T) {
	for _, e := range []persistence.Event{
		{Seq: 1, Type: persistence.EventQueued, BatchID: "b", Total: 1, Images: []persistence.ImageRef{{ID: "i", Name: "n"}}},
		{Seq: 2, Type: persistence.EventRetrying, BatchID: "b", ImageID: "i", Attempt: 1, Error: "e"},
		{Seq: 3, Type: persistence.EventCompleted, BatchID: "b", ImageID: "i", Width: 1, Height: 2, Bytes: 3},
		{Seq: 4, Type: persistence.EventDone, BatchID: "b", Total: 1, Completed: 1},
	} {
		v, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var got persistence.Event
		if err := json.Unmarshal(v, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Errorf("round trip of %s: got %+v, want %+v", v, got, e)
		}
	}
}
