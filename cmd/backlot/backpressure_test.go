package main

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// TestQueueFull: past --max-queued images waiting or running, uploads get
// 503 queue_full with Retry-After and store nothing.
func TestQueueFull(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, func(c *Config) { c.MaxQueued = 3 })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := n.System().Drain(ctx); err != nil { // nothing leaves the queue
		t.Fatal(err)
	}
	jpg := jpegBytes(t, 32, 32, 1)
	upload(t, n.url, filePart("1.jpg", jpg), filePart("2.jpg", jpg))
	for _, parts := range [][]part{
		{filePart("3.jpg", jpg), filePart("4.jpg", jpg)}, // 2+2 > 3
	} {
		ct, body := multipartBody(t, parts...)
		resp := post(t, n.url+"/api/images", ct, body)
		var e apiErr
		decodeJSON(t, resp, &e)
		if resp.StatusCode != 503 || e.Code != "queue_full" || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("over the bound: %d %+v", resp.StatusCode, e)
		}
	}
	if d := batchDirs(t, dir); len(d) != 1 {
		t.Fatalf("refused upload left files: %v", d)
	}
	upload(t, n.url, filePart("3.jpg", jpg)) // exactly at the bound
	ct, body := multipartBody(t, filePart("4.jpg", jpg))
	resp := post(t, n.url+"/api/images", ct, body)
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("full queue: %d", resp.StatusCode)
	}
}

func TestCORS(t *testing.T) {
	preflight := func(base string) *http.Response {
		req, _ := http.NewRequest("OPTIONS", base+"/api/images", nil)
		req.Header.Set("Origin", "https://app.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	off := startNode(t, t.TempDir(), nil)
	if h := preflight(off.url).Header.Get("Access-Control-Allow-Origin"); h != "" {
		t.Fatalf("CORS is off by default, got %q", h)
	}
	on := startNode(t, t.TempDir(), func(c *Config) { c.CORSOrigins = "https://app.example" })
	if h := preflight(on.url).Header.Get("Access-Control-Allow-Origin"); h != "https://app.example" {
		t.Fatalf("allowed origin: %q", h)
	}
}
