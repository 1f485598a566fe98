package bench

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

func durations(ms ...int) []time.Duration {
	out := make([]time.Duration, len(ms))
	for i, m := range ms {
		out[i] = time.Duration(m) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, tc := range []struct {
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{nil, 50, 0},
		{durations(7), 50, 7 * time.Millisecond},
		{durations(7), 99, 7 * time.Millisecond},
		{durations(1, 2), 50, 1 * time.Millisecond},
		{durations(1, 2), 51, 2 * time.Millisecond},
		{durations(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{hundred, 50, 50 * time.Millisecond},
		{hundred, 95, 95 * time.Millisecond},
		{hundred, 99, 99 * time.Millisecond},
		{hundred, 100, 100 * time.Millisecond},
		{hundred, 0.1, 1 * time.Millisecond},
	} {
		if got := Percentile(tc.sorted, tc.p); got != tc.want {
			t.Errorf("Percentile(%d values, %v) = %v, want %v", len(tc.sorted), tc.p, got, tc.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	l := Summarize(durations(30, 10, 20, 40))
	want := Latency{N: 4, P50: 20, P95: 40, P99: 40, Max: 40, Mean: 25}
	if l != want {
		t.Errorf("%+v, want %+v", l, want)
	}
	if Summarize(nil) != (Latency{}) {
		t.Error("empty")
	}
	if got := Summarize([]time.Duration{1234567}).P50; got != 1.235 {
		t.Errorf("rounding to µs: %v", got)
	}
}

func TestStats(t *testing.T) {
	t0 := time.Now()
	st := newStats()
	st.add(outcome{images: 2, start: t0, uploaded: true, upload: 5 * time.Millisecond, done: true,
		end: t0.Add(2 * time.Second), completion: 2 * time.Second, completed: 1, failed: 1,
		failures: []failure{{"image failed", "bad"}}})
	st.add(outcome{images: 2, start: t0.Add(time.Second), failures: []failure{{"upload: http 503 queue_full", "full"}}})
	st.add(outcome{images: 3, start: t0.Add(-time.Second), uploaded: true, upload: time.Millisecond,
		failures: []failure{{"timeout: waiting for done", "x"}, {"image failed", "worse"}}})
	if st.sent != 7 || st.accepted != 5 || st.completed != 1 || st.failed != 1 || st.unfinished != 3 || st.batchesDone != 1 {
		t.Errorf("%+v", st)
	}
	if st.wall() != 3*time.Second {
		t.Errorf("wall %v", st.wall())
	}
	errs := st.errors()
	if st.errTotal != 4 || len(errs) != 3 || errs[0] != (ErrorCount{"image failed", 2, "bad"}) || errs[1].Kind != "timeout: waiting for done" {
		t.Errorf("%d %+v", st.errTotal, errs)
	}
	if got := rate(10, 4*time.Second); got != 2.5 {
		t.Errorf("rate %v", got)
	}
	if rate(10, 0) != 0 {
		t.Error("rate without wall time")
	}
}

func TestReportText(t *testing.T) {
	r := &Report{
		Label: "node", URLs: []string{"http://127.0.0.1:1"},
		Workload:    Workload{Source: "generated", Size: "640x480", Seeds: 4, MeanInputBytes: 150 << 10, PerBatch: 2, InFlight: 8, Total: 100, Width: 100, Height: 100, Warmup: 8},
		WallSeconds: 2, ImagesPerSec: 49.5, Batches: Batches{50, 50}, Images: Images{Sent: 100, Accepted: 100, Completed: 99, Failed: 1},
		Upload:     Latency{N: 50, P50: 1.5, P95: 2.5, P99: 3, Max: 4, Mean: 1.7},
		Completion: Latency{N: 50, P50: 100, P95: 200, P99: 300, Max: 400, Mean: 120},
		ErrorTotal: 1, Errors: []ErrorCount{{"image failed", 1, "cannot\ndecode"}},
		Warmup:     &Warmup{Images: 8, Seconds: 0.5},
		Processes:  []Process{{PID: 42, Name: "node", PeakRSSBytes: 300 << 20, Since: "measurement", CPUSeconds: 1.5}},
		ClientCPUs: 2, ClientCPUSeconds: 0.5,
	}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"backlot bench [node]: 640x480 JPEG q90, 4 seeds (mean 150.0 KiB) -> 100x100, 2 per batch, 8 in flight, 100 images, warmup 8",
		"throughput  49.50 images/s",
		"99 completed, 1 failed, 0 unfinished",
		"upload (to 202)",
		"completion (to done)",
		"200.0",
		"peak RSS 300.0 MiB (since measurement), CPU 1.50 s (15.2 ms per completed image)",
		"bench client: CPU 0.50 s (5.1 ms per completed image) on 2 CPUs",
		"errors: 1\n  1  image failed  e.g. cannot decode",
		"warmup: 8 images in 0.50 s",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	r.ErrorTotal, r.Errors = 0, nil
	b.Reset()
	r.WriteText(&b)
	if !strings.Contains(b.String(), "errors: none") {
		t.Errorf("no errors line:\n%s", b.String())
	}
}

func TestProgressLine(t *testing.T) {
	s := snapshot{phase: "run", elapsed: 2 * time.Second, total: 200, sent: 60, finished: 50, completed: 50, errors: 1, inFlight: 8}
	if got, want := progressLine(s, true), "run [######..................] 50/200 images  25.0 img/s  1 error  8 in flight  2s"; got != want {
		t.Errorf("\n got %q\nwant %q", got, want)
	}
	s = snapshot{phase: "run", elapsed: 30 * time.Second, limit: time.Minute, finished: 10, completed: 9}
	if got, want := progressLine(s, false), "run 10 images  0.3 img/s  0 errors  0 in flight  30s/1m0s"; got != want {
		t.Errorf("\n got %q\nwant %q", got, want)
	}
	var b strings.Builder
	p := NewProgress(&b, "bar")
	p.show(s)
	p.end(s)
	if out := b.String(); !strings.HasPrefix(out, "\rrun [############") || !strings.HasSuffix(out, "\x1b[K\n") || strings.Count(out, "\n") != 1 {
		t.Errorf("bar output %q", out)
	}
	if NewProgress(&b, "off") != nil || NewProgress(&b, "auto").tty {
		t.Error("off must be nil; a strings.Builder is no terminal")
	}
	var nilp *Progress
	nilp.show(s) // a nil Progress shows nothing and does not panic
	nilp.end(s)
}

func TestStatusKB(t *testing.T) {
	status := []byte("Name:\tbacklot\nVmPeak:\t  800000 kB\nVmHWM:\t   51234 kB\nVmRSS:\t   40000 kB\n")
	if n, err := statusKB(status, "VmHWM"); n != 51234 || err != nil {
		t.Errorf("%d %v", n, err)
	}
	if _, err := statusKB(status, "VmSwap"); err == nil {
		t.Error("missing field")
	}
	if _, err := statusKB([]byte("VmHWM: lots\n"), "VmHWM"); err == nil {
		t.Error("malformed field")
	}
}

func TestStatCPU(t *testing.T) {
	// Field 2 may hold spaces and parentheses; utime 150 + stime 50 ticks.
	stat := []byte("4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 1000 0 0 0 150 50 0 0 20 0 9 0 100 1000000 500 18446744073709551615\n")
	if c, err := statCPU(stat); err != nil || c.User != 1500*time.Millisecond || c.System != 500*time.Millisecond || c.Total() != 2*time.Second {
		t.Errorf("%+v %v", c, err)
	}
	for _, bad := range []string{"4242 no paren S 1", "4242 (x) S 1 2 3", "4242 (x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 x 50 0"} {
		if _, err := statCPU([]byte(bad)); err == nil {
			t.Errorf("no error for %q", bad)
		}
	}
}

func TestPeakRSS(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc (not Linux)")
	}
	n, err := PeakRSS(os.Getpid())
	if err != nil || n < 1<<20 {
		t.Fatalf("%d %v", n, err)
	}
	if err := ResetPeakRSS(os.Getpid()); err != nil {
		t.Errorf("reset own peak: %v", err)
	}
	w := startWatch([]int{os.Getpid()})
	// Some user CPU to measure: /proc counts in 10 ms ticks, so spin
	// (bounded) until 50 ms more of it shows, however fast the machine.
	sum := 0
	start, _ := CPUTimes(os.Getpid())
	for round := 0; round < 1000; round++ {
		for i := range 1_000_000 {
			sum += i % 7
		}
		if now, err := CPUTimes(os.Getpid()); err != nil || now.User-start.User >= 50*time.Millisecond {
			break
		}
	}
	ps := w.read()
	if len(ps) != 1 || ps[0].PeakRSSBytes <= 0 || ps[0].Since != "measurement" || ps[0].Error != "" || sum == 0 ||
		ps[0].UserCPUSeconds < 0.05 || math.Abs(ps[0].UserCPUSeconds+ps[0].SystemCPUSeconds-ps[0].CPUSeconds) > 1e-9 {
		t.Errorf("%+v", ps)
	}
	if cpu, err := CPUTime(os.Getpid()); err != nil || cpu <= 0 {
		t.Errorf("CPU time %v %v", cpu, err)
	}
	if w.clientCPU() <= 0 {
		t.Errorf("client CPU %v", w.clientCPU())
	}
}
