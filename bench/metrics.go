package bench

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// ServerMetrics is what the servers' /metrics (Prometheus text) say of the
// measured phase: each histogram is the difference between a scrape just
// before the phase and one just after, added up over the servers, and its
// quantiles are read from the buckets (linear within a bucket, as
// Prometheus' histogram_quantile does; max is the upper bound of the
// highest bucket reached). A server without /metrics (the Node stack)
// gives none.
type ServerMetrics struct {
	// Resize is backlot_resize_stage_seconds by stage, per image: admit
	// (header probe, footprint, wait for the decode budget), decode,
	// resize, encode, write (create, write and commit the outputs).
	Resize map[string]Latency `json:"resize,omitempty"`
	// ResizeSum is the sum of the stages' means: one image's time on a
	// resizer, Process's call to its commit.
	ResizeSumMeanMs float64 `json:"resize_sum_mean_ms,omitempty"`
	// Attempt is backlot_resize_duration_seconds of completed attempts:
	// a resizer's whole attempt (its source opened, Process), which the
	// stages are part of. Its buckets are wide; its mean is exact.
	Attempt *Latency `json:"attempt,omitempty"`
	// Store is backlot_store_op_duration_seconds by operation (successful
	// calls only): an operation's time includes the wait for its group
	// commit.
	Store map[string]Latency `json:"store,omitempty"`
	// GCPauses is the Go runtime's stop-the-world pauses for the
	// collector (go_sched_pauses_total_gc_seconds), GCPauseTotalMs their
	// total.
	GCPauses       *Latency `json:"gc_pauses,omitempty"`
	GCPauseTotalMs float64  `json:"gc_pause_total_ms,omitempty"`
	// SchedLatency is how long goroutines waited to run once runnable
	// (go_sched_latencies_seconds; its buckets are wide: factors of 8 to
	// 11), SchedOver1ms how many of those waits took more than about a
	// millisecond.
	SchedLatency *Latency `json:"sched_latency,omitempty"`
	SchedOver1ms int      `json:"sched_waits_over_1ms,omitempty"`
	// GoMallocs and GoAllocBytes are the heap allocations the servers'
	// Go code made over the phase (go_memstats_mallocs_total,
	// go_memstats_alloc_bytes_total); MallocsPerImage and
	// AllocBytesPerImage divide them by the completed images. Unlike CPU
	// time they hardly move with the machine's load, so they show a
	// change to the Go side's work that a timed run cannot (C libraries'
	// memory is not in them). They include what the server allocates to
	// answer the first of the two scrapes, a fixed few hundred: a short
	// run's figure per image is a little high.
	GoMallocs          float64 `json:"go_mallocs,omitempty"`
	GoAllocBytes       float64 `json:"go_alloc_bytes,omitempty"`
	MallocsPerImage    float64 `json:"go_mallocs_per_image,omitempty"`
	AllocBytesPerImage float64 `json:"go_alloc_bytes_per_image,omitempty"`
}

// setPerImage sets the per-image allocation figures for completed
// images; a nil sm (no server with /metrics) stays nil.
func (sm *ServerMetrics) setPerImage(completed int) {
	if sm == nil || completed == 0 {
		return
	}
	sm.MallocsPerImage = math.Round(sm.GoMallocs/float64(completed)*10) / 10
	sm.AllocBytesPerImage = math.Round(sm.GoAllocBytes / float64(completed))
}

// scrape is one /metrics read per server; nil for a server that has none.
type scrape []map[string]*dto.MetricFamily

// scrapeAll reads every URL's /metrics; a server that does not answer with
// Prometheus text is left out (nil).
func (c *client) scrapeAll(ctx context.Context, urls []string) scrape {
	out := make(scrape, len(urls))
	for i, u := range urls {
		out[i] = c.scrape(ctx, u)
	}
	return out
}

func (c *client) scrape(ctx context.Context, base string) map[string]*dto.MetricFamily {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil
	}
	c.auth(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil
	}
	return fams
}

