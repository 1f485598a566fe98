package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backlot/backlot/http/sse"
	"github.com/backlot/backlot/persistence/redis/redistest"
)

var prefixes atomic.Int64

// onRedis points a node at srv with a key prefix of its own.
func onRedis(srv *redistest.Server) func(*Config) {
	prefix := fmt.Sprintf("t%d", prefixes.Add(1))
	return func(c *Config) {
		c.Redis = srv.URL
		c.RedisPrefix = prefix
		c.NodeID = "node-a"
	}
}

func TestRedisBatchLifecycle(t *testing.T) {
	srv := redistest.Start(t)
	n := startNode(t, t.TempDir(), onRedis(srv))
	r := upload(t, n.url, filePart("a.jpg", jpegBytes(t, 640, 480, 1)), filePart("b.png", pngBytes(t, 200, 300, 2)))
	evs := openSSE(t, t.Context(), n.url+r.Events, "").collect(t, 30*time.Second)
	if o := checkSequence(t, r.BatchID, evs); o.completed != 2 {
		t.Fatalf("outcome %+v", o)
	}
	late := openSSE(t, t.Context(), n.url+r.Events, "2").collect(t, 10*time.Second)
	if names(late) != names(evs[2:]) {
		t.Fatalf("Last-Event-ID 2: %s, want %s", names(late), names(evs[2:]))
	}
}

// TestRedisCrashRecovery: the crash test of the core, on Redis.
func TestRedisCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	srv := redistest.Start(t, redistest.WithAOF())
	crashRecovery(t, func(t *testing.T) []string {
		return []string{"--redis", srv.URL, "--redis-prefix", fmt.Sprintf("crash%d", prefixes.Add(1)), "--node-id", "crashy"}
	})
}

// TestRedisOutage: Redis stopped under load. Readiness fails and uploads get
// 503 with Retry-After while it is down; workers and the open event stream
// wait; a resize finished during the outage is recorded once Redis is back
// (restarted with AOF on the same dir), and the batch ends with every image
// in exactly one terminal event.
func TestRedisOutage(t *testing.T) {
	srv := redistest.Start(t, redistest.WithAOF())
	dir := t.TempDir()
	n := startNode(t, dir, func(c *Config) {
		onRedis(srv)(c)
		c.Workers = 1
	})
	// Large PNG outputs make a resize take a while (stopping Redis takes
	// ~50 ms). Whether one is still running once Redis is down is read from
	// the node's own gauge; if the race was lost, that batch finishes
	// normally and the scenario runs again with a new one.
	const images = 2
	var parts []part
	for i := 0; i < images; i++ {
		parts = append(parts, filePart(fmt.Sprintf("o%d.jpg", i), jpegBytes(t, 640, 480, uint64(i))))
	}
	parts = append(parts, fieldPart("width", "2048"), fieldPart("height", "2048"), fieldPart("fit", "fill"), fieldPart("format", "png"))
	var (
		r    uploadReply
		s    *stream
		seen []sse.Event
	)
	for try := 1; ; try++ {
		r = upload(t, n.url, parts...)
		s = openSSE(t, t.Context(), n.url+r.Events, "")
		seen = nil
		for ev := range s.events { // wait for the work to be under way
			seen = append(seen, ev)
			if ev.Name == "processing" {
				break
			}
		}
		srv.Stop(t)
		if value(t, scrape(t, n.url), "backlot_resizes_in_flight", nil) == 1 {
			break
		}
		if try == 5 {
			t.Fatal("no resize was running when Redis stopped, 5 times in a row")
		}
		srv.Restart(t)
		seen = append(seen, s.collect(t, 60*time.Second)...)
		checkSequence(t, r.BatchID, seen)
	}
	outageStart := time.Now()

	eventually(t, 20*time.Second, "readyz to fail", func() bool { return status(t, n.url+"/readyz") == 503 })
	ct, body := multipartBody(t, filePart("late.jpg", jpegBytes(t, 64, 64, 9)))
	rejected := 0
	for i := 0; i < 3; i++ {
		resp := post(t, n.url+"/api/images", ct, body)
		var e apiErr
		decodeJSON(t, resp, &e)
		if resp.StatusCode != 503 || e.Code != "store_unavailable" || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("upload during the outage: %d %+v", resp.StatusCode, e)
		}
		rejected++
	}
	if d := batchDirs(t, dir); len(d) != 1 {
		t.Fatalf("a rejected upload left files: %v", d)
	}
	// The resize that was running finishes while Redis is down: its result
	// cannot be recorded yet (an append fails) and is kept for later.
	eventually(t, 60*time.Second, "the running resize to finish during the outage", func() bool {
		return value(t, scrape(t, n.url), "backlot_resizes_in_flight", nil) == 0
	})
	eventually(t, 30*time.Second, "the result's append to fail while Redis is down", func() bool {
		mfs := scrape(t, n.url)
		if _, ok := mfs["backlot_store_op_duration_seconds"]; !ok {
			return false
		}
		for _, m := range mfs["backlot_store_op_duration_seconds"].Metric {
			op, result := "", ""
			for _, l := range m.Label {
				switch l.GetName() {
				case "op":
					op = l.GetValue()
				case "result":
					result = l.GetValue()
				}
			}
			if op == "append" && result == "error" && m.Histogram.GetSampleCount() > 0 {
				return true
			}
		}
		return false
	})

	srv.Restart(t)
	t.Logf("outage lasted %v; uploads rejected: %d", time.Since(outageStart).Round(time.Millisecond), rejected)
	eventually(t, 20*time.Second, "readyz to recover", func() bool { return status(t, n.url+"/readyz") == 200 })
	for ev := range s.events {
		seen = append(seen, ev)
	}
	if len(seen) == 0 || seen[len(seen)-1].Name != "done" {
		// the stream may have been cut; resume it
		seen = append(seen, openSSE(t, t.Context(), n.url+r.Events, lastID(seen)).collect(t, 60*time.Second)...)
	}
	o := checkSequence(t, r.BatchID, seen)
	t.Logf("after the outage: %d completed, %d failed, images lost: %d", o.completed, o.failed, images-o.completed-o.failed)
	if o.completed != images {
		t.Fatalf("outcome %+v", o)
	}
	// and new uploads work again
	r2 := upload(t, n.url, filePart("after.jpg", jpegBytes(t, 64, 64, 10)))
	checkSequence(t, r2.BatchID, openSSE(t, t.Context(), n.url+r2.Events, "").collect(t, 30*time.Second))
}

