package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// The HTTP edge (API.md 1.1, "The HTTP edge") tried as an attacker would:
// raw bytes on a real socket to a real node. Each case asserts the exact
// reply, that the connection is closed after it where the contract says
// so, and that no second response ever appears.

type rawResp struct {
	status int
	header http.Header
	body   []byte
}

type rawResult struct {
	resps  []rawResp
	closed bool // the server closed the connection
}

// rawDo writes req on a new connection to the node at base and reads every
// response until the server closes it or within passes.
func rawDo(t *testing.T, base string, req []byte, within time.Duration) rawResult {
	t.Helper()
	conn := dialRaw(t, base)
	defer conn.Close()
	_, _ = conn.Write(req) // the server may answer and close before all is written
	return readResponses(t, conn, within)
}

func dialRaw(t *testing.T, base string) net.Conn {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func readResponses(t *testing.T, conn net.Conn, within time.Duration) rawResult {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(within))
	br := bufio.NewReader(conn)
	var res rawResult
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			var ne net.Error
			switch {
			case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF) && br.Buffered() == 0, errors.Is(err, net.ErrClosed):
				res.closed = true
			case errors.As(err, &ne) && ne.Timeout():
			case strings.Contains(err.Error(), "connection reset"):
				res.closed = true
			default:
				t.Fatalf("reading responses: %v (after %d)", err, len(res.resps))
			}
			return res
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("reading a response body: %v", err)
		}
		res.resps = append(res.resps, rawResp{resp.StatusCode, resp.Header, body})
	}
}

// wantOne requires exactly one response, JSON with the status and code,
// then the connection closed.
func wantOne(t *testing.T, res rawResult, status int, code string) rawResp {
	t.Helper()
	if len(res.resps) != 1 {
		t.Fatalf("got %d responses, want 1: %+v", len(res.resps), summary(res))
	}
	r := res.resps[0]
	var e apiErr
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("reply %d is not JSON: %q", r.status, r.body)
	}
	if r.status != status || e.Code != code || e.Error == "" {
		t.Fatalf("reply %d %q, want %d %s", r.status, r.body, status, code)
	}
	if !res.closed {
		t.Fatalf("connection left open after %d %s", status, code)
	}
	return r
}

func summary(res rawResult) []string {
	var out []string
	for _, r := range res.resps {
		out = append(out, fmt.Sprintf("%d %.80q", r.status, r.body))
	}
	return out
}

// edgeNode starts a node whose edge timeouts are short enough to test.
func edgeNode(t *testing.T, mutate func(*Config)) *node {
	return startNode(t, t.TempDir(), func(c *Config) {
		c.HeaderTimeout = 500 * time.Millisecond
		c.BodyIdleTimeout = 500 * time.Millisecond
		c.IdleTimeout = 800 * time.Millisecond
		c.MaxBody = 1 << 20
		if mutate != nil {
			mutate(c)
		}
	})
}

// goroutines counts the process's goroutines but fasthttp's idle workers,
// which it keeps for 10 s to serve the next connection.
func goroutines() int {
	n, _ := goroutineStacks()
	return n
}

func goroutineStacks() (int, []byte) {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	var out []byte
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte("fasthttp.(*workerPool).workerFunc")) && bytes.Contains(g, []byte("[chan receive")) {
			continue
		}
		n++
		out = append(append(out, g...), "\n\n"...)
	}
	return n, out
}

// warmGoroutines serves one request (the server starts helpers of its own
// on the first one), then counts goroutines.
func warmGoroutines(t *testing.T, n *node) int {
	t.Helper()
	get(t, n.url+"/healthz", 200)
	return goroutines()
}

// goroutinesSettle waits until the process is back to base goroutines (as
// counted by goroutines; one of the runtime's own may come and go).
func goroutinesSettle(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		n, stacks := goroutineStacks()
		if n <= base+1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, baseline %d:\n%s", n, base, stacks)
		}
		<-tick.C
	}
}

// smuggled is a body that holds a whole request: were it read as one, a
// second response would appear.
const smuggled = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"

func chunkedBody(data string) string {
	return fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(data), data)
}

