package edge

import (
	"strings"
	"testing"
)

var testLimits = Limits{MaxTarget: 8 << 10, MaxHeader: 16 << 10, MaxBody: 1 << 20}

func TestParseHead(t *testing.T) {
	long := strings.Repeat("a", 9<<10)
	cases := []struct {
		name, in string
		want     *Reject // nil: passes (or needs more, see more)
		more     bool    // a valid beginning: needs more bytes
		length   int64
		chunked  bool
	}{
		{name: "get", in: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", length: -1},
		{name: "lf only", in: "GET / HTTP/1.1\nHost: x\n\n", length: -1},
		{name: "leading blank lines", in: "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", length: -1},
		{name: "http/1.0 without host", in: "GET / HTTP/1.0\r\n\r\n", length: -1},
		{name: "post with length", in: "POST /api/images HTTP/1.1\r\nHost: x\r\ncontent-length: 12\r\n\r\n", length: 12},
		{name: "chunked", in: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n", length: -1, chunked: true},
		{name: "absolute target", in: "GET http://x/a HTTP/1.1\r\nHost: x\r\n\r\n", length: -1},
		{name: "options *", in: "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", length: -1},
		{name: "partial line", in: "GET /a", more: true},
		{name: "partial headers", in: "GET / HTTP/1.1\r\nHost: x\r\nX-A: b", more: true},

		{name: "length twice", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", want: rejLengthTwice},
		{name: "length and chunked", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", want: rejLengthAndChunk},
		{name: "length negative", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", want: rejLengthBad},
		{name: "length with space inside", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1 2\r\n\r\n", want: rejLengthBad},
		{name: "length list", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1,1\r\n\r\n", want: rejLengthBad},
		{name: "length huge", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", want: rejLengthBad},
		{name: "over body limit", in: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n", want: rejTooLarge},
		{name: "gzip", in: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", want: rejCoding},
		{name: "coding twice", in: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", want: rejCoding},
		{name: "unknown method", in: "PATCH / HTTP/1.1\r\nHost: x\r\n\r\n", want: rejMethod},
		{name: "lower-case method", in: "get / HTTP/1.1\r\nHost: x\r\n\r\n", want: rejMethod},
		{name: "long target", in: "GET /" + long + " HTTP/1.1\r\nHost: x\r\n\r\n", want: rejLongTarget},
		{name: "long target, unfinished", in: "GET /" + long, want: rejLongTarget},
		{name: "long headers", in: "GET / HTTP/1.1\r\nHost: x\r\nA: " + long + "\r\nB: " + long + "\r\n\r\n", want: rejLongHeaders},
		{name: "long headers, unfinished", in: "GET / HTTP/1.1\r\nHost: x\r\nA: " + long + long, want: rejLongHeaders},
		{name: "no host", in: "GET / HTTP/1.1\r\n\r\n", want: rejHost},
		{name: "two hosts", in: "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", want: rejHost},
		{name: "version", in: "GET / HTTP/2.0\r\nHost: x\r\n\r\n", want: rejBadVersion},
		{name: "garbage version", in: "GET / FOO\r\nHost: x\r\n\r\n", want: rejMalformed},
		{name: "target without slash", in: "GET a HTTP/1.1\r\nHost: x\r\n\r\n", want: rejBadTarget},
		{name: "target with control", in: "GET /a\x01 HTTP/1.1\r\nHost: x\r\n\r\n", want: rejBadTarget},
		{name: "target non-ascii", in: "GET /\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", want: rejBadTarget},
		{name: "two spaces", in: "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", want: rejBadTarget},
		{name: "space before colon", in: "GET / HTTP/1.1\r\nHost : x\r\n\r\n", want: rejMalformed},
		{name: "no colon", in: "GET / HTTP/1.1\r\nHost x\r\n\r\n", want: rejMalformed},
		{name: "folding", in: "GET / HTTP/1.1\r\nHost: x\r\n y\r\n\r\n", want: rejMalformed},
		{name: "bare CR", in: "GET / HTTP/1.1\r\nHost: x\ry\r\n\r\n", want: rejMalformed},
		{name: "NUL value", in: "GET / HTTP/1.1\r\nHost: x\x00\r\n\r\n", want: rejMalformed},
		{name: "NUL unfinished", in: "GET / HTTP/1.1\r\nHost: x\x00", want: rejMalformed},
		{name: "method garbage", in: "\x16\x03\x01\x02\x00\x01", want: rejMalformed},
		{name: "many blank lines", in: strings.Repeat("\r\n", 10) + "GET / HTTP/1.1\r\nHost: x\r\n\r\n", want: rejMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, r := ParseHead([]byte(c.in), testLimits)
			if r != c.want {
				t.Fatalf("reject %v, want %v", r, c.want)
			}
			if r != nil {
				return
			}
			if c.more {
				if h.Len != 0 {
					t.Fatalf("complete head %+v from an unfinished one", h)
				}
				return
			}
			if h.Len != len(c.in) || h.Length != c.length || h.Chunked != c.chunked {
				t.Fatalf("head %+v, want len %d length %d chunked %v", h, len(c.in), c.length, c.chunked)
			}
		})
	}
}

// TestParseHeadPrefixes: every proper prefix of a valid head is a valid
// beginning, never a complete head nor a refusal.
func TestParseHeadPrefixes(t *testing.T) {
	in := "\r\nPOST /api/images?x=1 HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 10\r\n\r\n"
	for i := 0; i < len(in); i++ {
		h, r := ParseHead([]byte(in[:i]), testLimits)
		if r != nil || h.Len != 0 {
			t.Fatalf("prefix %q: %+v %v", in[:i], h, r)
		}
	}
	if h, r := ParseHead([]byte(in+"tail"), testLimits); r != nil || h.Len != len(in) || h.Length != 10 {
		t.Fatalf("whole: %+v %v", h, r)
	}
}

func TestChunked(t *testing.T) {
	body := "4\r\nWiki\r\n5;ext=1\r\npedia\r\nE \r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: y\r\n\r\n"
	// Fed one byte at a time and whole, the end is found at the same place.
	for _, step := range []int{1, 3, len(body) + 5} {
		c := chunked{max: 1 << 20, maxLine: 4096}
		in := body + "GET / HTTP/1.1\r\n"
		pos := 0
		for {
			end := min(pos+step, len(in))
			n, done, r := c.scan([]byte(in[pos:end]))
			if r != nil {
				t.Fatalf("step %d: %v at %d", step, r, pos+n)
			}
			pos += n
			if done {
				break
			}
			if pos >= len(in) {
				t.Fatalf("step %d: no end found", step)
			}
		}
		if pos != len(body) || c.total != 4+5+14 {
			t.Fatalf("step %d: ended at %d (total %d), want %d (23)", step, pos, c.total, len(body))
		}
	}
	for _, bad := range []string{
		"x\r\n", "\r\n", "4\nWiki\r\n", "4\r\nWikiX\r\n", "4\r\nWiki\n0\r\n\r\n",
		"10000000000000000\r\n", "0\r\n\x00\r\n\r\n", "0\r\nA: b\rc\r\n\r\n", "0\r\n\r\r",
	} {
		c := chunked{max: 1 << 20, maxLine: 4096}
		if _, _, r := c.scan([]byte(bad)); r == nil {
			t.Errorf("%q passes", bad)
		}
	}
	c := chunked{max: 10, maxLine: 4096}
	if _, _, r := c.scan([]byte("b\r\n")); r != rejChunkTooLarge {
		t.Errorf("a chunk over the limit: %v", r)
	}
	c = chunked{max: 10, maxLine: 16}
	if _, _, r := c.scan([]byte("1;" + strings.Repeat("e", 20))); r != rejBadChunk {
		t.Errorf("a long size line: %v", r)
	}
}

func TestDefaultMaxConns(t *testing.T) {
	for _, c := range []struct {
		nofile uint64
		want   int
	}{{50, 16}, {128, 64}, {1024, 768}, {1 << 20, 1<<20 - 4096}} {
		if got := DefaultMaxConns(c.nofile); got != c.want {
			t.Errorf("DefaultMaxConns(%d) = %d, want %d", c.nofile, got, c.want)
		}
	}
}

func TestReply(t *testing.T) {
	got := string(reply(rejBusy))
	want := "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\nRetry-After: 5\r\nContent-Length: 94\r\n\r\n" +
		`{"error":"this node has too many open connections; retry later","code":"too_many_connections"}`
	if got != want {
		t.Fatalf("%q\nwant %q", got, want)
	}
}
