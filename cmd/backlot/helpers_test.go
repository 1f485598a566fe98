package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backlot/backlot/http/sse"
	"github.com/backlot/backlot/persistence/testkit"
)

// node is one in-process Backlot on 127.0.0.1:0.
type node struct {
	*Main
	url  string
	stop func() // graceful stop, waits for Run to return
}

func startNode(t testing.TB, dir string, mutate func(*Config)) *node {
	t.Helper()
	return startNodeWith(t, dir, mutate, nil)
}

// startNodeWith also lets the test set Main's unexported knobs.
func startNodeWith(t testing.TB, dir string, mutate func(*Config), tweak func(*Main)) *node {
	t.Helper()
	m := NewMain(io.Discard)
	if tweak != nil {
		tweak(m)
	}
	m.Config.Listen = "127.0.0.1:0"
	m.Config.DataDir = dir
	m.Config.Workers = 2
	m.Config.RetryBackoff = 10 * time.Millisecond
	if mutate != nil {
		mutate(&m.Config)
	}
	if err := m.Config.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := m.Open(ctx); err != nil {
		cancel()
		m.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	n := &node{Main: m, url: "http://" + m.Addr()}
	var stopped bool
	n.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("node did not stop within 30s")
		}
	}
	t.Cleanup(n.stop)
	return n
}

// The shared helpers (persistence/testkit) under the names these tests use.
var (
	photo      = testkit.Photo
	jpegBytes  = testkit.JPEG
	pngBytes   = testkit.PNG
	eventually = testkit.Eventually
)

type part struct {
	field, filename string
	data            []byte
}

func filePart(name string, data []byte) part { return part{"images", name, data} }
func fieldPart(name, value string) part      { return part{name, "", []byte(value)} }

// multipartBody builds a real multipart/form-data body.
func multipartBody(t testing.TB, parts ...part) (string, []byte) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, p := range parts {
		var pw io.Writer
		var err error
		if p.filename != "" {
			pw, err = w.CreateFormFile(p.field, p.filename)
		} else {
			pw, err = w.CreateFormField(p.field)
		}
		if err != nil {
			t.Fatal(err)
		}
		pw.Write(p.data)
	}
	w.Close()
	return w.FormDataContentType(), b.Bytes()
}

type uploadReply struct {
	BatchID string `json:"batchId"`
	Total   int    `json:"total"`
	Images  []struct {
		ID, Name string
	} `json:"images"`
	Status string `json:"status"`
	Events string `json:"events"`
}

type apiErr struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	File  string `json:"file"`
}

func post(t testing.TB, url, ctype string, body []byte, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// upload posts parts and requires a 202.
func upload(t testing.TB, base string, parts ...part) uploadReply {
	t.Helper()
	ct, body := multipartBody(t, parts...)
	resp := post(t, base+"/api/images", ct, body)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("upload: %d %s", resp.StatusCode, raw)
	}
	var r uploadReply
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	if loc := resp.Header.Get("Location"); loc != "/api/images/"+r.BatchID {
		t.Fatalf("Location %q", loc)
	}
	return r
}

func decodeJSON(t testing.TB, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decode %q: %v", raw, err)
	}
}

// stream is a real SSE client on one connection.
type stream struct {
	resp   *http.Response
	events chan sse.Event
	err    error // set before events is closed
}

// openSSE connects to url; lastID "" sends no Last-Event-ID.
func openSSE(t testing.TB, ctx context.Context, url, lastID string) *stream {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	s := &stream{resp: resp, events: make(chan sse.Event, 1024)}
	if resp.StatusCode != 200 {
		close(s.events)
		return s
	}
	go func() {
		defer close(s.events)
		defer resp.Body.Close()
		r := sse.NewReader(resp.Body)
		for {
			ev, err := r.Next()
			if err != nil {
				if err != io.EOF {
					s.err = err
				}
				return
			}
			select {
			case s.events <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return s
}

// collect reads until the stream ends (the server closes it after done) or
// the deadline passes.
func (s *stream) collect(t testing.TB, within time.Duration) []sse.Event {
	t.Helper()
	var out []sse.Event
	timer := time.NewTimer(within)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				return out
			}
			out = append(out, ev)
		case <-timer.C:
			t.Fatalf("stream not finished within %v; got %d events: %s", within, len(out), names(out))
		}
	}
}

func names(evs []sse.Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "%s:%s ", e.ID, e.Name)
	}
	return b.String()
}

// blobPath is the file the node's blob store (fsblob on the data dir dir)
// keeps key in: tests damage results and sources behind its back.
func blobPath(dir, key string) string { return filepath.Join(dir, filepath.FromSlash(key)) }

// batchDirs lists the batch directories under a data dir.
func batchDirs(t testing.TB, dir string) []string {
	entries, err := os.ReadDir(filepath.Join(dir, "batches"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// status is the status code of a GET.
func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// get reads url and requires the status.
func get(t testing.TB, url string, want int) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d %s, want %d", url, resp.StatusCode, body, want)
	}
	return body
}
