package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		Completion struct {
			N   int     `json:"n"`
			P95 float64 `json:"p95_ms"`
		} `json:"completion_latency"`
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
	if out := stdout.String(); !strings.Contains(out, "images/s") || !strings.Contains(out, "errors: none") {
		t.Errorf("text report:\n%s", out)
	}
}
