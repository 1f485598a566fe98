package http

import (
	"bufio"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/backlot/backlot/actors"
	"github.com/backlot/backlot/http/edge"
	"github.com/backlot/backlot/http/sse"
)

// retryMillis is the reconnection delay the stream asks EventSource for.
const retryMillis = 2000

// streamBufSize is the initial capacity of a stream's frame buffer: an
// idle stream holds it, and append grows it for a chunk that needs more
// (a replay), after which it is dropped back to this size.
const streamBufSize = 512

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
	// Through the edge, the connection is watched while the stream runs,
	// so a client that goes away frees its subscription at once; without
	// it (app.Test) only a failed write shows that.
	conn, _ := c.Context().Conn().(*edge.Conn)
	sub := s.sys.Subscribe(b.ID, after)
	s.streams.Add(1)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer s.streams.Add(-1)
		defer sub.Close()
		var gone <-chan struct{}
		if conn != nil {
			var stop func()
			gone, stop = conn.WatchClose()
			defer stop()
		}
		s.stream(w, sub, gone)
	})
	return nil
}

// stream writes the subscription to w until done, the client gone (gone
// closed, or a failed write: a client that stops reading fails one after
// the edge's write stall bound), a cut-off slow reader, or shutdown.
func (s *Server) stream(w *bufio.Writer, sub *actors.Subscription, gone <-chan struct{}) {
	buf := sse.AppendRetry(make([]byte, 0, streamBufSize), retryMillis)
	if _, err := w.Write(buf); err != nil || w.Flush() != nil {
		return
	}
	ping := time.NewTimer(s.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case ch, ok := <-sub.C():
			if !ok {
				return
			}
			buf = buf[:0]
			if ch.Err != nil {
				s.log.Warn("event stream cannot be served", "err", ch.Err)
				buf = sse.AppendComment(buf, "error: this batch cannot be read right now")
			}
			for i := range ch.Events {
				ev := &ch.Events[i]
				data, err := ev.Data()
				if err != nil {
					s.log.Error("render event", "seq", ev.Seq, "err", err)
					return
				}
				buf = sse.AppendEvent(buf, ev.Seq, string(ev.Type), data)
			}
			if _, err := w.Write(buf); err != nil || w.Flush() != nil {
				return
			}
			s.met.EventsSent(len(ch.Events))
			if ch.Final || ch.Err != nil {
				return
			}
			if cap(buf) > 4*streamBufSize {
				buf = make([]byte, 0, streamBufSize) // an idle stream keeps no replay-sized buffer
			}
		case <-ping.C:
			if _, err := w.Write(sse.AppendComment(buf[:0], "ping")); err != nil || w.Flush() != nil {
				return
			}
		case <-gone:
			return
		case <-s.closing:
			return
		}
		if !ping.Stop() {
			select {
			case <-ping.C:
			default:
			}
		}
		ping.Reset(s.cfg.PingInterval)
	}
}
