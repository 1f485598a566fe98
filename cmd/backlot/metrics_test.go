package main

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads /metrics with the Prometheus text parser.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return mfs
}

// value finds the sample of family name whose labels include want.
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	v, ok := sample(mfs, name, want)
	if !ok {
		t.Fatalf("no sample of %s with %v", name, want)
	}
	return v
}

// sample is value without failing: ok is false when there is no such sample.
func sample(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	mf, ok := mfs[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range mf.Metric {
		for k, v := range want {
			found := false
			for _, l := range m.Label {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func TestMetrics(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	r := upload(t, n.url, filePart("a.jpg", jpegBytes(t, 320, 240, 1)), filePart("b.jpg", jpegBytes(t, 320, 240, 2)))
	evs := openSSE(t, t.Context(), n.url+r.Events, "").collect(t, 30*time.Second)
	checkSequence(t, r.BatchID, evs)
	ct, body := multipartBody(t, filePart("t.jpg", []byte("text")))
	post(t, n.url+"/api/images", ct, body).Body.Close()

	mfs := scrape(t, n.url)
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"backlot_uploads_total", map[string]string{"code": "accepted"}, 1},
		{"backlot_uploads_total", map[string]string{"code": "unsupported_image"}, 1},
		{"backlot_uploaded_images_total", nil, 2},
		{"backlot_images_total", map[string]string{"state": "completed"}, 2},
		{"backlot_attempts_total", map[string]string{"outcome": "completed"}, 2},
		{"backlot_resize_duration_seconds", map[string]string{"outcome": "completed"}, 2},
		{"backlot_batches_done_total", nil, 1},
		{"backlot_resizes_in_flight", nil, 0},
		{"backlot_queue_depth", map[string]string{"state": "pending"}, 0},
		{"backlot_queue_depth", map[string]string{"state": "inflight"}, 0},
		{"backlot_sse_subscribers", nil, 0},
		{"backlot_sse_events_sent_total", nil, float64(len(evs))},
		{"backlot_store_op_duration_seconds", map[string]string{"op": "create", "result": "ok"}, 1},
		{"backlot_http_requests_total", map[string]string{"method": "POST", "route": "/api/images", "status": "202"}, 1},
		{"backlot_http_requests_total", map[string]string{"method": "POST", "route": "/api/images", "status": "415"}, 1},
	}
	// The client sees done as soon as it is recorded; the supervisor acks
	// and counts the last attempt just after. So poll (bounded) until the
	// counters settle, and report what differs if they never do.
	var mismatches []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		mismatches = nil
		for _, c := range checks {
			if got, ok := sample(mfs, c.name, c.labels); !ok || got != c.want {
				mismatches = append(mismatches, fmt.Sprintf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want))
			}
		}
		if len(mismatches) == 0 || time.Now().After(deadline) {
			break
		}
		<-time.After(20 * time.Millisecond) // polling interval of a bounded wait, not synchronisation
		mfs = scrape(t, n.url)
	}
	for _, m := range mismatches {
		t.Error(m)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "backlot_store_op_duration_seconds"} {
		if _, ok := mfs[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
}
