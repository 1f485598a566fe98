package http

import (
	"bufio"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/backlot/backlot/actors"
	"github.com/backlot/backlot/http/sse"
)

// retryMillis is the reconnection delay the stream asks EventSource for.
const retryMillis = 2000

// events handles GET /api/images/:batch/events: replay after Last-Event-ID,
// then live events until done. The supervisor sends replay and live events
// from one place in order, so there is no seam to lose or repeat one at.
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
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderConnection, "keep-alive")
	c.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	sub := s.sys.Subscribe(b.ID, after)
	s.streams.Add(1)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer s.streams.Add(-1)
		defer sub.Close()
		s.stream(w, sub)
	})
	return nil
}

// stream writes the subscription to w until done, a failed write (the
// client is gone: on fasthttp that shows only when a write fails, so the
// ping doubles as the probe), a cut-off slow reader, or shutdown.
func (s *Server) stream(w *bufio.Writer, sub *actors.Subscription) {
	buf := sse.AppendRetry(make([]byte, 0, 4096), retryMillis)
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
		case <-ping.C:
			if _, err := w.Write(sse.AppendComment(buf[:0], "ping")); err != nil || w.Flush() != nil {
				return
			}
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