// TestSweepSharedDataDir: on Redis (a data dir other nodes may write
// to), the start-up sweep removes what uploads cut before their 202 left
// only once it is older than the grace: an old orphan batch and an old
// temp file go, a fresh orphan (maybe an upload under way on another
// node) stays, and a recorded batch stays whatever its age.
func TestSweepSharedDataDir(t *testing.T) {
	srv := redistest.Start(t)
	dir := t.TempDir()
	on := onRedis(srv)
	n := startNode(t, dir, on)
	r := upload(t, n.url, filePart("a.jpg", jpegBytes(t, 64, 64, 1)))
	checkSequence(t, r.BatchID, openSSE(t, t.Context(), n.url+r.Events, "").collect(t, 30*time.Second))
	n.stop()

	old := time.Now().Add(-2 * time.Hour)
	mk := func(id, name string, at time.Time) string {
		t.Helper()
		d := filepath.Join(dir, "batches", id)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(d, name)
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
		return p
	}
	oldOrphan := mk("7d3f8a52-1c2b-4e5f-8a9b-0c1d2e3f4a5b", "x.src", old)
	freshOrphan := mk("0b9d2c4e-8f1a-4b3c-9d2e-5f6a7b8c9d0e", "y.src", time.Now())
	oldTemp := mk(r.BatchID, ".z.out.jpg.tmp-abc", old)
	for _, p := range []string{filepath.Join(dir, "batches", r.BatchID)} { // the recorded batch, aged
		entries, err := os.ReadDir(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if err := os.Chtimes(filepath.Join(p, e.Name()), old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	startNodeWith(t, dir, on, func(m *Main) { m.orphanGrace = time.Hour })
	for p, want := range map[string]bool{oldOrphan: false, oldTemp: false, freshOrphan: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", p, err == nil, want)
		}
	}
	got := batchDirs(t, dir)
	if len(got) != 2 || !slices.Contains(got, r.BatchID) {
		t.Fatalf("batch dirs %v: want the recorded batch and the fresh orphan", got)
	}
}
