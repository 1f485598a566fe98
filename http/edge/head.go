package edge

import (
	"bytes"
)

// Reject is a request the edge answers itself, with API.md's JSON and a
// closed connection. Its sentence is fixed: it never holds request bytes.
type Reject struct {
	Status  int
	Code    string
	Message string
}

func (r *Reject) Error() string { return r.Message }

// The edge's own replies (API.md "The HTTP edge").
var (
	rejMalformed      = &Reject{400, "bad_request", "the request line or a header is malformed"}
	rejBadVersion     = &Reject{400, "bad_request", "only HTTP/1.0 and HTTP/1.1 are served"}
	rejBadTarget      = &Reject{400, "bad_request", "the request target is malformed"}
	rejHost           = &Reject{400, "bad_request", "an HTTP/1.1 request needs exactly one Host header"}
	rejLengthTwice    = &Reject{400, "bad_request", "Content-Length is given more than once"}
	rejLengthBad      = &Reject{400, "bad_request", "Content-Length is not a decimal number"}
	rejLengthAndChunk = &Reject{400, "bad_request", "Content-Length and Transfer-Encoding are both given"}
	rejBadChunk       = &Reject{400, "bad_chunked_body", "the chunked request body is not well formed"}
	rejHeaderTimeout  = &Reject{408, "request_timeout", "the request line and headers did not arrive in time"}
	rejBodyTimeout    = &Reject{408, "request_timeout", "the request body stalled"}
	rejTooLarge       = &Reject{413, "body_too_large", "the declared request body is over the size limit"}
	rejChunkTooLarge  = &Reject{413, "body_too_large", "the request body is over the size limit"}
	rejLongTarget     = &Reject{414, "uri_too_long", "the request target is over the limit"}
	rejLongHeaders    = &Reject{431, "headers_too_large", "the request headers are over the limit"}
	rejMethod         = &Reject{501, "not_implemented", "this method is not implemented"}
	rejCoding         = &Reject{501, "not_implemented", "only the chunked transfer coding is implemented"}
	rejBusy           = &Reject{503, "too_many_connections", "this node has too many open connections; retry later"}
)

// Limits are what a request head may hold.
type Limits struct {
	MaxTarget int   // bytes of the request target (8 KiB)
	MaxHeader int   // bytes of the header fields after the request line (16 KiB)
	MaxBody   int64 // a declared or chunked body over this is 413; <= 0: none
}

// maxHead is the most a head can take: the request line and the header
// section, with their line ends.
func (l Limits) maxHead() int { return l.MaxTarget + 32 + l.MaxHeader + 4 }

// Head is what the edge needs to know of a request head that passed.
type Head struct {
	Len     int   // bytes of the head, its final blank line included
	Length  int64 // Content-Length; -1 without one
	Chunked bool
	Method  string
}

// HasBody tells whether a body follows the head.
func (h Head) HasBody() bool { return h.Chunked || h.Length > 0 }

// implemented are the methods some route serves; any other is 501.
func implemented(m []byte) (string, bool) {
	switch string(m) {
	case "GET":
		return "GET", true
	case "HEAD":
		return "HEAD", true
	case "POST":
		return "POST", true
	case "OPTIONS":
		return "OPTIONS", true
	}
	return "", false
}

// ParseHead judges the request head at the start of b. It returns the
// head once complete; (Head{}, nil) when b holds only a valid beginning of
// one (more bytes are needed); or the Reject to answer with. It is strict
// where HTTP/1.1 allows a choice that two parsers could make differently
// (RFC 9112 §6.3, §11.2): what passes here, fasthttp frames the same way.
// Leading empty lines are allowed (RFC 9112 §2.2) and counted in Len.
func ParseHead(b []byte, lim Limits) (Head, *Reject) {
	start := 0
	for {
		switch {
		case bytes.HasPrefix(b[start:], []byte("\r\n")):
			start += 2
			continue
		case bytes.HasPrefix(b[start:], []byte("\n")):
			start++
			continue
		}
		break
	}
	if start > 8 {
		return Head{}, rejMalformed
	}
	rest := b[start:]
	if len(rest) == 1 && rest[0] == '\r' {
		return Head{}, nil // half a blank line
	}
	// The request line.
	eol := bytes.IndexByte(rest, '\n')
	if eol < 0 {
		if len(rest) > lim.MaxTarget+32 {
			if sp := bytes.IndexByte(rest, ' '); sp >= 0 && sp < 32 {
				return Head{}, rejLongTarget
			}
			return Head{}, rejMalformed
		}
		if r := checkLinePrefix(rest); r != nil {
			return Head{}, r
		}
		return Head{}, nil
	}
	line := trimCR(rest[:eol])
	if line == nil {
		return Head{}, rejMalformed
	}
	h, r := requestLine(line, lim)
	if r != nil {
		return Head{}, r
	}
	h.Length = -1
	// The header fields.
	fields := rest[eol+1:]
	pos := 0
	var hosts, lengths, codings int
	var coding []byte
	for {
		nl := bytes.IndexByte(fields[pos:], '\n')
		if nl < 0 {
			if len(fields) > lim.MaxHeader+2 {
				return Head{}, rejLongHeaders
			}
			if r := checkFieldPrefix(fields[pos:]); r != nil {
				return Head{}, r
			}
			return Head{}, nil
		}
		if pos+nl > lim.MaxHeader+2 {
			return Head{}, rejLongHeaders
		}
		fl := trimCR(fields[pos : pos+nl])
		if fl == nil {
			return Head{}, rejMalformed
		}
		pos += nl + 1
		if len(fl) == 0 {
			break
		}
		name, value, r := field(fl)
		if r != nil {
			return Head{}, r
		}
		switch {
		case equalFold(name, "host"):
			hosts++
		case equalFold(name, "content-length"):
			lengths++
			if lengths > 1 {
				return Head{}, rejLengthTwice
			}
			n, ok := decimal(value)
			if !ok {
				return Head{}, rejLengthBad
			}
			h.Length = n
		case equalFold(name, "transfer-encoding"):
			codings++
			coding = value
		}
	}
	if h.http11 && hosts != 1 || hosts > 1 {
		return Head{}, rejHost
	}
	if codings > 0 {
		if lengths > 0 {
			return Head{}, rejLengthAndChunk
		}
		if codings > 1 || !equalFold(coding, "chunked") {
			return Head{}, rejCoding
		}
		h.Chunked = true
	}
	if lim.MaxBody > 0 && h.Length > lim.MaxBody {
		return Head{}, rejTooLarge
	}
	h.Len = start + eol + 1 + pos
	return h.Head, nil
}

