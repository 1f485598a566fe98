package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBatchLifecycle(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, nil)
	r := upload(t, n.url,
		filePart("cat.jpg", jpegBytes(t, 640, 480, 1)),
		filePart("dog.png", pngBytes(t, 300, 500, 2)),
	)
	if r.Total != 2 || len(r.Images) != 2 || r.Images[0].Name != "cat.jpg" || r.Images[1].Name != "dog.png" {
		t.Fatalf("reply %+v", r)
	}
	if r.Status != "/api/images/"+r.BatchID || r.Events != r.Status+"/events" {
		t.Fatalf("reply links %+v", r)
	}
	s := openSSE(t, t.Context(), n.url+r.Events, "")
	if s.resp.StatusCode != 200 || s.resp.Header.Get("Content-Type") != "text/event-stream" || s.resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("stream: %d %v", s.resp.StatusCode, s.resp.Header)
	}
	evs := s.collect(t, 30*time.Second)
	if evs[0].Retry != 2000 {
		t.Fatalf("retry %d", evs[0].Retry)
	}
	o := checkSequence(t, r.BatchID, evs)
	if o.completed != 2 {
		t.Fatalf("outcome %+v", o)
	}
	if len(evs) != 6 { // queued, 2×processing, 2×completed, done
		t.Fatalf("events: %s", names(evs))
	}

	var st struct {
		BatchID, State, CreatedAt string
		Total, Completed, Failed  int
		Options                   map[string]any
		Images                    []struct {
			ID, Name, State, URL string
			Attempts             int
		}
	}
	resp, err := http.Get(n.url + r.Status)
	if err != nil {
		t.Fatal(err)
	}
	decodeJSON(t, resp, &st)
	if st.State != "done" || st.Total != 2 || st.Completed != 2 || st.Failed != 0 || st.Options["width"] != 100.0 || st.Options["fit"] != "cover" {
		t.Fatalf("status %+v", st)
	}
	if _, err := time.Parse(time.RFC3339, st.CreatedAt); err != nil {
		t.Fatalf("createdAt %q", st.CreatedAt)
	}
	for _, im := range st.Images {
		if im.State != "completed" || im.Attempts != 1 {
			t.Fatalf("image %+v", im)
		}
		resp, err := http.Get(n.url + im.URL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("result %s: %d %s", im.Name, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		img, format, err := image.Decode(bytes.NewReader(body))
		if err != nil || format != "jpeg" || img.Bounds().Dx() != 100 || img.Bounds().Dy() != 100 {
			t.Fatalf("result %s: %v %s %v", im.Name, err, format, img.Bounds())
		}
	}
}

func TestOptionsAreApplied(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	r := upload(t, n.url,
		filePart("wide.jpg", jpegBytes(t, 800, 400, 3)),
		fieldPart("width", "200"), fieldPart("height", "150"), fieldPart("fit", "contain"),
		fieldPart("format", "png"),
	)
	evs := openSSE(t, t.Context(), n.url+r.Events, "").collect(t, 30*time.Second)
	checkSequence(t, r.BatchID, evs)
	resp, err := http.Get(n.url + "/api/images/" + r.BatchID + "/" + r.Images[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	img, format, err := image.Decode(resp.Body)
	if err != nil || format != "png" || img.Bounds().Dx() != 200 || img.Bounds().Dy() != 100 {
		t.Fatalf("contain 800x400 in 200x150: %v %s %v", err, format, img.Bounds())
	}
}

func TestReplayAndLastEventID(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	r := upload(t, n.url, filePart("a.jpg", jpegBytes(t, 320, 240, 4)), filePart("b.jpg", jpegBytes(t, 320, 240, 5)), filePart("c.jpg", jpegBytes(t, 320, 240, 6)))
	full := openSSE(t, t.Context(), n.url+r.Events, "").collect(t, 30*time.Second)
	checkSequence(t, r.BatchID, full)

	late := openSSE(t, t.Context(), n.url+r.Events, "").collect(t, 10*time.Second)
	if names(late) != names(full) {
		t.Fatalf("late subscriber: %s, want %s", names(late), names(full))
	}
	for k := 0; k <= len(full); k++ {
		for _, via := range []string{"header", "query"} {
			var s *stream
			if via == "header" {
				s = openSSE(t, t.Context(), n.url+r.Events, strconv.Itoa(k))
			} else {
				s = openSSE(t, t.Context(), n.url+r.Events+"?lastEventId="+strconv.Itoa(k), "")
			}
			got := s.collect(t, 10*time.Second)
			if names(got) != names(full[k:]) {
				t.Fatalf("Last-Event-ID %d via %s: %s, want %s", k, via, names(got), names(full[k:]))
			}
			for i := range got {
				if got[i].Data != full[k+i].Data {
					t.Fatalf("event %s differs on replay", got[i].ID)
				}
			}
		}
	}
}

func TestManySubscribersSeeOneSequence(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	var parts []part
	for i := 0; i < 6; i++ {
		parts = append(parts, filePart(fmt.Sprintf("%d.jpg", i), jpegBytes(t, 640, 480, uint64(i))))
	}
	r := upload(t, n.url, parts...)
	const subs = 50
	got := make([][]string, subs)
	var wg sync.WaitGroup
	for i := 0; i < subs; i++ {
		s := openSSE(t, t.Context(), n.url+r.Events, "")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ev := range s.events {
				got[i] = append(got[i], ev.ID+" "+ev.Name+" "+ev.Data)
			}
		}()
	}
	wg.Wait()
	for i := 1; i < subs; i++ {
		if fmt.Sprint(got[i]) != fmt.Sprint(got[0]) {
			t.Fatalf("subscriber %d saw\n%v\nsubscriber 0 saw\n%v", i, got[i], got[0])
		}
	}
	if len(got[0]) != 1+6*2+1 {
		t.Fatalf("sequence %v", got[0])
	}
}

func TestConcurrentBatches(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	const batches = 8
	var wg sync.WaitGroup
	for i := 0; i < batches; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := upload(t, n.url, filePart("x.jpg", jpegBytes(t, 400, 300, uint64(i))), filePart("y.png", pngBytes(t, 120, 90, uint64(i))))
			evs := openSSE(t, t.Context(), n.url+r.Events, "").collect(t, 60*time.Second)
			if o := checkSequence(t, r.BatchID, evs); o.completed != 2 {
				t.Errorf("batch %d: %+v", i, o)
			}
		}()
	}
	wg.Wait()
}

