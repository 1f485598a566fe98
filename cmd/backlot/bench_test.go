package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backlot/backlot/bench"
)

// TestBenchCommand runs `backlot bench` against a real in-process node and
// checks its JSON report.
func TestBenchCommand(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	path := filepath.Join(t.TempDir(), "report.json")
	var stdout, stderr strings.Builder
	err := benchCommand(t.Context(), []string{
		"--url", n.url, "--total", "8", "--per-batch", "2", "--in-flight", "2",
		"--size", "320x240", "--json", path, "--progress", "lines",
	}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("bench: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		ImagesPerSec float64 `json:"images_per_sec"`
		ErrorTotal   int     `json:"error_total"`
		Errors       []any   `json:"errors"`
		Batches      struct{ Started, Done int }
		Images       struct {
			Sent, Accepted, Completed, Failed, Unfinished int
		}
		Completion bench.Latency        `json:"completion_latency"`
		Tail       *bench.Tail          `json:"tail"`
		Server     *bench.ServerMetrics `json:"server"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("%v in %s", err, raw)
	}
	if r.Images.Completed != 8 || r.Images.Failed != 0 || r.Images.Unfinished != 0 || r.ErrorTotal != 0 || len(r.Errors) != 0 {
		t.Errorf("report: %s", raw)
	}
	if r.ImagesPerSec <= 0 || r.Batches.Done != 4 || r.Completion.N != 4 || r.Completion.P95 <= 0 {
		t.Errorf("report: %s", raw)
	}
	if out := stdout.String(); !strings.Contains(out, "images/s") || !strings.Contains(out, "errors: none") ||
		!strings.Contains(out, "image decode") || !strings.Contains(out, "tail (ms, means)") {
		t.Errorf("text report:\n%s", out)
	}

	// The server's per-image stages, scraped from its /metrics: one of
	// each per completed image, and consistent with the client's view.
	sm := r.Server
	if sm == nil || sm.Attempt == nil || sm.GCPauses == nil || sm.SchedLatency == nil {
		t.Fatalf("no server metrics in the report: %s", raw)
	}
	var decodeToEncode float64
	for _, stage := range []string{"admit", "decode", "resize", "encode", "write"} {
		l, ok := sm.Resize[stage]
		if !ok || l.N != 8 || l.Mean <= 0 || l.P50 > l.P99 || l.P99 > l.Max {
			t.Errorf("stage %s: %+v (8 images) in %s", stage, l, raw)
		}
		if stage == "decode" || stage == "resize" || stage == "encode" {
			decodeToEncode += l.Mean
		}
	}
	if sm.Attempt.N != 8 {
		t.Errorf("attempts: %+v", sm.Attempt)
	}
	// The stages follow one another inside the attempt (which also opens
	// the source); an image's decode to encode lies inside its batch's
	// completion as the client saw it (upload start to done). Not inside
	// the client's "work" (first processing to last completed): the
	// resizer may start before the processing event reaches the client,
	// which a store that commits fast makes likely.
	if sm.ResizeSumMeanMs > sm.Attempt.Mean+0.002 {
		t.Errorf("stages add up to %.3f ms, the attempts' mean is %.3f ms", sm.ResizeSumMeanMs, sm.Attempt.Mean)
	}
	if decodeToEncode > r.Completion.Mean {
		t.Errorf("decode+resize+encode %.3f ms per image, over the batches' completion %.3f ms", decodeToEncode, r.Completion.Mean)
	}
	if s := sm.Store["append"]; s.N == 0 {
		t.Errorf("no store appends in %+v", sm.Store)
	}
	if tl := r.Tail; tl == nil || tl.N < 1 || tl.Slowest.Completion < tl.All.Completion || tl.All.Work <= 0 {
		t.Errorf("tail: %+v", r.Tail)
	}
}