// serverMetrics is what changed between before and after; nil when no
// server has the histograms or the Go runtime's counters.
func serverMetrics(before, after scrape) *ServerMetrics {
	sm := &ServerMetrics{}
	if st := diffByLabel(before, after, "backlot_resize_stage_seconds", "stage", nil); len(st) > 0 {
		sm.Resize = map[string]Latency{}
		for stage, h := range st {
			l := h.latency()
			sm.Resize[stage] = l
			sm.ResizeSumMeanMs += l.Mean
		}
		sm.ResizeSumMeanMs = math.Round(sm.ResizeSumMeanMs*1e3) / 1e3
	}
	completed := func(m *dto.Metric) bool { return label(m, "outcome") == "completed" }
	if h, found := diffByLabel(before, after, "backlot_resize_duration_seconds", "", completed)[""]; found && h.count > 0 {
		l := h.latency()
		sm.Attempt = &l
	}
	ok := func(m *dto.Metric) bool { return label(m, "result") == "ok" }
	if st := diffByLabel(before, after, "backlot_store_op_duration_seconds", "op", ok); len(st) > 0 {
		sm.Store = map[string]Latency{}
		for op, h := range st {
			if h.count > 0 {
				sm.Store[op] = h.latency()
			}
		}
	}
	if h, found := diffByLabel(before, after, "go_sched_pauses_total_gc_seconds", "", nil)[""]; found {
		l := h.latency()
		sm.GCPauses, sm.GCPauseTotalMs = &l, math.Round(h.sum*1e6)/1e3
	}
	if h, found := diffByLabel(before, after, "go_sched_latencies_seconds", "", nil)[""]; found {
		l := h.latency()
		sm.SchedLatency, sm.SchedOver1ms = &l, h.countAbove(0.9e-3)
	}
	mallocs, hasMallocs := diffCounter(before, after, "go_memstats_mallocs_total")
	allocBytes, _ := diffCounter(before, after, "go_memstats_alloc_bytes_total")
	sm.GoMallocs, sm.GoAllocBytes = mallocs, allocBytes
	if sm.Resize == nil && sm.Store == nil && sm.GCPauses == nil && sm.SchedLatency == nil && !hasMallocs {
		return nil
	}
	return sm
}

// diffCounter is single-valued family name's value (a counter, untyped
// or gauge) in after less before, over the servers scraped both times;
// found is false when none has it.
func diffCounter(before, after scrape, name string) (d float64, found bool) {
	value := func(f *dto.MetricFamily) (float64, bool) {
		if f == nil || len(f.GetMetric()) != 1 {
			return 0, false
		}
		m := f.GetMetric()[0]
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), true
		case m.GetUntyped() != nil:
			return m.GetUntyped().GetValue(), true
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), true
		}
		return 0, false
	}
	for i := range min(len(before), len(after)) {
		if before[i] == nil || after[i] == nil {
			continue
		}
		b, okb := value(before[i][name])
		a, oka := value(after[i][name])
		if okb && oka {
			d, found = d+a-b, true
		}
	}
	return d, found
}

