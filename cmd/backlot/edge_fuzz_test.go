package main

import (
	"bytes"
	"io"
	"net"
	"net/url"
	"regexp"
	"testing"
	"time"
)

// fuzzSecret is in every fuzzed request's headers; no reply may hold it.
const fuzzSecret = "fz9Secret7Token"

// statusLine finds responses in what the server sent.
var statusLine = regexp.MustCompile(`(?m)(^|\n)HTTP/1\.[01] [0-9]{3} `)

// FuzzEdge sends raw request bytes to a running node (token mode, so the
// secret rides in an Authorization header) and checks what comes back:
// never more responses than the bytes hold request heads (each needs its
// blank line; one more for an answer to a broken one), never a reply that
// echoes the token, and a node that still serves. Run it long with
//
//	go test -run '^$' -fuzz FuzzEdge -fuzztime 1000000x ./cmd/backlot/
func FuzzEdge(f *testing.F) {
	seeds := []string{
		"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /nope HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n22\r\n" + smuggled + "\r\n0\r\n\r\n",
		"POST /api/images HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n22\r\n" + smuggled + "\r\n0\r\n\r\n",
		"POST /api/images HTTP/1.1\r\nHost: x\r\nContent-Length: 34\r\n\r\n" + smuggled,
		"POST /api/images HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 34\r\n\r\n" + smuggled,
		"POST /api/images HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
		"POST /api/images HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 60\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"width\"\r\n\r\n5\r\n--b--\r\n",
		"GET /api/images/00000000-0000-0000-0000-000000000000/events HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 99\r\n\r\n",
		"HEAD /api/images/00000000-0000-0000-0000-000000000000/events HTTP/1.1\r\nHost: x\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\n",
		"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a%00b HTTP/1.1\r\nHost: x\r\n\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	n := startNode(f, f.TempDir(), func(c *Config) {
		c.Token = fuzzSecret
		c.HeaderTimeout = 2 * time.Second
		c.BodyIdleTimeout = 2 * time.Second
		c.MaxBody = 1 << 20
	})
	u, err := url.Parse(n.url)
	if err != nil {
		f.Fatal(err)
	}
	runs := 0
	f.Fuzz(func(t *testing.T, in []byte) {
		// The token goes in after the request line, where a request
		// carries it.
		req := in
		if i := bytes.IndexByte(in, '\n'); i >= 0 {
			req = append(append(append([]byte(nil), in[:i+1]...), "Authorization: Bearer "+fuzzSecret+"\r\n"...), in[i+1:]...)
		}
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatalf("dial: %v (the node is gone?)", err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = conn.Write(req)
		_ = conn.(*net.TCPConn).CloseWrite() // the end of the input: the server reads EOF
		out, _ := io.ReadAll(conn)
		heads := bytes.Count(req, []byte("\n\r\n")) + bytes.Count(req, []byte("\n\n"))
		if got := len(statusLine.FindAll(out, -1)); got > heads+1 {
			t.Fatalf("%d responses to %d heads:\n%q\n->\n%q", got, heads, req, out)
		}
		if bytes.Contains(out, []byte(fuzzSecret)) {
			t.Fatalf("a reply echoes the token:\n%q\n->\n%q", req, out)
		}
		if runs++; runs%500 == 0 {
			get(t, n.url+"/healthz", 200)
		}
	})
}
