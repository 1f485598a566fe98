package main

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/backlot/backlot/http/sse"
)

// evData is the union of the event payloads of API.md.
type evData struct {
	BatchID   string `json:"batchId"`
	ImageID   string `json:"imageId"`
	Attempt   int    `json:"attempt"`
	Attempts  int    `json:"attempts"`
	Error     string `json:"error"`
	URL       string `json:"url"`
	Width     int    `json:"width"`
	Height    int    `json:"height"`
	Bytes     int64  `json:"bytes"`
	Total     *int   `json:"total"`
	Completed *int   `json:"completed"`
	Failed    *int   `json:"failed"`
	Images    []struct {
		ID, Name string
	} `json:"images"`
	Variants []struct {
		Name, URL string
		Bytes     int64
	} `json:"variants"`
}

func parseData(t testing.TB, ev sse.Event) evData {
	t.Helper()
	var d evData
	if err := json.Unmarshal([]byte(ev.Data), &d); err != nil {
		t.Fatalf("event %s %s: data %q: %v", ev.ID, ev.Name, ev.Data, err)
	}
	return d
}

// outcome is what a full event sequence says about a batch.
type outcome struct {
	terminal  map[string]string // image id → completed|failed
	completed int
	failed    int
	attempts  map[string]int // highest processing attempt per image
}

// checkSequence asserts API.md's guarantees on a batch's whole sequence
// (as a subscriber from the start sees it): ids 1…N with no gap, queued
// first, every image exactly one terminal event, done once and last with
// the right counts, attempts numbered 1, 2, 3 … per image.
func checkSequence(t testing.TB, batchID string, evs []sse.Event) outcome {
	t.Helper()
	if len(evs) == 0 {
		t.Fatal("no events")
	}
	o := outcome{terminal: map[string]string{}, attempts: map[string]int{}}
	images := map[string]bool{}
	for i, ev := range evs {
		if ev.ID != strconv.Itoa(i+1) {
			t.Fatalf("event %d has id %q: gap or repeat in %s", i+1, ev.ID, names(evs))
		}
		d := parseData(t, ev)
		if d.BatchID != batchID {
			t.Fatalf("event %s: batchId %q", ev.ID, d.BatchID)
		}
		switch ev.Name {
		case "queued":
			if i != 0 {
				t.Fatalf("queued at position %d", i+1)
			}
			if d.Total == nil || *d.Total != len(d.Images) {
				t.Fatalf("queued: total %v, %d images", d.Total, len(d.Images))
			}
			for _, im := range d.Images {
				images[im.ID] = true
			}
		case "processing":
			if d.Attempt != o.attempts[d.ImageID]+1 {
				t.Fatalf("event %s: processing attempt %d after %d", ev.ID, d.Attempt, o.attempts[d.ImageID])
			}
			o.attempts[d.ImageID] = d.Attempt
		case "retrying":
			if d.Error == "" || d.Attempt != o.attempts[d.ImageID] {
				t.Fatalf("event %s: retrying %+v", ev.ID, d)
			}
		case "completed", "failed":
			if prev, dup := o.terminal[d.ImageID]; dup {
				t.Fatalf("event %s: second terminal event (%s after %s) for image %s", ev.ID, ev.Name, prev, d.ImageID)
			}
			o.terminal[d.ImageID] = ev.Name
			if ev.Name == "completed" {
				o.completed++
				url := "/api/images/" + batchID + "/" + d.ImageID
				if len(d.Variants) > 0 { // API.md: the image's url is its first variant's
					url += "/" + d.Variants[0].Name
				}
				if d.URL != url || d.Width <= 0 || d.Height <= 0 || d.Bytes <= 0 {
					t.Fatalf("completed: %+v", d)
				}
			} else {
				o.failed++
				if d.Error == "" {
					t.Fatalf("failed without error: %+v", d)
				}
			}
		case "done":
			if i != len(evs)-1 {
				t.Fatalf("done at %d of %d", i+1, len(evs))
			}
			if d.Total == nil || d.Completed == nil || d.Failed == nil ||
				*d.Total != len(images) || *d.Completed != o.completed || *d.Failed != o.failed {
				t.Fatalf("done %s, saw %d completed %d failed of %d", ev.Data, o.completed, o.failed, len(images))
			}
		default:
			t.Fatalf("unknown event %q", ev.Name)
		}
		if d.ImageID != "" && !images[d.ImageID] {
			t.Fatalf("event %s for unknown image %s", ev.ID, d.ImageID)
		}
	}
	if last := evs[len(evs)-1]; last.Name != "done" {
		t.Fatalf("last event is %s, not done: %s", last.Name, names(evs))
	}
	if len(o.terminal) != len(images) {
		t.Fatalf("%d terminal events for %d images", len(o.terminal), len(images))
	}
	return o
}
