package bench

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// config parses bench flags for a test; small images keep runs quick.
func config(t *testing.T, args ...string) Config {
	t.Helper()
	c, err := ParseFlags(append([]string{"--size", "64x48", "--progress", "off", "--calibrate=false"}, args...), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func run(t *testing.T, ctx context.Context, c Config) *Report {
	t.Helper()
	files, err := Load(c)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Run(ctx, c, files, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func errorCounts(r *Report) map[string]int {
	m := map[string]int{}
	for _, e := range r.Errors {
		m[e.Kind] = e.Count
	}
	return m
}

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts fakeOptions
	}{
		{"backlot reply", fakeOptions{}},
		{"node reply without events URL", fakeOptions{nodeReply: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, url := startFake(t, tc.opts)
			c := config(t, "--url", url+"/", "--total", "7", "--per-batch", "2", "--in-flight", "3", "--width", "30", "--height", "20")
			r := run(t, t.Context(), c)

			if r.ErrorTotal != 0 || len(r.Errors) != 0 {
				t.Fatalf("errors: %+v", r.Errors)
			}
			want := Images{Sent: 7, Accepted: 7, Completed: 7}
			if r.Images != want {
				t.Errorf("images %+v, want %+v", r.Images, want)
			}
			if r.Batches != (Batches{Started: 4, Done: 4}) {
				t.Errorf("batches %+v", r.Batches)
			}
			if r.ImagesPerSec <= 0 || r.WallSeconds <= 0 {
				t.Errorf("images/s %v over %v s", r.ImagesPerSec, r.WallSeconds)
			}
			if r.Upload.N != 4 || r.Completion.N != 4 || r.Upload.P50 <= 0 || r.Completion.P99 < r.Completion.P50 {
				t.Errorf("latencies %+v %+v", r.Upload, r.Completion)
			}
			if err := r.Check(false); err != nil {
				t.Error(err)
			}

			ups, _ := f.snapshot()
			if len(ups) != 4 {
				t.Fatalf("%d uploads, want 4", len(ups))
			}
			sizes := map[int]int{}
			names := map[string]bool{}
			for _, u := range ups {
				if u.fields["width"] != "30" || u.fields["height"] != "20" {
					t.Errorf("fields %v", u.fields)
				}
				sizes[len(u.files)]++
				for _, file := range u.files {
					names[file.name] = true
					if file.w != 64 || file.h != 48 || file.ctype != "image/jpeg" {
						t.Errorf("file %+v", file)
					}
				}
			}
			if sizes[2] != 3 || sizes[1] != 1 {
				t.Errorf("batch sizes %v, want three of 2 and one of 1", sizes)
			}
			if len(names) != 4 {
				t.Errorf("distinct images %v, want the 4 seeds", names)
			}
		})
	}
}

func TestRunRoundRobin(t *testing.T) {
	a, urlA := startFake(t, fakeOptions{})
	b, urlB := startFake(t, fakeOptions{nodeReply: true})
	c := config(t, "--url", urlA+","+urlB, "--total", "8", "--in-flight", "3")
	r := run(t, t.Context(), c)
	if r.Images.Completed != 8 || r.ErrorTotal != 0 {
		t.Fatalf("%+v %+v", r.Images, r.Errors)
	}
	upsA, _ := a.snapshot()
	upsB, _ := b.snapshot()
	if len(upsA) != 2 || len(upsB) != 2 {
		t.Errorf("uploads %d and %d, want 2 each", len(upsA), len(upsB))
	}
}

func TestRunCountsErrors(t *testing.T) {
	_, url := startFake(t, fakeOptions{
		reject: func(n int) (int, string) {
			switch n {
			case 2:
				return 503, `{"error":"the queue is full","code":"queue_full"}`
			case 3:
				return 500, `oops`
			}
			return 0, ""
		},
		failImage: func(n, i int) bool { return n == 4 && i == 1 },
	})
	c := config(t, "--url", url, "--total", "10", "--in-flight", "1")
	r := run(t, t.Context(), c)

	want := map[string]int{"upload: http 503 queue_full": 1, "upload: http 500": 1, "image failed": 1}
	got := errorCounts(r)
	if len(got) != len(want) {
		t.Errorf("errors %+v, want %v", r.Errors, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%q: %d, want %d (all: %+v)", k, got[k], n, r.Errors)
		}
	}
	if r.ErrorTotal != 3 {
		t.Errorf("error total %d", r.ErrorTotal)
	}
	if r.Images != (Images{Sent: 10, Accepted: 6, Completed: 5, Failed: 1}) {
		t.Errorf("images %+v", r.Images)
	}
	for _, e := range r.Errors {
		if e.Kind == "upload: http 503 queue_full" && e.Example != "the queue is full" {
			t.Errorf("example %q", e.Example)
		}
	}
	if r.Check(false) == nil {
		t.Error("errors must fail the run")
	}
	if err := r.Check(true); err != nil {
		t.Errorf("--allow-errors: %v", err)
	}
}

// A stream that breaks before done is an error, and the harness reconnects
// with Last-Event-ID as EventSource does, so the batch still completes.
func TestRunReconnects(t *testing.T) {
	f, url := startFake(t, fakeOptions{cutAfter: 2, retryMS: 1})
	c := config(t, "--url", url, "--total", "6", "--in-flight", "2")
	r := run(t, t.Context(), c)
	if got := errorCounts(r); len(got) != 1 || got["sse: stream ended before done"] != 3 {
		t.Errorf("errors %+v", r.Errors)
	}
	if r.Images.Completed != 6 || r.Batches.Done != 3 {
		t.Errorf("%+v %+v", r.Images, r.Batches)
	}
	_, resumes := f.snapshot()
	if strings.Join(resumes, ",") != "2,2,2" {
		t.Errorf("Last-Event-ID sent on reconnect: %q", resumes)
	}
}

// A stream refused with 503 and Retry-After is asked for again after that
// long, more often than maxReconnects allows broken streams; Trace gets
// every batch with the events its stream showed.
func TestRunRetryAfterAndTrace(t *testing.T) {
	_, url := startFake(t, fakeOptions{refuse: maxReconnects + 1})
	c := config(t, "--url", url, "--total", "2", "--per-batch", "2")
	var mu sync.Mutex
	var traces []Trace
	c.Trace = func(tr Trace) {
		mu.Lock()
		defer mu.Unlock()
		traces = append(traces, tr)
	}
	start := time.Now()
	r := run(t, t.Context(), c)
	if got := errorCounts(r); len(got) != 1 || got["sse: http 503 store_unavailable"] != maxReconnects+1 || r.Images.Completed != 2 {
		t.Fatalf("errors %+v, images %+v", r.Errors, r.Images)
	}
	if took := time.Since(start); took < time.Duration(maxReconnects+1)*time.Second {
		t.Errorf("done after %v: Retry-After not honoured", took)
	}
	if len(traces) != 1 {
		t.Fatalf("%d traces", len(traces))
	}
	tr := traces[0]
	if tr.BatchID == "" || tr.Status != 202 || tr.Images != 2 || !tr.Done || len(tr.Failures) != maxReconnects+1 || tr.URL != url {
		t.Fatalf("trace %+v", tr)
	}
	var names []string
	for _, ev := range tr.Events {
		names = append(names, ev.ID+":"+ev.Name)
	}
	if got := strings.Join(names, " "); got != "1:queued 2:processing 3:completed 4:processing 5:completed 6:done" {
		t.Errorf("traced events %s", got)
	}
}

func TestRunTimeouts(t *testing.T) {
	t.Run("batch timeout", func(t *testing.T) {
		_, url := startFake(t, fakeOptions{hold: true})
		c := config(t, "--url", url, "--total", "4", "--in-flight", "2", "--batch-timeout", "50ms")
		r := run(t, t.Context(), c)
		got := errorCounts(r)
		if got["timeout: waiting for done"] != 2 || r.ErrorTotal != 2 {
			t.Errorf("errors %+v", r.Errors)
		}
		if r.Images != (Images{Sent: 4, Accepted: 4, Unfinished: 4}) || r.ImagesPerSec != 0 {
			t.Errorf("images %+v, %v/s", r.Images, r.ImagesPerSec)
		}
		if !strings.Contains(r.Errors[0].Example, "--batch-timeout") {
			t.Errorf("example %q", r.Errors[0].Example)
		}
	})
	t.Run("duration then drain", func(t *testing.T) {
		_, url := startFake(t, fakeOptions{hold: true})
		c := config(t, "--url", url, "--duration", "20ms", "--drain", "30ms", "--in-flight", "2")
		r := run(t, t.Context(), c)
		if r.Batches.Started < 2 || r.ErrorTotal != r.Batches.Started {
			t.Fatalf("batches %+v, errors %+v", r.Batches, r.Errors)
		}
		if !strings.Contains(r.Errors[0].Example, "hard deadline") {
			t.Errorf("example %q", r.Errors[0].Example)
		}
	})
}

// TestRunOpenLoop: with --rate, batches start on their schedule whatever
// earlier ones do: against a server that never finishes one, every batch
// is still uploaded (closed loop would stop at --in-flight), until the cap
// on outstanding batches holds later ones back; those start late, by at
// least the time a slot took to free (a timeout), and the lag is reported.
func TestRunOpenLoop(t *testing.T) {
	t.Run("does not wait for earlier batches", func(t *testing.T) {
		f, url := startFake(t, fakeOptions{hold: true})
		c := config(t, "--url", url, "--total", "6", "--per-batch", "1", "--rate", "100", "--in-flight", "10", "--batch-timeout", "300ms")
		r := run(t, t.Context(), c)
		if ups, _ := f.snapshot(); len(ups) != 6 {
			t.Fatalf("%d uploads, want all 6", len(ups))
		}
		if r.StartLag == nil || r.StartLag.N != 6 || r.Workload.RatePerSec != 100 {
			t.Fatalf("start lag %+v, workload %+v", r.StartLag, r.Workload)
		}
	})
	t.Run("the cap makes batches late", func(t *testing.T) {
		f, url := startFake(t, fakeOptions{hold: true})
		c := config(t, "--url", url, "--total", "4", "--per-batch", "1", "--rate", "100", "--in-flight", "2", "--batch-timeout", "300ms")
		r := run(t, t.Context(), c)
		if ups, _ := f.snapshot(); len(ups) != 4 {
			t.Fatalf("%d uploads", len(ups))
		}
		// batch 3 was due at 20 ms and could start only once batch 1 timed
		// out, at 300 ms or later
		if r.StartLag.Max < 250 {
			t.Fatalf("start lag %+v: want a batch held back by the cap", *r.StartLag)
		}
	})
	t.Run("latency counts from the schedule", func(t *testing.T) {
		// all six due at once, one at a time: the last waits for five
		// others, and its latency includes that wait
		_, url := startFake(t, fakeOptions{})
		c := config(t, "--url", url, "--total", "6", "--per-batch", "1", "--rate", "100000", "--in-flight", "1")
		r := run(t, t.Context(), c)
		if r.ErrorTotal != 0 || r.Images.Completed != 6 || r.Completion.N != 6 {
			t.Fatalf("images %+v, errors %+v", r.Images, r.Errors)
		}
		if r.StartLag.Max <= 0 || r.Completion.Max < r.StartLag.Max {
			t.Errorf("completion %+v shorter than the start lag %+v", r.Completion, *r.StartLag)
		}
	})
}

// TestRunStages: each done batch's time splits into queue, work and
// finish, as its events arrived, and the 202s' Server-Timing metrics are
// summarised by name.
func TestRunStages(t *testing.T) {
	_, url := startFake(t, fakeOptions{})
	r := run(t, t.Context(), config(t, "--url", url, "--total", "6", "--per-batch", "2"))
	for name, l := range map[string]Latency{"queue": r.Stages.Queue, "work": r.Stages.Work, "finish": r.Stages.Finish} {
		if l.N != 3 || l.Max < 0 || l.P50 > r.Completion.Max {
			t.Errorf("%s %+v (completion %+v)", name, l, r.Completion)
		}
	}
	if up := r.Stages.Upload; len(up) != 3 || up["read"].N != 3 || up["read"].P50 != 1.5 || up["db"].Max != 0.25 || up["commit"].Mean != 2 {
		t.Errorf("server timings %+v", up)
	}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil || !strings.Contains(b.String(), "queue (202 to work)") || !strings.Contains(b.String(), "server commit") {
		t.Errorf("report text lacks the stages: %v\n%s", err, b.String())
	}
}

// TestRunCalibrates: --calibrate times the pipeline alone on the workload
// (real resizes in this process) and takes it off each process's CPU per
// image.
func TestRunCalibrates(t *testing.T) {
	_, url := startFake(t, fakeOptions{})
	c := config(t, "--url", url, "--total", "60", "--calibrate", "--pid", strconv.Itoa(os.Getpid()))
	r := run(t, t.Context(), c)
	if r.Pipeline == nil || r.Pipeline.Images < 2*c.Seeds || r.Pipeline.CPUMsPerImage <= 0 {
		t.Fatalf("pipeline %+v", r.Pipeline)
	}
	p := r.Processes[0]
	if p.CPUMsPerImage <= 0 || p.BeyondPipelineMs != p.CPUMsPerImage-r.Pipeline.CPUMsPerImage {
		t.Fatalf("process %+v, pipeline %+v", p, r.Pipeline)
	}
	// The split adds up, on both sides (to rounding: CPU seconds are
	// rounded to the millisecond).
	// The resize loop is user-space work: its user time must outweigh its
	// system time (a swapped split would not).
	if r.Pipeline.UserMsPerImage <= r.Pipeline.SystemMsPerImage ||
		math.Abs(r.Pipeline.UserMsPerImage+r.Pipeline.SystemMsPerImage-r.Pipeline.CPUMsPerImage) > 0.002/float64(r.Pipeline.Images) ||
		math.Abs(p.BeyondPipelineUserMs+p.BeyondPipelineSystemMs-p.BeyondPipelineMs) > 1e-9 {
		t.Fatalf("split: process %+v, pipeline %+v", p, r.Pipeline)
	}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil || !strings.Contains(b.String(), "pipeline alone") || !strings.Contains(b.String(), "beyond the pipeline (user ") {
		t.Errorf("report text: %v\n%s", err, b.String())
	}
}

func TestRunDuration(t *testing.T) {
	_, url := startFake(t, fakeOptions{})
	c := config(t, "--url", url, "--duration", "100ms", "--in-flight", "2")
	r := run(t, t.Context(), c)
	if r.Batches.Started == 0 || r.Batches.Done != r.Batches.Started || r.ErrorTotal != 0 {
		t.Errorf("batches %+v, errors %+v", r.Batches, r.Errors)
	}
}

func TestRunToken(t *testing.T) {
	_, url := startFake(t, fakeOptions{token: "s3cret"})
	r := run(t, t.Context(), config(t, "--url", url, "--total", "2", "--token", "s3cret"))
	if r.ErrorTotal != 0 || r.Images.Completed != 2 {
		t.Errorf("with the token: %+v %+v", r.Images, r.Errors)
	}
	r = run(t, t.Context(), config(t, "--url", url, "--total", "2"))
	if got := errorCounts(r); got["upload: http 401 unauthorized"] != 1 {
		t.Errorf("without the token: %+v", r.Errors)
	}
}

func TestRunWarmup(t *testing.T) {
	f, url := startFake(t, fakeOptions{})
	r := run(t, t.Context(), config(t, "--url", url, "--total", "6", "--per-batch", "3", "--warmup", "4"))
	ups, _ := f.snapshot()
	if len(ups) != 4 { // warmup 3+1, then 3+3
		t.Errorf("%d uploads", len(ups))
	}
	if r.Warmup == nil || r.Warmup.Images != 4 || r.Images.Sent != 6 || r.Batches.Started != 2 {
		t.Errorf("warmup %+v, images %+v", r.Warmup, r.Images)
	}
}

func TestRunInterrupted(t *testing.T) {
	f, url := startFake(t, fakeOptions{hold: true})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-f.seen
		cancel()
	}()
	r := run(t, ctx, config(t, "--url", url, "--total", "4", "--in-flight", "1"))
	if !r.Interrupted || r.Check(true) == nil {
		t.Errorf("interrupted %v, check %v", r.Interrupted, r.Check(true))
	}
	if r.ErrorTotal != 0 {
		t.Errorf("an interrupted batch is no timeout: %+v", r.Errors)
	}
}

func TestRunFiles(t *testing.T) {
	imgs, err := Generate(Size{40, 30}, 1)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), `a "b".jpg`)
	if err := os.WriteFile(path, imgs[0].Data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, url := startFake(t, fakeOptions{})
	c, err := ParseFlags([]string{"--files", path, "--url", url, "--total", "2", "--progress", "off"}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, t.Context(), c)
	ups, _ := f.snapshot()
	if r.Images.Completed != 2 || len(ups) != 1 || ups[0].files[0].name != `a "b".jpg` || ups[0].files[1].w != 40 {
		t.Errorf("images %+v, uploads %+v", r.Images, ups)
	}
	if r.Workload.Source != "files" || r.Workload.MeanInputBytes != int64(len(imgs[0].Data)) {
		t.Errorf("workload %+v", r.Workload)
	}
}

func TestReportJSON(t *testing.T) {
	_, url := startFake(t, fakeOptions{})
	r := run(t, t.Context(), config(t, "--url", url, "--total", "2", "--label", "x", "--pid", strconv.Itoa(os.Getpid())))
	path := filepath.Join(t.TempDir(), "r.json")
	if err := r.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"images_per_sec", "upload_latency", "completion_latency", "errors", "error_total", "workload", "processes"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %q in %s", k, raw)
		}
	}
	if errs, ok := m["errors"].([]any); !ok || len(errs) != 0 {
		t.Errorf("errors must be [], got %v", m["errors"])
	}
}
