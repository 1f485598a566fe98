package bench

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
)

// fake is a small real server of the API subset the harness uses, faithful
// to API.md where the harness can tell: multipart upload to a 202 (with
// "events", or without as the Node peer answers), queued as event 1 before
// the reply, then processing and completed (or failed) per image and done
// last, appended by a goroutine per batch; an SSE stream that opens with
// retry, replays after Last-Event-ID, goes on live and ends after done;
// JSON errors; a bearer token when configured.
type fake struct {
	opts fakeOptions

	mu      sync.Mutex
	batches map[string]*fakeBatch
	uploads []fakeUpload
	resumes []string      // Last-Event-ID of every stream that sent one
	seen    chan struct{} // a token per upload received (up to its buffer)
}

type fakeOptions struct {
	nodeReply bool   // no "events" (nor status) in the 202, like node-seed
	token     string // required when set
	retryMS   int    // the stream's retry: (2000 when 0)
	// reject answers the n-th upload (1-based) with this status and body
	// when it returns a non-zero status.
	reject func(n int) (int, string)
	// failImage makes image i of the n-th upload fail.
	failImage func(n, i int) bool
	cutAfter  int  // a batch's first stream breaks after this many events (0: never)
	refuse    int  // a batch's first this many streams get 503 store_unavailable, Retry-After: 1
	hold      bool // batches never get past queued
}

// fakeUpload is what one upload carried.
type fakeUpload struct {
	fields map[string]string
	files  []fakeFile
}

type fakeFile struct {
	name, ctype string
	w, h        int // decoded config
}

type fakeEvent struct{ name, data string }

type fakeBatch struct {
	mu      sync.Mutex
	events  []fakeEvent
	changed chan struct{} // closed and replaced at each append
	streams int
}

func newFake(opts fakeOptions) *fake {
	if opts.retryMS == 0 {
		opts.retryMS = 2000
	}
	return &fake{opts: opts, batches: map[string]*fakeBatch{}, seen: make(chan struct{}, 1000)}
}

// startFake serves a fake on 127.0.0.1:0 for the test.
func startFake(t *testing.T, opts fakeOptions) (*fake, string) {
	t.Helper()
	f := newFake(opts)
	srv := httptest.NewServer(f.handler())
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func (f *fake) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/images", f.upload)
	mux.HandleFunc("GET /api/images/{batch}/events", f.events)
	return mux
}

func (f *fake) authorized(w http.ResponseWriter, r *http.Request) bool {
	if f.opts.token == "" || r.Header.Get("Authorization") == "Bearer "+f.opts.token || r.URL.Query().Get("token") == f.opts.token {
		return true
	}
	writeErr(w, 401, "unauthorized", "this server needs an API token")
	return false
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg, "code": code})
}

func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (f *fake) upload(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r) {
		return
	}
	mr, err := r.MultipartReader()
	if err != nil {
		writeErr(w, 400, "not_multipart", err.Error())
		return
	}
	up := fakeUpload{fields: map[string]string{}}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			writeErr(w, 400, "bad_multipart", err.Error())
			return
		}
		b, err := io.ReadAll(p)
		if err != nil {
			writeErr(w, 400, "bad_multipart", err.Error())
			return
		}
		if p.FormName() != "images" {
			up.fields[p.FormName()] = string(b)
			continue
		}
		cfg, _, err := image.DecodeConfig(bytes.NewReader(b))
		if err != nil {
			writeErr(w, 415, "unsupported_image", err.Error())
			return
		}
		up.files = append(up.files, fakeFile{p.FileName(), p.Header.Get("Content-Type"), cfg.Width, cfg.Height})
	}
	if len(up.files) == 0 {
		writeErr(w, 400, "no_images", `no "images" part`)
		return
	}
	f.mu.Lock()
	f.uploads = append(f.uploads, up)
	n := len(f.uploads)
	f.mu.Unlock()
	select {
	case f.seen <- struct{}{}:
	default:
	}
	if f.opts.reject != nil {
		if status, body := f.opts.reject(n); status != 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			io.WriteString(w, body)
			return
		}
	}

	id := randomID()
	b := &fakeBatch{changed: make(chan struct{})}
	images := make([]map[string]string, len(up.files))
	for i, file := range up.files {
		images[i] = map[string]string{"id": randomID(), "name": file.name}
	}
	b.append("queued", map[string]any{"batchId": id, "total": len(images), "images": images})
	f.mu.Lock()
	f.batches[id] = b
	f.mu.Unlock()
	if !f.opts.hold {
		go func() {
			failed := 0
			for i, im := range images {
				b.append("processing", map[string]any{"batchId": id, "imageId": im["id"], "attempt": 1})
				if f.opts.failImage != nil && f.opts.failImage(n, i) {
					failed++
					b.append("failed", map[string]any{"batchId": id, "imageId": im["id"], "error": "cannot decode", "attempts": 1})
					continue
				}
				b.append("completed", map[string]any{"batchId": id, "imageId": im["id"], "url": "/api/images/" + id + "/" + im["id"]})
			}
			b.append("done", map[string]any{"batchId": id, "total": len(images), "completed": len(images) - failed, "failed": failed})
		}()
	}

	reply := map[string]any{"batchId": id, "total": len(images), "images": images}
	if !f.opts.nodeReply {
		reply["status"] = "/api/images/" + id
		reply["events"] = "/api/images/" + id + "/events"
		w.Header().Set("Location", "/api/images/"+id)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Server-Timing", `read;dur=1.5, db;desc="store";dur=0.25, miss, commit;dur=2`)
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(reply)
}

func (b *fakeBatch) append(name string, data any) {
	raw, _ := json.Marshal(data)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events = append(b.events, fakeEvent{name, string(raw)})
	close(b.changed)
	b.changed = make(chan struct{})
}

func (f *fake) events(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r) {
		return
	}
	f.mu.Lock()
	b := f.batches[r.PathValue("batch")]
	f.mu.Unlock()
	if b == nil {
		writeErr(w, 404, "not_found", "no such batch")
		return
	}
	after := 0
	if last := r.Header.Get("Last-Event-ID"); last != "" {
		n, err := strconv.Atoi(last)
		if err != nil || n < 0 {
			writeErr(w, 400, "bad_last_event_id", "bad Last-Event-ID")
			return
		}
		after = n
		f.mu.Lock()
		f.resumes = append(f.resumes, last)
		f.mu.Unlock()
	}
	b.mu.Lock()
	b.streams++
	first := b.streams == f.opts.refuse+1
	refused := b.streams <= f.opts.refuse
	b.mu.Unlock()
	if refused {
		w.Header().Set("Retry-After", "1")
		writeErr(w, 503, "store_unavailable", "the store is unreachable; retry later")
		return
	}

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(200)
	fl := w.(http.Flusher)
	fmt.Fprintf(w, "retry: %d\n\n", f.opts.retryMS)
	fl.Flush()
	sent := 0
	for {
		b.mu.Lock()
		evs, changed := b.events[min(after, len(b.events)):], b.changed
		b.mu.Unlock()
		for _, ev := range evs {
			after++
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", after, ev.name, ev.data)
			fl.Flush()
			sent++
			if ev.name == "done" {
				return
			}
			if first && f.opts.cutAfter > 0 && sent == f.opts.cutAfter {
				return // the connection drops mid-stream
			}
		}
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		}
	}
}

func (f *fake) snapshot() ([]fakeUpload, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeUpload(nil), f.uploads...), append([]string(nil), f.resumes...)
}
