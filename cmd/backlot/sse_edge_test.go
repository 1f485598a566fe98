package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The edge cases of API.md 1.1's "Progress events": 204 for a finished
// batch with nothing after Last-Event-ID, 400 bad_last_event_id for an id
// past the last one issued, HEAD opening nothing, a client that goes away
// (or stops reading) freeing its subscription at once.

// sseClient opens a connection per request, so that none stays behind.
var sseClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// sseGet sends method to url with the given headers and returns the status,
// the headers and the whole body (a stream must end for it to return).
func sseGet(t *testing.T, method, url string, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := sseClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

// wantAPIError requires a JSON error with that status and code.
func wantAPIError(t *testing.T, what string, code int, hdr http.Header, body []byte, wantCode int, wantErr string) {
	t.Helper()
	var e apiErr
	if code != wantCode || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") || json.Unmarshal(body, &e) != nil || e.Code != wantErr || e.Error == "" {
		t.Fatalf("%s: %d %q %s, want %d %s", what, code, hdr.Get("Content-Type"), body, wantCode, wantErr)
	}
}

// finishedBatch uploads three images and follows the stream to done; it
// returns the batch and its whole sequence.
func finishedBatch(t *testing.T, n *node) (uploadReply, []string) {
	t.Helper()
	r := upload(t, n.url, filePart("a.jpg", jpegBytes(t, 160, 120, 1)), filePart("b.jpg", jpegBytes(t, 160, 120, 2)), filePart("c.jpg", jpegBytes(t, 160, 120, 3)))
	evs := openSSE(t, t.Context(), n.url+r.Events, "").collect(t, 30*time.Second)
	checkSequence(t, r.BatchID, evs)
	var seq []string
	for _, e := range evs {
		seq = append(seq, e.ID+":"+e.Name)
	}
	return r, seq
}

// idleStreams waits until no stream and no subscriber is open.
func idleStreams(t *testing.T, n *node, within time.Duration, what string) {
	t.Helper()
	eventually(t, within, what, func() bool {
		return n.Server().Streams() == 0 && n.System().Subscribers() == 0
	})
}

func TestSSEFinishedNoContent(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	r, full := finishedBatch(t, n)
	last := len(full)
	url := n.url + r.Events
	for _, c := range []struct {
		name string
		url  string
		hdr  []string
	}{
		{"header", url, []string{"Last-Event-ID", strconv.Itoa(last)}},
		{"query", url + "?lastEventId=" + strconv.Itoa(last), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, hdr, body := sseGet(t, "GET", c.url, c.hdr...)
			if code != http.StatusNoContent || len(body) != 0 || hdr.Get("Content-Type") == "text/event-stream" {
				t.Fatalf("Last-Event-ID = done's id: %d %q %q, want 204 with no body and no stream", code, hdr.Get("Content-Type"), body)
			}
		})
	}
	// One before done: exactly done, then the end.
	evs := openSSE(t, t.Context(), url, strconv.Itoa(last-1)).collect(t, 10*time.Second)
	if len(evs) != 1 || evs[0].ID != strconv.Itoa(last) || evs[0].Name != "done" {
		t.Fatalf("after %d: %s, want only %s", last-1, names(evs), full[last-1])
	}
	idleStreams(t, n, 5*time.Second, "streams to end")
}