// histo is a cumulative histogram: bounds ascending, counts cumulative.
type histo struct {
	bounds []float64 // upper bounds in seconds, +Inf last
	counts []uint64
	count  uint64
	sum    float64
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// diffByLabel is family name's histograms in after minus those in before,
// by the value of label by ("" for all), over the servers, keeping only
// the metrics keep accepts (nil: all).
func diffByLabel(before, after scrape, name, by string, keep func(*dto.Metric) bool) map[string]*histo {
	out := map[string]*histo{}
	add := func(s scrape, sign float64) {
		for _, fams := range s {
			f := fams[name]
			if f == nil || f.GetType() != dto.MetricType_HISTOGRAM {
				continue
			}
			for _, m := range f.GetMetric() {
				if keep != nil && !keep(m) {
					continue
				}
				k := label(m, by)
				h := out[k]
				if h == nil {
					h = &histo{}
					out[k] = h
				}
				h.add(m.GetHistogram(), sign)
			}
		}
	}
	// Only servers scraped both times: a server whose first scrape failed
	// would count its whole history.
	var b, a scrape
	for i := range min(len(before), len(after)) {
		if before[i] != nil && after[i] != nil {
			b, a = append(b, before[i]), append(a, after[i])
		}
	}
	add(a, 1)
	add(b, -1)
	for k, h := range out {
		if h.count == 0 && len(h.bounds) == 0 {
			delete(out, k)
		}
	}
	return out
}

// add adds (sign 1) or takes away (sign -1) p's buckets; histograms of
// one family have the same bounds.
func (h *histo) add(p *dto.Histogram, sign float64) {
	bs := p.GetBucket()
	if h.bounds == nil {
		for _, b := range bs {
			h.bounds = append(h.bounds, b.GetUpperBound())
		}
		if len(h.bounds) == 0 || !math.IsInf(h.bounds[len(h.bounds)-1], 1) {
			h.bounds = append(h.bounds, math.Inf(1))
		}
		h.counts = make([]uint64, len(h.bounds))
	}
	get := func(i int) uint64 {
		if i < len(bs) && bs[i].GetUpperBound() == h.bounds[i] {
			return bs[i].GetCumulativeCount()
		}
		return p.GetSampleCount() // +Inf, implicit in the text format
	}
	for i := range h.counts {
		if sign > 0 {
			h.counts[i] += get(i)
		} else {
			h.counts[i] -= get(i)
		}
	}
	if sign > 0 {
		h.count += p.GetSampleCount()
	} else {
		h.count -= p.GetSampleCount()
	}
	h.sum += sign * p.GetSampleSum()
}

// quantile is the q-th quantile (0..1) in seconds, interpolated within
// its bucket; a quantile in the +Inf bucket is the last finite bound.
func (h *histo) quantile(q float64) float64 {
	if h.count == 0 {
		return 0
	}
	rank := q * float64(h.count)
	i, _ := slices.BinarySearchFunc(h.counts, rank, func(c uint64, r float64) int {
		if float64(c) < r {
			return -1
		}
		return 1
	})
	i = min(i, len(h.counts)-1)
	if math.IsInf(h.bounds[i], 1) {
		return h.bounds[max(i-1, 0)]
	}
	lo, below := 0.0, uint64(0)
	if i > 0 {
		lo, below = h.bounds[i-1], h.counts[i-1]
	}
	in := h.counts[i] - below
	if in == 0 {
		return h.bounds[i]
	}
	return lo + (h.bounds[i]-lo)*(rank-float64(below))/float64(in)
}

// max is the upper bound of the highest bucket with a sample.
func (h *histo) max() float64 {
	for i := range h.counts {
		if h.counts[i] == h.count {
			if math.IsInf(h.bounds[i], 1) && i > 0 {
				return h.bounds[i-1]
			}
			return h.bounds[i]
		}
	}
	return 0
}

// countAbove is how many samples lie above the first bucket bound at or
// over bound seconds.
func (h *histo) countAbove(bound float64) int {
	for i, b := range h.bounds {
		if b >= bound {
			return int(h.count - h.counts[i])
		}
	}
	return 0
}

func (h *histo) latency() Latency {
	if h.count == 0 {
		return Latency{}
	}
	r := func(s float64) float64 { return math.Round(s*1e6) / 1e3 }
	return Latency{
		N: int(h.count), P50: r(h.quantile(.5)), P95: r(h.quantile(.95)), P99: r(h.quantile(.99)),
		Max: r(h.max()), Mean: r(h.sum / float64(h.count)),
	}
}

// String is for test failures.
func (h *histo) String() string {
	return fmt.Sprintf("n=%d sum=%g bounds=%v counts=%v", h.count, h.sum, h.bounds, h.counts)
}
