// Package metrics is Backlot's Prometheus instrumentation: it implements
// the actors' Observer (by its methods: it imports nothing of the actors),
// wraps a persistence.Store to time its calls, counts
// uploads and events sent, and serves GET /metrics. Each Metrics has its own
// registry (no global state), with the Go runtime and process collectors.
package metrics

import (
	"context"
	"regexp"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/backlot/backlot/persistence"
)

// Metrics holds Backlot's collectors.
type Metrics struct {
	Registry *prometheus.Registry

	uploads        *prometheus.CounterVec
	uploadedImages prometheus.Counter
	attempts       *prometheus.CounterVec
	resizeSeconds  *prometheus.HistogramVec
	stageSeconds   *prometheus.HistogramVec
	images         *prometheus.CounterVec
	batchesDone    prometheus.Counter
	inFlight       prometheus.Gauge
	resizes        prometheus.Counter
	eventsSent     prometheus.Counter
	subscribersCut prometheus.Counter
	storeSeconds   *prometheus.HistogramVec
	requests       *prometheus.CounterVec
	rebuilds       *prometheus.CounterVec
}

// New builds the collectors on a fresh registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "backlot_uploads_total", Help: "Upload requests by result: accepted, or the error code of the rejection.",
		}, []string{"code"}),
		uploadedImages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "backlot_uploaded_images_total", Help: "Images in accepted uploads.",
		}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "backlot_attempts_total", Help: "Resize attempts by recorded outcome (completed, failed, retrying).",
		}, []string{"outcome"}),
		resizeSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "backlot_resize_duration_seconds", Help: "Time one resize attempt took, by outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"outcome"}),
		stageSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "backlot_resize_stage_seconds", Help: "Time one successful resize attempt spent in each stage: admit (probe, footprint, decode budget wait), decode, resize, encode, write (create, write and commit the outputs).",
			Buckets: StageBuckets,
		}, []string{"stage"}),
		images: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "backlot_images_total", Help: "Images that reached a terminal state, by state.",
		}, []string{"state"}),
		batchesDone: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "backlot_batches_done_total", Help: "Batches whose done event was recorded.",
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "backlot_resizes_in_flight", Help: "Resize attempts running now on this node.",
		}),
		resizes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "backlot_resizes_total", Help: "Resize attempts run on this node (in a cluster, whichever node's supervisor recorded them).",
		}),
		eventsSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "backlot_sse_events_sent_total", Help: "Events written to event streams (replays included).",
		}),
		subscribersCut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "backlot_sse_subscribers_cut_total", Help: "Event streams ended because the client fell too far behind.",
		}),
		storeSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "backlot_store_op_duration_seconds", Help: "Latency of store calls by operation and result (ok, error).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"op", "result"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "backlot_http_requests_total", Help: "HTTP requests by method, route and status.",
		}, []string{"method", "route", "status"}),
		rebuilds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "backlot_results_rebuilt_total", Help: "Results found lost on read (a power cut before the kernel wrote them) and rebuilt from their upload (rebuilt), or not (lost).",
		}, []string{"outcome"}),
	}
	m.Registry.MustRegister(
		m.uploads, m.uploadedImages, m.attempts, m.resizeSeconds, m.stageSeconds, m.images, m.batchesDone,
		m.inFlight, m.resizes, m.eventsSent, m.subscribersCut, m.storeSeconds, m.requests, m.rebuilds,
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(runtimeHistograms)), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// StageBuckets are backlot_resize_stage_seconds' bucket bounds: 10 µs to
// about 13 s, each 1.25 times the last, so that a quantile read from two
// scrapes' difference (backlot bench does) is within a few per cent.
var StageBuckets = prometheus.ExponentialBuckets(10e-6, 1.25, 64)