func TestSSEResumeInTheMiddle(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	r, full := finishedBatch(t, n)
	for k := 1; k < len(full); k++ {
		for _, viaQuery := range []bool{false, true} {
			url, lastID := n.url+r.Events, strconv.Itoa(k)
			if viaQuery {
				url, lastID = url+"?lastEventId="+lastID, ""
			}
			evs := openSSE(t, t.Context(), url, lastID).collect(t, 10*time.Second)
			var got []string
			for _, e := range evs {
				got = append(got, e.ID+":"+e.Name)
			}
			if strings.Join(got, " ") != strings.Join(full[k:], " ") {
				t.Fatalf("after %d (query %v): %v, want %v", k, viaQuery, got, full[k:])
			}
		}
	}

	// A running batch: k at most the last id issued is served from k on,
	// whatever is appended meanwhile.
	r2 := upload(t, n.url, filePart("d.jpg", jpegBytes(t, 320, 240, 4)), filePart("e.jpg", jpegBytes(t, 320, 240, 5)))
	evs := openSSE(t, t.Context(), n.url+r2.Events, "1").collect(t, 30*time.Second)
	if len(evs) == 0 || evs[0].ID != "2" || evs[len(evs)-1].Name != "done" {
		t.Fatalf("running batch after 1: %s", names(evs))
	}
	for i, e := range evs {
		if e.ID != strconv.Itoa(i+2) {
			t.Fatalf("running batch after 1: gap or repeat in %s", names(evs))
		}
	}
}

func TestSSEBadLastEventIDPastEnd(t *testing.T) {
	n := startNode(t, t.TempDir(), func(c *Config) { c.SSEPing = time.Minute })
	r, full := finishedBatch(t, n)
	past := strconv.Itoa(len(full) + 1)
	code, hdr, body := sseGet(t, "GET", n.url+r.Events, "Last-Event-ID", past)
	wantAPIError(t, "finished batch, Last-Event-ID past done", code, hdr, body, 400, "bad_last_event_id")
	code, hdr, body = sseGet(t, "GET", n.url+r.Events+"?lastEventId="+past)
	wantAPIError(t, "finished batch, ?lastEventId past done", code, hdr, body, 400, "bad_last_event_id")

	// A batch that stays queued (nothing is claimed): its last id is 1.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := n.System().Drain(ctx); err != nil {
		t.Fatal(err)
	}
	q := upload(t, n.url, filePart("q.jpg", jpegBytes(t, 64, 64, 9)))
	for _, k := range []string{"2", "1000"} {
		code, hdr, body := sseGet(t, "GET", n.url+q.Events, "Last-Event-ID", k)
		wantAPIError(t, "running batch, Last-Event-ID "+k, code, hdr, body, 400, "bad_last_event_id")
	}
	if s := n.Server().Streams(); s != 0 {
		t.Fatalf("%d streams open after refusals", s)
	}
	// k = 1, the last id issued, is fine: a stream that waits.
	conn, _ := sseOpenRaw(t, n.url, q.Events, "Last-Event-ID: 1\r\n")
	defer conn.Close()
	if n.Server().Streams() != 1 {
		t.Fatalf("streams = %d, want 1", n.Server().Streams())
	}
	conn.Close()
	idleStreams(t, n, 5*time.Second, "the stream to end")
}

func TestSSEHeadOpensNothing(t *testing.T) {
	n := startNode(t, t.TempDir(), func(c *Config) { c.SSEPing = time.Minute })
	r, full := finishedBatch(t, n)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := n.System().Drain(ctx); err != nil {
		t.Fatal(err)
	}
	q := upload(t, n.url, filePart("q.jpg", jpegBytes(t, 64, 64, 9)))
	idleStreams(t, n, 5*time.Second, "streams to end")
	before := ourGoroutines()

	for _, c := range []struct {
		name, path, lastID string
		want               int
		stream             bool
	}{
		{"running", q.Events, "", 200, true},
		{"finished replay", r.Events, "", 200, true},
		{"finished, nothing after", r.Events, strconv.Itoa(len(full)), 204, false},
		{"past the end", q.Events, "5", 400, false},
		{"unknown batch", "/api/images/00000000000000000000000000/events", "", 404, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var hdr []string
			if c.lastID != "" {
				hdr = []string{"Last-Event-ID", c.lastID}
			}
			code, h, body := sseGet(t, "HEAD", n.url+c.path, hdr...)
			if code != c.want || len(body) != 0 {
				t.Fatalf("HEAD: %d %q, want %d and no body", code, body, c.want)
			}
			if c.stream && (h.Get("Content-Type") != "text/event-stream" || h.Get("Cache-Control") != "no-cache") {
				t.Fatalf("HEAD: headers %v", h)
			}
			// Nothing was opened, not even for a moment: the counters
			// are zero as soon as the answer is in.
			if s, sub := n.Server().Streams(), n.System().Subscribers(); s != 0 || sub != 0 {
				t.Fatalf("after HEAD: %d streams, %d subscribers", s, sub)
			}
		})
	}
	eventually(t, 5*time.Second, "goroutines back to where they were", func() bool { return ourGoroutines() <= before })
}