func TestTruncatedJPEGFailsSiblingCompletes(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	good := jpegBytes(t, 640, 480, 8)
	bad := jpegBytes(t, 640, 480, 9)
	bad = bad[:len(bad)/2] // header intact, scan data cut
	r := upload(t, n.url, filePart("good.jpg", good), filePart("bad.jpg", bad))
	evs := openSSE(t, t.Context(), n.url+r.Events, "").collect(t, 30*time.Second)
	o := checkSequence(t, r.BatchID, evs)
	if o.terminal[r.Images[0].ID] != "completed" || o.terminal[r.Images[1].ID] != "failed" {
		t.Fatalf("outcome %+v", o)
	}
	if o.attempts[r.Images[1].ID] != 1 {
		t.Fatalf("a deterministic failure must not be retried: %d attempts", o.attempts[r.Images[1].ID])
	}
	for _, ev := range evs {
		if ev.Name == "failed" {
			if d := parseData(t, ev); d.Attempts != 1 || d.Error == "" {
				t.Fatalf("failed event %s", ev.Data)
			}
		}
	}
	resp, err := http.Get(n.url + "/api/images/" + r.BatchID + "/" + r.Images[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Code, State, Error string }
	decodeJSON(t, resp, &e)
	if resp.StatusCode != 409 || e.Code != "not_ready" || e.State != "failed" || e.Error == "" {
		t.Fatalf("result of failed image: %d %+v", resp.StatusCode, e)
	}
}

func TestFilenameIsNeverAPath(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "a", "b")
	n := startNode(t, dir, nil)
	for _, name := range []string{"../../x.jpg", "/etc/passwd.jpg", "..\\..\\y.jpg"} {
		r := upload(t, n.url, filePart(name, jpegBytes(t, 64, 64, 10)))
		if r.Images[0].Name != name {
			t.Fatalf("name echoed as %q, want %q", r.Images[0].Name, name)
		}
		evs := openSSE(t, t.Context(), n.url+r.Events, "").collect(t, 30*time.Second)
		checkSequence(t, r.BatchID, evs)
	}
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !info.IsDir() && !isUnder(p, dir) {
			t.Errorf("file outside the data dir: %s", p)
		}
		if base := filepath.Base(p); base == "x.jpg" || base == "y.jpg" || base == "passwd.jpg" {
			t.Errorf("client filename reached the disk: %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func isUnder(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !filepath.IsAbs(rel) && (len(rel) < 3 || rel[:3] != "../")
}

func TestUnknownBatchesAre404(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	r := upload(t, n.url, filePart("a.jpg", jpegBytes(t, 64, 64, 11)))
	unknown := "0b5c2a9e-8f0e-4c4b-9a6f-3d2f8e1c7b10"
	for _, path := range []string{
		"/api/images/" + unknown, "/api/images/not-a-uuid", "/api/images/" + unknown + "/events",
		"/api/images/..%2f..%2fetc/events", "/api/images/" + unknown + "/" + unknown,
		"/api/images/" + r.BatchID + "/" + unknown,
	} {
		resp, err := http.Get(n.url + path)
		if err != nil {
			t.Fatal(err)
		}
		var e apiErr
		decodeJSON(t, resp, &e)
		if resp.StatusCode != 404 || e.Code != "not_found" || e.Error == "" || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %q %+v", path, resp.StatusCode, resp.Header.Get("Content-Type"), e)
		}
	}
	resp, err := http.Get(n.url + "/api/images/" + r.BatchID + "/events?lastEventId=abc")
	if err != nil {
		t.Fatal(err)
	}
	var e apiErr
	decodeJSON(t, resp, &e)
	if resp.StatusCode != 400 || e.Code != "bad_last_event_id" {
		t.Fatalf("bad lastEventId: %d %+v", resp.StatusCode, e)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(n.url + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
	}
	n.Server().StopAccepting()
	resp, err := http.Get(n.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var e apiErr
	decodeJSON(t, resp, &e)
	if resp.StatusCode != 503 || e.Code != "shutting_down" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("readyz while stopping: %d %+v", resp.StatusCode, e)
	}
	ct, body := multipartBody(t, filePart("a.jpg", jpegBytes(t, 32, 32, 1)))
	resp = post(t, n.url+"/api/images", ct, body)
	decodeJSON(t, resp, &e)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("upload while stopping: %d %+v", resp.StatusCode, e)
	}
}

func TestPingOnIdleStream(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, func(c *Config) { c.SSEPing = 50 * time.Millisecond })
	// Nothing is claimed once the pool drains, so the batch stays queued
	// and its stream idle.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := n.System().Drain(ctx); err != nil {
		t.Fatal(err)
	}
	r := upload(t, n.url, filePart("a.jpg", jpegBytes(t, 64, 64, 1)))
	req, _ := http.NewRequestWithContext(ctx, "GET", n.url+r.Events, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 0, 512)
	tmp := make([]byte, 256)
	for !bytes.Contains(buf, []byte("\n: ping\n\n")) {
		k, err := resp.Body.Read(tmp)
		if err != nil {
			t.Fatalf("read: %v (got %q)", err, buf)
		}
		buf = append(buf, tmp[:k]...)
	}
	if !bytes.HasPrefix(buf, []byte("retry: 2000\n\nid: 1\nevent: queued\n")) {
		t.Fatalf("stream starts %q", buf)
	}
}

