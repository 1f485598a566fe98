package sse

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
)

func TestAppendEventFrames(t *testing.T) {
	tests := []struct {
		name string
		id   uint64
		ev   string
		data string
		want string
	}{
		{"json", 1, "queued", `{"a":1}`, "id: 1\nevent: queued\ndata: {\"a\":1}\n\n"},
		{"multi-line data", 2, "x", "a\nb\r\nc\rd", "id: 2\nevent: x\ndata: a\ndata: b\ndata: c\ndata: d\n\n"},
		{"injection in name", 3, "done\n\nid: 99", "{}", "id: 3\nevent: doneid: 99\ndata: {}\n\n"},
		{"empty data", 4, "e", "", "id: 4\nevent: e\ndata: \n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(AppendEvent(nil, tt.id, tt.ev, []byte(tt.data)))
			if got != tt.want {
				t.Fatalf("AppendEvent = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReaderParsesStream(t *testing.T) {
	var b []byte
	b = AppendRetry(b, 2000)
	b = AppendEvent(b, 1, "queued", []byte(`{"n":1}`))
	b = AppendComment(b, "ping")
	b = AppendEvent(b, 2, "done", []byte(`{"n":2}`))
	b = append(b, "id: 3\nevent: partial\ndata: lost"...) // no blank line: never dispatched
	r := NewReader(bytes.NewReader(b))
	want := []Event{{ID: "1", Name: "queued", Data: `{"n":1}`, Retry: 2000}, {ID: "2", Name: "done", Data: `{"n":2}`, Retry: 2000}}
	for _, w := range want {
		got, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if got != w {
			t.Fatalf("got %+v, want %+v", got, w)
		}
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("want EOF, got %v", err)
	}
	if r.Comments() != 1 {
		t.Fatalf("comments = %d, want 1", r.Comments())
	}
}

func TestReaderRules(t *testing.T) {
	in := "data:no space\r\n\r\n: c\nevent: e\n\nid: 7\ndata: a\ndata: b\n\nretry: x\nretry: 15\ndata: z\n\n"
	r := NewReader(strings.NewReader(in))
	want := []Event{
		{Name: "message", Data: "no space"},
		{ID: "7", Name: "message", Data: "a\nb"},
		{ID: "7", Name: "message", Data: "z", Retry: 15},
	}
	for _, w := range want {
		got, err := r.Next()
		if err != nil || got != w {
			t.Fatalf("got %+v, %v; want %+v", got, err, w)
		}
	}
}

func TestParseLastEventID(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		err  bool
	}{
		{"", 0, false}, {"  ", 0, false}, {"0", 0, false}, {"17", 17, false}, {" 5 ", 5, false},
		{"-1", 0, true}, {"+1", 0, true}, {"1e3", 0, true}, {"abc", 0, true},
		{"9223372036854775807", 9223372036854775807, false}, {"9223372036854775808", 0, true},
		{"99999999999999999999", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseLastEventID(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseLastEventID(%q) = %d, %v", tt.in, got, err)
		}
		if err != nil && !errors.Is(err, ErrBadLastEventID) {
			t.Errorf("error %v is not ErrBadLastEventID", err)
		}
	}
}

func FuzzParseLastEventID(f *testing.F) {
	for _, s := range []string{"", "0", "17", "-1", "abc", "9223372036854775808"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseLastEventID(s)
		if err != nil && n != 0 {
			t.Fatalf("error with value %d", n)
		}
		if err == nil && strings.TrimSpace(s) != "" {
			if got, _ := ParseLastEventID(strconv.FormatUint(n, 10)); got != n {
				t.Fatalf("round trip %d -> %d", n, got)
			}
		}
	})
}

// FuzzRoundTrip: any name and data framed by AppendEvent come back as one
// event with the same id, a name free of line breaks and the same data
// (line breaks normalised to LF) — so no input can inject a field or event.
func FuzzRoundTrip(f *testing.F) {
	f.Add(uint64(1), "queued", []byte(`{"a":1}`))
	f.Add(uint64(2), "x\n\nid: 9", []byte("a\r\nb\rc\n"))
	f.Add(uint64(0), "", []byte(""))
	f.Fuzz(func(t *testing.T, id uint64, name string, data []byte) {
		frame := AppendEvent(nil, id, name, data)
		r := NewReader(bytes.NewReader(frame))
		ev, err := r.Next()
		if err != nil {
			t.Fatalf("frame %q: %v", frame, err)
		}
		if ev.ID != strconv.FormatUint(id, 10) {
			t.Fatalf("id %q, want %d", ev.ID, id)
		}
		wantName := strings.NewReplacer("\r", "", "\n", "").Replace(name)
		if wantName == "" {
			wantName = "message"
		}
		if ev.Name != wantName {
			t.Fatalf("name %q, want %q", ev.Name, wantName)
		}
		wantData := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(string(data))
		if ev.Data != wantData {
			t.Fatalf("data %q, want %q", ev.Data, wantData)
		}
		if _, err := r.Next(); !errors.Is(err, io.EOF) {
			t.Fatalf("more than one event in %q", frame)
		}
	})
}
