package sse

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
)

// AppendEvent appends one frame: "id: <id>", "event: <name>" and one "data:"
// line per line of data, then the blank line that dispatches it. A line break
// (CRLF, CR or LF) in data starts a new data line, which the reader joins back
// with "\n", so data round-trips except that CR and CRLF come back as LF.
func AppendEvent(dst []byte, id uint64, name string, data []byte) []byte {
	dst = append(dst, "id: "...)
	dst = strconv.AppendUint(dst, id, 10)
	dst = append(dst, '\n')
	if name != "" {
		dst = append(dst, "event: "...)
		dst = appendNoBreaks(dst, name)
		dst = append(dst, '\n')
	}
	for {
		i := bytes.IndexAny(data, "\r\n")
		dst = append(dst, "data: "...)
		if i < 0 {
			dst = append(dst, data...)
			dst = append(dst, '\n')
			break
		}
		dst = append(dst, data[:i]...)
		dst = append(dst, '\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	return append(dst, '\n')
}

// AppendComment appends a comment line (": text"), which clients ignore and
// proxies see as traffic. Line breaks in text are dropped.
func AppendComment(dst []byte, text string) []byte {
	dst = append(dst, ": "...)
	dst = appendNoBreaks(dst, text)
	return append(dst, "\n\n"...)
}

// AppendRetry appends the reconnection delay in milliseconds.
func AppendRetry(dst []byte, ms int) []byte {
	dst = append(dst, "retry: "...)
	dst = strconv.AppendInt(dst, int64(ms), 10)
	return append(dst, "\n\n"...)
}

func appendNoBreaks(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '\r' && c != '\n' {
			dst = append(dst, c)
		}
	}
	return dst
}

// ErrBadLastEventID is returned for a resume point that is not a decimal
// event id.
var ErrBadLastEventID = errors.New("Last-Event-ID must be a non-negative integer")

// ParseLastEventID reads the id a client last saw. An empty or blank value
// means "from the start" (0). Anything but a decimal number that fits in 63
// bits is ErrBadLastEventID.
func ParseLastEventID(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if len(s) > 19 {
		return 0, ErrBadLastEventID
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, ErrBadLastEventID
		}
	}
	n, err := strconv.ParseUint(s, 10, 63)
	if err != nil {
		return 0, ErrBadLastEventID
	}
	return n, nil
}