// runtimeHistograms are the Go runtime's histograms /metrics adds to the
// default Go collector's: how long runnable goroutines waited for a
// thread (go_sched_latencies_seconds) and the stop-the-world pauses for
// the collector (go_sched_pauses_total_gc_seconds), for the tail
// latency's causes.
var runtimeHistograms = collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/sched/(latencies|pauses/total/gc):seconds$`)}

// Gauges registers the values read at scrape time: the queue depth and
// the open event streams.
func (m *Metrics) Gauges(st persistence.Store, streams func() int64) {
	m.Registry.MustRegister(&queueCollector{qs: st, desc: prometheus.NewDesc(
		"backlot_queue_depth", "Jobs in the work queue by state (pending, inflight).", []string{"state"}, nil)})
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "backlot_sse_subscribers", Help: "Event streams open on this node.",
	}, func() float64 { return float64(streams()) }))
}

// DecodeMemory registers backlot_decode_memory_bytes: the bytes the
// resize attempts under way hold of the decode budget (held), the
// budget itself (budget) and the most one attempt may ever need
// (ceiling; more is refused at upload with 413 image_too_large), read at
// scrape time.
func (m *Metrics) DecodeMemory(held, budget, ceiling func() int64) {
	m.Registry.MustRegister(&funcsCollector{
		desc: prometheus.NewDesc("backlot_decode_memory_bytes", "Decode memory: bytes held by resize attempts, the budget, and the ceiling for one image.", []string{"state"}, nil),
		vals: map[string]func() int64{"held": held, "budget": budget, "ceiling": ceiling},
	})
}

// funcsCollector reports one gauge per label value, each read from its func.
type funcsCollector struct {
	desc *prometheus.Desc
	vals map[string]func() int64
}

func (f *funcsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- f.desc }

func (f *funcsCollector) Collect(ch chan<- prometheus.Metric) {
	for label, v := range f.vals {
		ch <- prometheus.MustNewConstMetric(f.desc, prometheus.GaugeValue, float64(v()), label)
	}
}

// ClusterMembers registers backlot_cluster_members, the members this node
// sees (itself included), read at scrape time; only a clustered node has it.
func (m *Metrics) ClusterMembers(n func() int) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "backlot_cluster_members", Help: "Cluster members this node sees, itself included.",
	}, func() float64 { return float64(n()) }))
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() fiber.Handler {
	// ContinueOnError: during a store outage the queue depth cannot be
	// read, and that is exactly when the rest must still be scraped.
	return adaptor.HTTPHandler(promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
}

// Upload counts one upload request by its result code ("accepted" or an
// error code) and the images it brought.
func (m *Metrics) Upload(code string, images int) {
	m.uploads.WithLabelValues(code).Inc()
	if code == "accepted" {
		m.uploadedImages.Add(float64(images))
	}
}

// Request counts one HTTP request.
func (m *Metrics) Request(method, route string, status int) {
	m.requests.WithLabelValues(method, route, statusText(status)).Inc()
}

// ResultRebuilt counts a lost result that a read rebuilt (ok) or could
// not (!ok).
func (m *Metrics) ResultRebuilt(ok bool) {
	outcome := "rebuilt"
	if !ok {
		outcome = "lost"
	}
	m.rebuilds.WithLabelValues(outcome).Inc()
}

// EventsSent counts events written to streams.
func (m *Metrics) EventsSent(n int) { m.eventsSent.Add(float64(n)) }

// ResizeStarted implements actors.Observer.
func (m *Metrics) ResizeStarted() { m.inFlight.Inc() }

// ResizeEnded implements actors.Observer.
func (m *Metrics) ResizeEnded() { m.inFlight.Dec(); m.resizes.Inc() }

// AttemptDone implements actors.Observer.
func (m *Metrics) AttemptDone(outcome persistence.EventType, took time.Duration) {
	m.attempts.WithLabelValues(string(outcome)).Inc()
	m.resizeSeconds.WithLabelValues(string(outcome)).Observe(took.Seconds())
}

// ResizeStage implements resize.StageWatcher.
func (m *Metrics) ResizeStage(stage string, took time.Duration) {
	m.stageSeconds.WithLabelValues(stage).Observe(took.Seconds())
}

// ImageFinished implements actors.Observer.
func (m *Metrics) ImageFinished(state persistence.ImageState) {
	m.images.WithLabelValues(string(state)).Inc()
}

// BatchDone implements actors.Observer.
func (m *Metrics) BatchDone() { m.batchesDone.Inc() }

// SubscriberCut implements actors.Observer.
func (m *Metrics) SubscriberCut() { m.subscribersCut.Inc() }

type queueCollector struct {
	qs   persistence.QueueStats
	desc *prometheus.Desc
}

func (q *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- q.desc }

func (q *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	pending, inflight, err := q.qs.QueueDepth(ctx)
	if err != nil {
		return // unknown while the store is unreachable: no sample rather than a wrong one
	}
	ch <- prometheus.MustNewConstMetric(q.desc, prometheus.GaugeValue, float64(pending), "pending")
	ch <- prometheus.MustNewConstMetric(q.desc, prometheus.GaugeValue, float64(inflight), "inflight")
}

func statusText(code int) string {
	const digits = "0123456789"
	if code < 100 || code > 999 {
		return "other"
	}
	return string([]byte{digits[code/100], digits[code/10%10], digits[code%10]})
}