func TestEdgeSmuggling(t *testing.T) {
	for _, token := range []string{"", "s3cret"} {
		t.Run("token="+token, func(t *testing.T) {
			n := edgeNode(t, func(c *Config) { c.Token = token })
			base := warmGoroutines(t, n)
			type tc struct {
				name, req    string
				status       int
				code         string
				keepsServing bool // a complete body may be drained and the connection go on
			}
			cases := []tc{
				{"unknown path, chunked body left unread", "POST /nope HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunkedBody(smuggled), 404, "not_found", false},
				{"unknown path, chunked body cut short", "POST /nope HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n" + smuggled, 404, "not_found", false},
				{"status route with a whole body", "GET /api/images/00000000-0000-0000-0000-000000000000 HTTP/1.1\r\nHost: x\r\n" + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(smuggled)) + smuggled, 404, "not_found", true},
				{"status route with a large body", "GET /api/images/00000000-0000-0000-0000-000000000000 HTTP/1.1\r\nHost: x\r\nContent-Length: 350000\r\n\r\n" + strings.Repeat(smuggled, 10000), 404, "not_found", false},
				{"healthz with a chunked body", "POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n100\r\n" + smuggled, 405, "method_not_allowed", false},
				{"upload, not multipart", "POST /api/images HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n100\r\n" + smuggled, 400, "not_multipart", false},
			}
			if token != "" {
				for i := range cases {
					if strings.Contains(cases[i].req, "/api/") {
						cases[i].status, cases[i].code = 401, "unauthorized"
					}
				}
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					res := rawDo(t, n.url, []byte(c.req), 3*time.Second)
					if c.keepsServing {
						// The body was whole: it may be drained and the
						// connection go on (until its idle timeout), but
						// the request inside the body is never answered.
						res.closed = true
					}
					wantOne(t, res, c.status, c.code)
				})
			}
			goroutinesSettle(t, base)
		})
	}
}

// TestEdgeKeepAlive: requests whose bodies were read whole leave the
// connection serving, pipelined ones included; one whose body was left
// unread (a chunked body to an unknown path) is answered, then closed: the
// request inside that body is never answered.
func TestEdgeKeepAlive(t *testing.T) {
	n := edgeNode(t, nil)
	ct, body := multipartBody(t, filePart("a.jpg", jpegBytes(t, 64, 48, 1)))
	up := fmt.Sprintf("POST /api/images HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s", ct, len(body), body)
	req := up + "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" +
		"POST /nope HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunkedBody(smuggled) +
		"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	res := rawDo(t, n.url, []byte(req), 5*time.Second)
	var got []int
	for _, r := range res.resps {
		got = append(got, r.status)
	}
	if fmt.Sprint(got) != "[202 200 404]" || !res.closed {
		t.Fatalf("statuses %v closed=%v, want [202 200 404] then close: %v", got, res.closed, summary(res))
	}
}

