package bench

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/backlot/backlot/http/sse"
)

// A batch's event stream, read as EventSource would: to done, reopened
// with Last-Event-ID when it breaks first, and checked against API.md on
// the way (ids 1, 2, 3 … without gaps; done last, agreeing with the
// terminal events).

// maxReconnects bounds how often a batch's event stream is reopened (with
// Last-Event-ID, as EventSource does) after it broke before done.
const maxReconnects = 3

// streamState is what one batch's stream has shown so far, across
// reconnects.
type streamState struct {
	lastID              string
	lastSeq             int64 // numeric lastID; 0 before any
	retry               time.Duration
	later               time.Duration // a 503's Retry-After: the server asks to be asked again then
	completed, failed   int
	gapSeen, idsNumeric bool
}

// follow reads the batch's event stream until done, reopening it after a
// break the way EventSource does.
//
// A stream refused with 503 and Retry-After (the server's store is away
// for a moment) is asked for again after that long, as the web page does,
// and does not count against maxReconnects: the batch's timeout bounds it.
func (c *client) follow(run, ctx context.Context, events string, o *outcome) {
	st := streamState{idsNumeric: true}
	for attempt := 0; ; {
		retryable := c.stream(run, ctx, events, &st, o)
		if o.done || !retryable || o.interrupted || ctx.Err() != nil {
			return
		}
		wait := st.retry
		if st.later > 0 {
			wait, st.later = st.later, 0
		} else {
			if attempt == maxReconnects {
				o.fail("sse: gave up reconnecting", "stream broke %d times before done", attempt+1)
				return
			}
			attempt++
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				c.timeout(run, ctx, "waiting for done", o)
				return
			}
		}
	}
}

// stream opens the events URL once and reads it; it reports whether a
// reconnect makes sense.
func (c *client) stream(run, ctx context.Context, events string, st *streamState, o *outcome) (retryable bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, events, nil)
	if err != nil {
		o.fail("client: building the events request", "%v", err)
		return false
	}
	req.Header.Set("Accept", "text/event-stream")
	if st.lastID != "" {
		req.Header.Set("Last-Event-ID", st.lastID)
	}
	c.auth(req)
	resp, err := c.http.Do(req)
	if err != nil {
		c.transport(run, ctx, "sse", err, o)
		return true
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		kind, detail := httpFailure("sse", resp.StatusCode, raw)
		o.fail(kind, "%s", detail)
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 && resp.StatusCode == http.StatusServiceUnavailable {
			st.later = time.Duration(s) * time.Second
		}
		return resp.StatusCode >= 500
	}
	if mt := resp.Header.Get("Content-Type"); !strings.HasPrefix(mt, "text/event-stream") {
		o.fail("sse: not an event stream", "Content-Type %q", mt)
		return false
	}
	r := sse.NewReader(resp.Body)
	for {
		ev, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) && ctx.Err() == nil {
				o.fail("sse: stream ended before done", "after event id %q", st.lastID)
				return true
			}
			c.transport(run, ctx, "sse", err, o)
			return true
		}
		if ev.Retry > 0 {
			st.retry = time.Duration(ev.Retry) * time.Millisecond
		}
		if c.trace && (ev.Name != "" || ev.ID != "" || ev.Data != "") {
			o.events = append(o.events, ev)
		}
		c.event(ev, st, o)
		if o.done {
			return false
		}
	}
}

// event checks one event against API.md and counts it.
func (c *client) event(ev sse.Event, st *streamState, o *outcome) {
	if ev.ID != st.lastID && st.idsNumeric {
		n, err := strconv.ParseInt(ev.ID, 10, 64)
		switch {
		case err != nil:
			st.idsNumeric = false // not ours to judge: the API promises numbers, a peer may not
		case n != st.lastSeq+1 && !st.gapSeen:
			st.gapSeen = true
			o.fail("sse: event ids not contiguous", "id %d after %d", n, st.lastSeq)
		}
		st.lastSeq = n
	}
	st.lastID = ev.ID
	switch ev.Name {
	case "processing":
		if o.firstWork.IsZero() {
			o.firstWork = time.Now()
		}
	case "completed":
		st.completed++
		o.lastTerm = time.Now()
	case "failed":
		st.failed++
		o.lastTerm = time.Now()
		var d struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal([]byte(ev.Data), &d)
		o.fail("image failed", "%.200s", d.Error)
	case "retrying":
		o.retries++
	case "done":
		var d struct {
			Total     int `json:"total"`
			Completed int `json:"completed"`
			Failed    int `json:"failed"`
		}
		if err := json.Unmarshal([]byte(ev.Data), &d); err != nil {
			o.fail("sse: bad done event", "%.200q", ev.Data)
		}
		o.done, o.end = true, time.Now()
		o.completion = o.end.Sub(o.start)
		if !o.scheduled.IsZero() {
			o.completion = o.end.Sub(o.scheduled)
		}
		o.completed, o.failed = d.Completed, d.Failed
		if d.Total != o.images || d.Completed != st.completed || d.Failed != st.failed {
			o.fail("sse: done disagrees with the events", "done says %d/%d/%d (total/completed/failed); sent %d, events showed %d completed, %d failed",
				d.Total, d.Completed, d.Failed, o.images, st.completed, st.failed)
		}
	}
}
