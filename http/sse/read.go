package sse

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"
)

// Event is one dispatched event as an EventSource sees it.
type Event struct {
	ID    string // the last event id in effect (EventSource's lastEventId)
	Name  string // "message" when the stream named none
	Data  string
	Retry int // the last retry value seen, in ms (0 if none)
}

// Reader parses a text/event-stream by the EventSource rules: fields
// "event", "data", "id", "retry"; comments (":") ignored; a blank line
// dispatches; an event with no data is not dispatched.
type Reader struct {
	br       *bufio.Reader
	lastID   string
	retry    int
	comments int
}

// NewReader reads events from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 64<<10)}
}

// Comments counts the comment lines seen so far (": ping" keep-alives).
func (r *Reader) Comments() int { return r.comments }

// Next returns the next dispatched event, or the read error (io.EOF at a
// clean end of stream; an event without its closing blank line is dropped,
// as EventSource does).
func (r *Reader) Next() (Event, error) {
	var (
		name    string
		data    strings.Builder
		hasData bool
	)
	for {
		line, err := r.readLine()
		if err != nil {
			return Event{}, err
		}
		if line == "" {
			if !hasData {
				name = ""
				continue
			}
			d := data.String()
			d = strings.TrimSuffix(d, "\n")
			if name == "" {
				name = "message"
			}
			return Event{ID: r.lastID, Name: name, Data: d, Retry: r.retry}, nil
		}
		if line[0] == ':' {
			r.comments++
			continue
		}
		field, value := line, ""
		if i := strings.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			value = strings.TrimPrefix(value, " ")
		}
		switch field {
		case "event":
			name = value
		case "data":
			data.WriteString(value)
			data.WriteByte('\n')
			hasData = true
		case "id":
			if !strings.ContainsRune(value, 0) {
				r.lastID = value
			}
		case "retry":
			if n, err := strconv.Atoi(value); err == nil && n >= 0 && isDigits(value) {
				r.retry = n
			}
		}
	}
}

// readLine returns one line without its terminator (CRLF, LF or CR).
func (r *Reader) readLine() (string, error) {
	var buf bytes.Buffer
	for {
		b, err := r.br.ReadByte()
		if err != nil {
			return "", err
		}
		switch b {
		case '\n':
			return buf.String(), nil
		case '\r':
			if nb, err := r.br.Peek(1); err == nil && nb[0] == '\n' {
				_, _ = r.br.ReadByte()
			}
			return buf.String(), nil
		default:
			buf.WriteByte(b)
		}
	}
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