// sseOpenRaw opens a stream on a raw connection with extra header lines,
// reads its head and first bytes up to the queued event (or, after a
// Last-Event-ID, up to the retry line) and returns the connection.
func sseOpenRaw(t *testing.T, base, path, extra string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: backlot\r\nAccept: text/event-stream\r\n%s\r\n", path, extra)
	br := bufio.NewReader(conn)
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, " 200 ") {
		t.Fatalf("stream: %q %v", status, err)
	}
	want := "event: queued"
	if extra != "" {
		want = "retry: "
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stream before %q: %v", want, err)
		}
		if strings.HasPrefix(line, want) {
			break
		}
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, br
}

func TestSSEClosedClientFreedAtOnce(t *testing.T) {
	// The ping is a minute away: only seeing the close can free the
	// subscription within the second.
	n := startNode(t, t.TempDir(), func(c *Config) { c.SSEPing = time.Minute })
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := n.System().Drain(ctx); err != nil {
		t.Fatal(err)
	}
	q := upload(t, n.url, filePart("q.jpg", jpegBytes(t, 64, 64, 9)))
	before := ourGoroutines()
	for _, how := range []string{"close", "reset"} {
		t.Run(how, func(t *testing.T) {
			conn, _ := sseOpenRaw(t, n.url, q.Events, "")
			if s, sub := n.Server().Streams(), n.System().Subscribers(); s != 1 || sub != 1 {
				t.Fatalf("open: %d streams, %d subscribers", s, sub)
			}
			if how == "reset" {
				_ = conn.(*net.TCPConn).SetLinger(0)
			}
			conn.Close()
			idleStreams(t, n, time.Second, "the subscription to be freed within a second of the close")
			eventually(t, time.Second, "the stream's goroutines to end within a second", func() bool { return ourGoroutines() <= before })
		})
	}
}

func TestSSEStalledReaderCut(t *testing.T) {
	// A client that never reads: the server fills the socket buffers with
	// one big queued event (4,000 names of 255 three-byte runes: about
	// 3 MB), its write stalls, and after --write-stall the connection is
	// closed and the stream with it, long before the ping.
	const files = 4000
	stall := 300 * time.Millisecond
	n := startNode(t, t.TempDir(), func(c *Config) {
		c.SSEPing = time.Minute
		c.WriteStall = stall
		c.MaxFiles = files
	})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := n.System().Drain(ctx); err != nil {
		t.Fatal(err)
	}
	tiny := pngBytes(t, 1, 1, 1)
	parts := make([]part, files)
	long := strings.Repeat("漢", 250)
	for i := range parts {
		parts[i] = filePart(fmt.Sprintf("%s%04d.png", long, i), tiny)
	}
	q := upload(t, n.url, parts...)

	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	conn, err := d.DialContext(ctx, "tcp", strings.TrimPrefix(n.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: backlot\r\n\r\n", q.Events)
	eventually(t, 10*time.Second, "the stream to open", func() bool { return n.Server().Streams() == 1 })
	start := time.Now()
	idleStreams(t, n, stall+5*time.Second, "the stalled stream to be closed")
	t.Logf("stalled stream closed %v after it opened (write stall %v)", time.Since(start).Round(time.Millisecond), stall)
	// The client, reading at last, gets part of the stream and then the end.
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	got, err := io.Copy(io.Discard, conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("connection still open after the stall: %v (%d bytes)", err, got)
	}
	if got >= int64(files*len(long)) {
		t.Fatalf("client read %d bytes: the whole stream, so nothing stalled", got)
	}
}