type reqLine struct {
	Head
	http11 bool
}

// requestLine checks "METHOD SP target SP HTTP/1.x".
func requestLine(line []byte, lim Limits) (reqLine, *Reject) {
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return reqLine{}, rejMalformed
	}
	method := line[:sp1]
	for _, c := range method {
		if !isToken(c) {
			return reqLine{}, rejMalformed
		}
	}
	rest := line[sp1+1:]
	sp2 := bytes.LastIndexByte(rest, ' ')
	if sp2 < 0 {
		return reqLine{}, rejMalformed
	}
	target, version := rest[:sp2], rest[sp2+1:]
	if len(target) > lim.MaxTarget {
		return reqLine{}, rejLongTarget
	}
	var l reqLine
	switch string(version) {
	case "HTTP/1.1":
		l.http11 = true
	case "HTTP/1.0":
	default:
		if len(version) == 8 && string(version[:5]) == "HTTP/" {
			return reqLine{}, rejBadVersion
		}
		return reqLine{}, rejMalformed
	}
	m, ok := implemented(method)
	if !ok {
		return reqLine{}, rejMethod
	}
	l.Method = m
	if len(target) == 0 {
		return reqLine{}, rejBadTarget
	}
	for _, c := range target {
		if c <= ' ' || c >= 0x7f {
			return reqLine{}, rejBadTarget
		}
	}
	switch {
	case target[0] == '/':
	case len(target) == 1 && target[0] == '*' && m == "OPTIONS":
	case hasPrefixFold(target, "http://") || hasPrefixFold(target, "https://"):
	default:
		return reqLine{}, rejBadTarget
	}
	return l, nil
}

// checkLinePrefix rejects an unfinished request line early when what has
// arrived already cannot start a valid one.
func checkLinePrefix(b []byte) *Reject {
	sp := bytes.IndexByte(b, ' ')
	m := b
	if sp >= 0 {
		m = b[:sp]
	}
	if len(m) > 16 {
		return rejMalformed
	}
	for _, c := range m {
		if !isToken(c) {
			return rejMalformed
		}
	}
	return nil
}

// checkFieldPrefix rejects an unfinished header line that holds a byte no
// header may hold.
func checkFieldPrefix(b []byte) *Reject {
	if bytes.IndexByte(b, 0) >= 0 {
		return rejMalformed
	}
	return nil
}

// field splits "name: value" (RFC 9110 §5): a token, a colon with no
// space before it, then the value without its surrounding blanks; a line
// that starts with a blank (obsolete line folding) is rejected.
func field(l []byte) (name, value []byte, r *Reject) {
	colon := bytes.IndexByte(l, ':')
	if colon <= 0 {
		return nil, nil, rejMalformed
	}
	name = l[:colon]
	for _, c := range name {
		if !isToken(c) {
			return nil, nil, rejMalformed
		}
	}
	value = l[colon+1:]
	for _, c := range value {
		if c < ' ' && c != '\t' || c == 0x7f {
			return nil, nil, rejMalformed
		}
	}
	return name, bytes.Trim(value, " \t"), nil
}

// trimCR drops the CR of a CRLF line end; a CR anywhere else makes the
// line malformed (nil).
func trimCR(l []byte) []byte {
	if n := len(l); n > 0 && l[n-1] == '\r' {
		l = l[:n-1]
	}
	if bytes.IndexByte(l, '\r') >= 0 {
		return nil
	}
	if l == nil {
		return []byte{}
	}
	return l
}

// decimal reads a Content-Length: digits only, at most 18 of them.
func decimal(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func isToken(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

func hasPrefixFold(b []byte, s string) bool { return len(b) >= len(s) && equalFold(b[:len(s)], s) }
