package http

import (
	"testing"

	"github.com/backlot/backlot/persistence"
)

// TestEventData pins each event's data line to API.md, byte for byte: the
// field names, their order, and zero values that are present, not omitted.
func TestEventData(t *testing.T) {
	tests := []struct {
		name string
		ev   persistence.Event
		want string
	}{
		{"queued", persistence.Event{Seq: 1, Type: persistence.EventQueued, BatchID: "b", Total: 2,
			Images: []persistence.ImageRef{{ID: "i0", Name: "cat.jpg"}, {ID: "i1", Name: "dog.png"}}},
			`{"batchId":"b","total":2,"images":[{"id":"i0","name":"cat.jpg"},{"id":"i1","name":"dog.png"}]}`},
		{"queued without images", persistence.Event{Type: persistence.EventQueued, BatchID: "b"},
			`{"batchId":"b","total":0,"images":[]}`},
		{"queued with empty images", persistence.Event{Type: persistence.EventQueued, BatchID: "b", Images: []persistence.ImageRef{}},
			`{"batchId":"b","total":0,"images":[]}`},
		{"processing", persistence.Event{Type: persistence.EventProcessing, BatchID: "b", ImageID: "i0", Attempt: 1},
			`{"batchId":"b","imageId":"i0","attempt":1}`},
		{"retrying", persistence.Event{Type: persistence.EventRetrying, BatchID: "b", ImageID: "i0", Attempt: 2, Error: "timeout"},
			`{"batchId":"b","imageId":"i0","attempt":2,"error":"timeout"}`},
		{"retrying without a message", persistence.Event{Type: persistence.EventRetrying, BatchID: "b", ImageID: "i0"},
			`{"batchId":"b","imageId":"i0","attempt":0,"error":""}`},
		{"completed", persistence.Event{Type: persistence.EventCompleted, BatchID: "b", ImageID: "i0", Width: 100, Height: 80, Bytes: 4096, Sum: 0x1234},
			`{"batchId":"b","imageId":"i0","url":"/api/images/b/i0","width":100,"height":80,"bytes":4096}`},
		{"failed", persistence.Event{Type: persistence.EventFailed, BatchID: "b", ImageID: "i0", Error: "corrupt", Attempts: 3},
			`{"batchId":"b","imageId":"i0","error":"corrupt","attempts":3}`},
		{"failed before any attempt", persistence.Event{Type: persistence.EventFailed, BatchID: "b", ImageID: "i0", Error: "x"},
			`{"batchId":"b","imageId":"i0","error":"x","attempts":0}`},
		{"done", persistence.Event{Type: persistence.EventDone, BatchID: "b", Total: 3, Completed: 2, Failed: 1},
			`{"batchId":"b","total":3,"completed":2,"failed":1}`},
		{"done with zero counts", persistence.Event{Type: persistence.EventDone, BatchID: "b", Total: 2, Completed: 2},
			`{"batchId":"b","total":2,"completed":2,"failed":0}`},
		{"done of nothing", persistence.Event{Type: persistence.EventDone, BatchID: "b"},
			`{"batchId":"b","total":0,"completed":0,"failed":0}`},
		{"html is escaped, not raw", persistence.Event{Type: persistence.EventFailed, BatchID: "b", ImageID: "i0", Error: "<bad>\n"},
			`{"batchId":"b","imageId":"i0","error":"\u003cbad\u003e\n","attempts":0}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := eventData(&tc.ev)
			if err != nil {
				t.Fatalf("Data: %v", err)
			}
			if string(got) != tc.want {
				t.Errorf("Data =\n %s\nwant\n %s", got, tc.want)
			}
		})
	}
}

func TestEventDataUnknownType(t *testing.T) {
	e := persistence.Event{Type: "resized", BatchID: "b"}
	if got, err := eventData(&e); err == nil {
		t.Errorf("Data of an unknown type = %s, want an error", got)
	}
}
