package bench

import (
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// TestServerMetrics scrapes a real Prometheus registry before and after
// observations and reads the difference's quantiles from its buckets.
func TestServerMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	stages := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "backlot_resize_stage_seconds", Buckets: prometheus.LinearBuckets(0.001, 0.001, 100),
	}, []string{"stage"})
	store := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "backlot_store_op_duration_seconds", Buckets: []float64{.001, .01, .1},
	}, []string{"op", "result"})
	reg.MustRegister(stages, store)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	none := httptest.NewServer(http.NotFoundHandler()) // a server without /metrics (Node)
	defer none.Close()
	cl := newClient(Config{InFlight: 1})
	defer cl.close()
	urls := []string{srv.URL, none.URL}

	// Before the phase: samples that must not count.
	for range 50 {
		stages.WithLabelValues("decode").Observe(0.090)
	}
	store.WithLabelValues("append", "ok").Observe(0.05)
	before := cl.scrapeAll(t.Context(), urls)
	if before[0] == nil || before[1] != nil {
		t.Fatalf("scrape: %v", before)
	}
	// The phase: decode 1..100 ms uniformly, encode 5 ms each.
	for i := 1; i <= 100; i++ {
		stages.WithLabelValues("decode").Observe(float64(i)/1000 - 0.0005)
		stages.WithLabelValues("encode").Observe(0.0045)
	}
	store.WithLabelValues("append", "ok").Observe(0.005)
	store.WithLabelValues("append", "error").Observe(0.5)
	sm := serverMetrics(before, cl.scrapeAll(t.Context(), urls))
	if sm == nil {
		t.Fatal("no server metrics")
	}
	d := sm.Resize["decode"]
	near := func(got, want float64) bool { return math.Abs(got-want) < 0.02 }
	if d.N != 100 || !near(d.P50, 50) || !near(d.P99, 99) || d.Max != 100 || !near(d.Mean, 50) {
		t.Errorf("decode: %+v", d)
	}
	e := sm.Resize["encode"]
	if e.N != 100 || e.P50 <= 4 || e.P50 > 5 || e.Max != 5 || !near(e.Mean, 4.5) {
		t.Errorf("encode: %+v", e)
	}
	if !near(sm.ResizeSumMeanMs, 54.5) {
		t.Errorf("sum of means %v", sm.ResizeSumMeanMs)
	}
	if a := sm.Store["append"]; a.N != 1 || a.Max != 10 || !near(a.Mean, 5) {
		t.Errorf("store append (ok only): %+v", a)
	}
	if sm.GCPauses != nil || sm.SchedLatency != nil || sm.Attempt != nil {
		t.Errorf("metrics the registry has not: %+v", sm)
	}

	// Nothing to scrape: no section.
	if sm := serverMetrics(cl.scrapeAll(t.Context(), urls[1:]), cl.scrapeAll(t.Context(), urls[1:])); sm != nil {
		t.Errorf("from a server without /metrics: %+v", sm)
	}
}

func TestHistoQuantile(t *testing.T) {
	h := &histo{bounds: []float64{1, 2, 4, math.Inf(1)}, counts: []uint64{0, 10, 10, 12}, count: 12, sum: 20}
	if q := h.quantile(0.5); q != 1.6 {
		t.Errorf("p50 %v, want 1.6 (6 of 10 into (1, 2])", q)
	}
	if q := h.quantile(0.99); q != 4 {
		t.Errorf("p99 %v: in +Inf, want the last finite bound", q)
	}
	if m := h.max(); m != 4 {
		t.Errorf("max %v", m)
	}
	if n := h.countAbove(1.5); n != 2 {
		t.Errorf("above 2: %d", n)
	}
}

// sink keeps TestServerGoAllocs's allocations from being optimised away.
var sink []*[64]byte

// TestServerGoAllocs: the Go heap allocations a server made over the
// phase, read from a real Go collector's go_memstats counters (this
// process's own runtime), and per completed image.
func TestServerGoAllocs(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	cl := newClient(Config{InFlight: 1})
	defer cl.close()
	urls := []string{srv.URL}
	before := cl.scrapeAll(t.Context(), urls)
	const n = 20_000
	for range n {
		sink = append(sink, new([64]byte))
	}
	sm := serverMetrics(before, cl.scrapeAll(t.Context(), urls))
	if sm == nil || sm.GoMallocs < n || sm.GoAllocBytes < n*64 {
		t.Fatalf("allocations over the phase: %+v, want at least %d and %d bytes", sm, n, n*64)
	}
	sm.setPerImage(100)
	if sm.MallocsPerImage < n/100 || sm.AllocBytesPerImage < n*64/100 {
		t.Errorf("per image: %v mallocs, %v bytes", sm.MallocsPerImage, sm.AllocBytesPerImage)
	}
	var b strings.Builder
	writeServer(&b, sm)
	if !strings.Contains(b.String(), "Go heap allocations: ") {
		t.Errorf("report: %s", b.String())
	}
	sink = nil
}