func TestEdgeFraming(t *testing.T) {
	n := edgeNode(t, func(c *Config) { c.Token = "s3cret" })
	base := warmGoroutines(t, n)
	long := strings.Repeat("a", 9<<10)
	cases := []struct {
		name, req string
		status    int
		code      string
	}{
		{"Content-Length twice", "POST /api/images HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400, "bad_request"},
		{"Content-Length twice, different", "POST /api/images HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 40\r\n\r\nhello" + smuggled, 400, "bad_request"},
		{"Content-Length and chunked", "POST /api/images HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "bad_request"},
		{"Content-Length signed", "POST /api/images HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello", 400, "bad_request"},
		{"gzip coding", "POST /api/images HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "not_implemented"},
		{"chunked twice", "POST /api/images HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501, "not_implemented"},
		{"declared body over the limit", "POST /api/images HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: 2097152\r\n\r\n", 413, "body_too_large"},
		{"over the limit, 100-continue", "POST /api/images HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2097152\r\n\r\n", 413, "body_too_large"},
		{"unknown method", "BREW /api/images HTTP/1.1\r\nHost: x\r\n\r\n", 501, "not_implemented"},
		{"DELETE", "DELETE /api/images/x HTTP/1.1\r\nHost: x\r\n\r\n", 501, "not_implemented"},
		{"target over 8 KiB", "GET /" + long + " HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"},
		{"headers over 16 KiB", "GET / HTTP/1.1\r\nHost: x\r\nX-A: " + long + "\r\nX-B: " + long + "\r\n\r\n", 431, "headers_too_large"},
		{"space before colon", "GET / HTTP/1.1\r\nHost: x\r\nAuthorization : Bearer s3cret\r\n\r\n", 400, "bad_request"},
		{"folded header", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400, "bad_request"},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", 400, "bad_request"},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "bad_request"},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, "bad_request"},
		{"bad version", "GET / HTTP/1.7\r\nHost: x\r\n\r\n", 400, "bad_request"},
		{"bare CR", "GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n", 400, "bad_request"},
		{"NUL in a header", "GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", 400, "bad_request"},
		{"broken chunk size", "POST /api/images HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\nContent-Type: multipart/form-data; boundary=x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" + smuggled, 400, "bad_chunked_body"},
		{"chunk without CRLF", "POST /api/images HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\nContent-Type: multipart/form-data; boundary=x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n" + smuggled, 400, "bad_chunked_body"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := c.req + "Authorization: Bearer s3cret\r\n" // trailing junk: never echoed
			res := rawDo(t, n.url, []byte(req), 3*time.Second)
			r := wantOne(t, res, c.status, c.code)
			if bytes.Contains(r.body, []byte("s3cret")) || bytes.Contains(r.body, []byte("healthz")) || bytes.Contains(r.body, []byte("aaaa")) {
				t.Fatalf("reply echoes the request: %q", r.body)
			}
			if c.status == 413 && r.status == 100 {
				t.Fatal("100 Continue before the 413")
			}
		})
	}
	goroutinesSettle(t, base)
}

func TestEdgeTimeouts(t *testing.T) {
	n := edgeNode(t, nil)
	base := warmGoroutines(t, n)
	t.Run("half a head", func(t *testing.T) {
		res := rawDo(t, n.url, []byte("GET /healthz HTTP/1.1\r\nHo"), 5*time.Second)
		wantOne(t, res, 408, "request_timeout")
	})
	t.Run("head sent byte by byte past the timeout", func(t *testing.T) {
		// Bytes keep arriving, but the head as a whole is late.
		conn := dialRaw(t, n.url)
		defer conn.Close()
		head := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("s", 100) + "\r\n\r\n"
		done := make(chan struct{})
		go func() {
			defer close(done)
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for i := range len(head) {
				if _, err := conn.Write([]byte{head[i]}); err != nil {
					return
				}
				<-tick.C
			}
		}()
		wantOne(t, readResponses(t, conn, 5*time.Second), 408, "request_timeout")
		conn.Close()
		<-done
	})
	t.Run("stalled body", func(t *testing.T) {
		ct, body := multipartBody(t, filePart("a.jpg", jpegBytes(t, 64, 48, 1)))
		req := fmt.Sprintf("POST /api/images HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s", ct, len(body), body[:len(body)/2])
		res := rawDo(t, n.url, []byte(req), 5*time.Second)
		wantOne(t, res, 408, "request_timeout")
		if dirs := batchDirs(t, n.Config.DataDir); len(dirs) != 0 {
			t.Fatalf("a stalled upload left %v behind", dirs)
		}
	})
	t.Run("idle keep-alive closed", func(t *testing.T) {
		conn := dialRaw(t, n.url)
		defer conn.Close()
		if _, err := conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		res := readResponses(t, conn, 5*time.Second)
		if len(res.resps) != 1 || res.resps[0].status != 200 || !res.closed {
			t.Fatalf("got %v closed=%v, want one 200 then a close after the idle timeout", summary(res), res.closed)
		}
	})
	t.Run("slow but steady upload", func(t *testing.T) {
		// 4 KiB every 100 ms (40 KB/s, slower than a phone on 3G) for a
		// body that takes several body idle timeouts to arrive.
		ct, body := multipartBody(t, filePart("a.png", pngBytes(t, 200, 200, 2)))
		conn := dialRaw(t, n.url)
		defer conn.Close()
		head := fmt.Sprintf("POST /api/images HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", ct, len(body))
		if _, err := conn.Write([]byte(head)); err != nil {
			t.Fatal(err)
		}
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for off := 0; off < len(body); off += 4 << 10 {
			<-tick.C
			if _, err := conn.Write(body[off:min(off+4<<10, len(body))]); err != nil {
				t.Fatal(err)
			}
		}
		if len(body) < 8*(4<<10) {
			t.Fatalf("body of %d bytes is too small to outlast the timeouts", len(body))
		}
		res := readResponses(t, conn, 5*time.Second)
		if len(res.resps) < 1 || res.resps[0].status != 202 {
			t.Fatalf("slow upload: %v", summary(res))
		}
	})
	goroutinesSettle(t, base)
}

func TestEdgeAuth(t *testing.T) {
	n := edgeNode(t, func(c *Config) { c.Token = "s3cret" })
	for _, c := range []struct {
		path, auth string
		want       int
	}{
		{"/metrics", "", 401},
		{"/metrics", "Bearer s3cret", 200},
		{"/metrics", "bearer s3cret", 200},
		{"/api/images/00000000-0000-0000-0000-000000000000", "BEARER s3cret", 404},
		{"/api/images/00000000-0000-0000-0000-000000000000", "Bearer wrong", 401},
		{"/api/images/00000000-0000-0000-0000-000000000000", "Basic s3cret", 401},
		{"/healthz", "", 200},
		{"/readyz", "", 200},
	} {
		req, _ := http.NewRequest("GET", n.url+c.path, nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("GET %s with %q: %d %s, want %d", c.path, c.auth, resp.StatusCode, body, c.want)
		}
	}
}

// TestEdgeOutOfDescriptors starts the binary with 128 file descriptors and
// opens idle connections past what it can hold: with the default
// --max-conns (derived from the limit) the extra ones get a 503; with a
// --max-conns above the limit, accept itself runs out of descriptors
// (EMFILE). Either way the process lives, and once the connections close
// it completes an upload end to end.
func TestEdgeOutOfDescriptors(t *testing.T) {
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("needs prlimit (util-linux)")
	}
	for _, mode := range []string{"max-conns", "emfile"} {
		t.Run(mode, func(t *testing.T) {
			args := []string{"--workers", "2", "--header-timeout", "60s"}
			if mode == "emfile" {
				args = append(args, "--max-conns", "100000")
			}
			log := &lockedWriter{w: &bytes.Buffer{}}
			p, err := startProcWrapped(t, []string{"prlimit", "--nofile=128:128", "--"}, t.TempDir(), log, args...)
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(p.url)
			var conns []net.Conn
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			busy := 0
			for i := 0; i < 250; i++ {
				c, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
				if err != nil {
					break // the listen backlog is full too
				}
				conns = append(conns, c)
				if mode == "max-conns" {
					// A refused connection gets its 503 at once; an
					// accepted one stays silent (it waits for a request).
					_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
					var b [512]byte
					if k, _ := c.Read(b[:]); k > 0 {
						if !bytes.Contains(b[:k], []byte("503")) || !bytes.Contains(b[:k], []byte("too_many_connections")) {
							t.Fatalf("over the limit: %q", b[:k])
						}
						busy++
					}
				}
			}
			if mode == "max-conns" && busy == 0 {
				t.Fatalf("opened %d connections and none was refused", len(conns))
			}
			if mode == "emfile" {
				eventually(t, 10*time.Second, "accept to run out of descriptors", func() bool {
					return strings.Contains(log.String(), "accept failed; retrying")
				})
			}
			select {
			case <-p.exited:
				t.Fatalf("the node exited: %v", p.err)
			default:
			}
			for _, c := range conns {
				c.Close()
			}
			conns = nil
			eventually(t, 20*time.Second, "the node serving again", func() bool {
				resp, err := http.Get(p.url + "/healthz")
				if err != nil {
					return false
				}
				resp.Body.Close()
				return resp.StatusCode == 200
			})
			r := upload(t, p.url, filePart("a.jpg", jpegBytes(t, 64, 48, 3)))
			evs := openSSE(t, t.Context(), p.url+r.Events, "").collect(t, 30*time.Second)
			if got := names(evs); !strings.Contains(got, ":completed ") || !strings.HasSuffix(got, ":done ") {
				t.Fatalf("events after the descriptors came back: %s", got)
			}
		})
	}
}

// lockedWriter lets a test read what a process's log goroutine writes.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}
