package http

import (
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/backlot/backlot/actors"
	"github.com/backlot/backlot/http/edge"
	"github.com/backlot/backlot/http/sse"
)

// retryMillis is the reconnection delay the stream asks EventSource for.
const retryMillis = 2000

// events handles GET (and HEAD) /api/images/:batch/events: replay after
// Last-Event-ID, then live events until done. The supervisor sends replay
// and live events from one place in order, so there is no seam to lose or
// repeat one at.
//
// The resume point k is judged against the batch as stored, which holds
// every event issued so far (the supervisor appends to the store before it
// passes an event on): k past its LastSeq is 400 bad_last_event_id, and a
// finished batch with nothing after k is 204 (EventSource stops
// reconnecting). HEAD gets the status and headers the GET would get and
// opens no subscription.
func (s *Server) events(c *fiber.Ctx) error {
	b, err := s.loadBatch(c)
	if err != nil {
		return err
	}
	raw := c.Get("Last-Event-ID")
	if raw == "" {
		raw = c.Query("lastEventId")
	}
	after, err := sse.ParseLastEventID(raw)
	if err != nil {
		return apiError(fiber.StatusBadRequest, "bad_last_event_id", err.Error())
	}
	if after > b.LastSeq {
		return apiError(fiber.StatusBadRequest, "bad_last_event_id",
			"Last-Event-ID "+strconv.FormatUint(after, 10)+" is past the last event this batch has issued ("+
				strconv.FormatUint(b.LastSeq, 10)+")")
	}
	if b.Done && after >= b.LastSeq {
		// Nothing left to send, ever: no body, not a stream.
		c.Status(fiber.StatusNoContent)
		return nil
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderConnection, "keep-alive")
	c.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	if c.Method() == fiber.MethodHead {
		return nil
	}
	es := &eventStream{srv: s, sub: s.sys.Subscribe(b.ID, after)}
	// Through the edge, the connection is watched while the stream runs,
	// so a client that goes away frees its subscription at once; without
	// it (app.Test) only a failed write shows that.
	es.conn, _ = c.Context().Conn().(*edge.Conn)
	s.streams.Add(1)
	c.Context().SetBodyStream(es, -1)
	return nil
}

// errClientGone ends a stream whose client closed its connection: the
// server then closes it too, without a last chunk nobody reads.
var errClientGone = errors.New("event stream: the client went away")

// eventStream is an event stream as the response body the server reads
// (chunked, one chunk per Read, each flushed): a Read blocks until there
// is something to send, and Close (the server's, once the response ends
// for any reason) frees the subscription. It runs on the connection's own
// goroutine: no goroutine, pipe or write buffer of its own while idle,
// which is most of what an idle stream would otherwise cost. A client that
// stops reading fails the server's write after the edge's write stall
// bound, which ends the response and closes the stream.
type eventStream struct {
	srv  *Server
	sub  *actors.Subscription
	conn *edge.Conn // nil when not served through the edge

	started bool
	gone    <-chan struct{} // closed when the client closed the connection
	stop    func()          // ends the watch; nil if none
	ping    *time.Timer
	pending []byte // rendered, not yet read
	end     error  // what Read returns once pending is empty: io.EOF or errClientGone
	closed  bool
}

// Read returns the next bytes of the stream, waiting for them.
func (e *eventStream) Read(p []byte) (int, error) {
	if !e.started {
		e.started = true
		if e.conn != nil {
			e.gone, e.stop = e.conn.WatchClose()
		}
		e.ping = time.NewTimer(e.srv.cfg.PingInterval)
		e.pending = sse.AppendRetry(nil, retryMillis)
	}
	for len(e.pending) == 0 {
		if e.end != nil {
			return 0, e.end
		}
		e.wait()
	}
	n := copy(p, e.pending)
	e.pending = e.pending[n:]
	if len(e.pending) == 0 {
		e.pending = nil // an idle stream holds no frame buffer
	}
	return n, nil
}

// wait blocks until there is something to send or the stream ends.
func (e *eventStream) wait() {
	s := e.srv
	select {
	case ch, ok := <-e.sub.C():
		if !ok { // cut off for being too slow: the client resumes with Last-Event-ID
			e.end = io.EOF
			return
		}
		var buf []byte
		if ch.Err != nil {
			s.log.Warn("event stream cannot be served", "err", ch.Err)
			buf = sse.AppendComment(buf, "error: this batch cannot be read right now")
		}
		for i := range ch.Events {
			ev := &ch.Events[i]
			data, err := eventData(ev)
			if err != nil {
				s.log.Error("render event", "seq", ev.Seq, "err", err)
				e.end = io.EOF
				return
			}
			buf = sse.AppendEvent(buf, ev.Seq, string(ev.Type), data)
		}
		e.pending = buf
		s.met.EventsSent(len(ch.Events))
		if ch.Final || ch.Err != nil {
			e.end = io.EOF
		}
	case <-e.ping.C:
		e.pending = sse.AppendComment(nil, "ping")
	case <-e.gone:
		e.end = errClientGone
		return
	case <-s.closing:
		e.end = io.EOF
		return
	}
	if !e.ping.Stop() {
		select {
		case <-e.ping.C:
		default:
		}
	}
	e.ping.Reset(s.cfg.PingInterval)
}

// Close frees the subscription and ends the watch; the server calls it
// once the response is over (written, failed or abandoned).
func (e *eventStream) Close() error {
	if e.closed {
		return nil
	}
	e.closed = true
	if e.stop != nil {
		e.stop()
	}
	if e.ping != nil {
		e.ping.Stop()
	}
	e.sub.Close()
	e.srv.streams.Add(-1)
	return nil
}