// TestUploadServerTiming: a 202 says where the upload's time went, in a
// Server-Timing header (read, sync, commit, total, in ms), for the bench's
// stage breakdown; a refused upload carries none.
func TestUploadServerTiming(t *testing.T) {
	m := startNode(t, t.TempDir(), nil)
	ct, body := multipartBody(t, filePart("a.jpg", jpegBytes(t, 64, 48, 1)), filePart("b.jpg", jpegBytes(t, 64, 48, 2)))
	resp := post(t, m.url+"/api/images", ct, body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("upload: %d", resp.StatusCode)
	}
	got := map[string]float64{}
	for _, metric := range strings.Split(resp.Header.Get("Server-Timing"), ",") {
		name, dur, ok := strings.Cut(strings.TrimSpace(metric), ";dur=")
		v, err := strconv.ParseFloat(dur, 64)
		if !ok || err != nil || v < 0 {
			t.Fatalf("Server-Timing %q: bad metric %q", resp.Header.Get("Server-Timing"), metric)
		}
		got[name] = v
	}
	if len(got) != 4 || got["total"] < got["read"] || got["total"] < got["commit"] || got["total"] < got["sync"] {
		t.Fatalf("Server-Timing %q: want read, sync, commit within total", resp.Header.Get("Server-Timing"))
	}
	ct, body = multipartBody(t, fieldPart("width", "0"), filePart("a.jpg", jpegBytes(t, 64, 48, 1)))
	resp = post(t, m.url+"/api/images", ct, body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Server-Timing") != "" {
		t.Fatalf("refused upload: %d, Server-Timing %q", resp.StatusCode, resp.Header.Get("Server-Timing"))
	}
}
