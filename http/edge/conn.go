package edge

import (
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Conn is one client connection seen through the edge. The HTTP server
// above it reads requests from it as from any net.Conn, but each Read
// returns bytes of one request only, and only once its head has passed
// ParseHead: a head the edge refuses is answered here, and the server
// never sees it.
//
// Read and Write are called from the server's connection goroutine only;
// WatchClose's goroutine reads only while that one does not.
type Conn struct {
	net.Conn
	ln *Listener

	state    int         // the reading goroutine's; setState keeps inBody
	inBody   atomic.Bool // state == sBody, for Close from another goroutine
	buf      []byte      // bytes read from the socket, not yet passed on: buf[r:w]
	r, w     int
	deliver  int // head bytes still to pass on
	head     Head
	left     int64 // Content-Length bytes still to pass on
	chunk    chunked
	requests int       // heads passed
	opened   time.Time // when the connection was accepted
	fault    *Reject   // why a body read failed, for the reply
	noNext   bool      // Drain: do not wait for the next request
	closed   sync.Once

	watch *watcher
}

const (
	sHead    = iota // waiting for (the rest of) a request head
	sDeliver        // passing on a head that passed
	sBody           // passing on its body
	sDone           // refused or gone: every read ends
)

func (c *Conn) setState(s int) {
	c.state = s
	c.inBody.Store(s == sBody)
}

// errNoNext ends a read that Drain forbade to wait for another request.
var errNoNext = errors.New("edge: no next request while draining")

var bufPool = sync.Pool{}

func (c *Conn) getBuf() {
	if c.buf != nil {
		return
	}
	size := c.ln.cfg.Limits.maxHead() + 4096
	if b, ok := bufPool.Get().(*[]byte); ok && len(*b) == size {
		c.buf = *b
	} else {
		c.buf = make([]byte, size)
	}
	c.r, c.w = 0, 0
}

// putBuf returns the buffer once nothing waits in it.
func (c *Conn) putBuf() {
	if c.buf == nil || c.r < c.w {
		return
	}
	b := c.buf
	c.buf, c.r, c.w = nil, 0, 0
	bufPool.Put(&b)
}

func (c *Conn) pending() int { return c.w - c.r }

// Read passes on the next bytes of the current request.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		switch c.state {
		case sHead:
			if c.noNext {
				return 0, errNoNext
			}
			if err := c.readHead(); err != nil {
				c.setState(sDone)
				return 0, err
			}
		case sDeliver:
			n := copy(p, c.buf[c.r:c.r+min(c.deliver, len(p))])
			c.r += n
			c.deliver -= n
			if c.deliver == 0 {
				c.requests++
				c.setState(sHead)
				if c.head.HasBody() {
					c.setState(sBody)
					c.left = c.head.Length
					c.chunk = chunked{max: c.ln.cfg.Limits.MaxBody, maxLine: c.ln.cfg.Limits.MaxHeader}
				}
				c.putBuf()
			}
			return n, nil
		case sBody:
			return c.readBody(p)
		default:
			return 0, io.EOF
		}
	}
}

// readHead reads until buf holds a whole head that passes, then sets up
// its delivery; a refused head is answered and ends the connection (the
// error makes the server close it without a word of its own).
func (c *Conn) readHead() error {
	cfg := &c.ln.cfg
	var started time.Time
	if c.pending() > 0 {
		started = time.Now()
	}
	for {
		if c.pending() > 0 {
			h, rej := ParseHead(c.buf[c.r:c.w], cfg.Limits)
			if rej != nil {
				c.refuse(rej)
				return io.EOF
			}
			if h.Len > 0 {
				c.head, c.deliver, c.fault = h, h.Len, nil
				c.setState(sDeliver)
				return nil
			}
		}
		// Wait: for the first byte, as long as a connection may idle
		// (the header timeout on a new one); then the header timeout
		// from that first byte.
		var deadline time.Time
		switch {
		case !started.IsZero():
			deadline = started.Add(cfg.HeaderTimeout)
		case c.requests == 0:
			deadline = c.opened.Add(cfg.HeaderTimeout)
		default:
			deadline = time.Now().Add(cfg.IdleTimeout)
		}
		if err := c.Conn.SetReadDeadline(deadline); err != nil {
			return err
		}
		var n int
		var err error
		if c.buf == nil {
			// An idle connection holds no buffer while it waits.
			var first [512]byte
			n, err = c.Conn.Read(first[:])
			if n > 0 {
				c.getBuf()
				c.w = copy(c.buf, first[:n])
			}
		} else {
			if c.r > 0 {
				c.w = copy(c.buf, c.buf[c.r:c.w])
				c.r = 0
			}
			n, err = c.Conn.Read(c.buf[c.w:])
			c.w += n
		}
		if n > 0 && started.IsZero() {
			started = time.Now()
		}
		if err != nil {
			if c.pending() > 0 {
				// Part of a head, then silence or the end.
				if h, rej := ParseHead(c.buf[c.r:c.w], cfg.Limits); rej == nil && h.Len == 0 {
					if isTimeout(err) {
						c.refuse(rejHeaderTimeout)
					} else {
						c.refuse(rejMalformed)
					}
					return io.EOF
				}
				continue
			}
			c.putBuf()
			return io.EOF // nothing of a request: close without a word
		}
	}
}

// readBody passes on body bytes, at most up to the body's end.
func (c *Conn) readBody(p []byte) (int, error) {
	if c.head.Chunked {
		return c.readChunked(p)
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	var n int
	var err error
	if c.pending() > 0 {
		n = copy(p, c.buf[c.r:c.w])
		c.r += n
		c.putBuf()
	} else {
		n, err = c.readSocket(p)
	}
	c.left -= int64(n)
	if c.left == 0 {
		c.setState(sHead)
		return n, nil
	}
	return n, err
}

func (c *Conn) readChunked(p []byte) (int, error) {
	var n int
	var err error
	fromBuf := c.pending() > 0
	if fromBuf {
		n = copy(p, c.buf[c.r:c.w])
	} else {
		n, err = c.readSocket(p)
	}
	k, done, rej := c.chunk.scan(p[:n])
	if rej != nil {
		c.fault = rej
		c.setState(sDone)
		return 0, rej
	}
	if fromBuf {
		c.r += k
		c.putBuf()
	} else if k < n {
		// The body ended inside this read: what follows is the next
		// request's, kept for its turn.
		c.getBuf()
		c.w += copy(c.buf[c.w:], p[k:n])
	}
	if done {
		c.setState(sHead)
		return k, nil
	}
	return k, err
}

// readSocket reads the socket within the body idle timeout.
func (c *Conn) readSocket(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.ln.cfg.BodyIdleTimeout)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	switch {
	case err == nil:
	case isTimeout(err):
		c.fault = rejBodyTimeout
		c.setState(sDone)
	case errors.Is(err, io.EOF):
		err = io.ErrUnexpectedEOF
		c.setState(sDone)
	default:
		c.setState(sDone)
	}
	return n, err
}

// Write writes within the write stall bound: a client that stops reading
// (an event stream's among them) fails the write and frees the stream.
func (c *Conn) Write(p []byte) (int, error) {
	if d := c.ln.cfg.WriteStall; d > 0 {
		if err := c.Conn.SetWriteDeadline(time.Now().Add(d)); err != nil {
			return 0, err
		}
	}
	return c.Conn.Write(p)
}

// SetReadDeadline is the edge's to set: the server's own read deadlines
// are ignored.
func (c *Conn) SetReadDeadline(time.Time) error { return nil }

// SetDeadline sets only the write deadline (see SetReadDeadline).
func (c *Conn) SetDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(t) }

// Close closes the connection once. It may be called from another
// goroutine (a shutdown closing idle connections): it reads only inBody
// of what the reading goroutine owns, and a watch in progress ends on its
// own.
func (c *Conn) Close() error {
	err := net.ErrClosed
	c.closed.Do(func() {
		if c.inBody.Load() {
			// The client may still be sending the body: let it see
			// the reply rather than a reset.
			linger(c.Conn)
		}
		err = c.Conn.Close()
		c.ln.open.Add(-1)
	})
	return err
}

// Fault is why the current request's body could not be read (a stall, a
// broken chunked framing, a chunked body over the limit), nil if it
// could; the server answers it in place of its own error.
func (c *Conn) Fault() *Reject { return c.fault }

// HasBody tells whether the current request has a body.
func (c *Conn) HasBody() bool { return c.head.HasBody() }

// Complete tells whether every byte of the current request has been passed
// on: if not, the server must close the connection after its reply, for
// the rest would be read as a request.
func (c *Conn) Complete() bool { return c.state == sHead }

// Drain reads the rest of the current request's body from r (the server's
// view of it, which may hold bytes already passed on), without waiting for
// more from the socket; it reports whether the body ended, so the
// connection may serve another request.
func (c *Conn) Drain(r io.Reader) bool {
	if !c.Complete() {
		return false
	}
	c.noNext = true
	defer func() { c.noNext = false }()
	_, err := io.CopyN(io.Discard, r, int64(c.ln.cfg.Limits.maxHead())+1<<20)
	return errors.Is(err, io.EOF)
}

// refuse answers rej and closes our side gently: the reply goes out, and
// what the client still sends is read and dropped for a moment, so its
// kernel does not reset the connection before it reads the reply.
func (c *Conn) refuse(rej *Reject) {
	c.ln.rejected(rej)
	_ = c.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.Conn.Write(reply(rej))
	linger(c.Conn)
	c.r = c.w
	c.putBuf()
}

// lingerBytes is the most a refused or abandoned connection reads of
// what its client still sends, within lingerFor: a body a little over the
// limit is read to its end (its sender then reads the reply; with 1 MiB, a
// 1.2 MB body declared over a 1 MiB limit was sometimes cut under load,
// the client getting a reset instead of its 413), while one connection
// costs at most this and a second (at most 64 linger at once).
const (
	lingerBytes = 8 << 20
	lingerFor   = time.Second
)

// linger half-closes conn and reads what the client still sends, for up
// to lingerFor or lingerBytes.
func linger(conn net.Conn) {
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = conn.SetReadDeadline(time.Now().Add(lingerFor))
	_, _ = io.CopyN(io.Discard, conn, lingerBytes)
}

// reply is the whole HTTP response for rej: API.md's JSON error, closing.
func reply(rej *Reject) []byte {
	body := `{"error":` + strconv.Quote(rej.Message) + `,"code":` + strconv.Quote(rej.Code) + "}"
	b := make([]byte, 0, 256)
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(rej.Status), 10)
	b = append(b, ' ')
	b = append(b, statusText(rej.Status)...)
	b = append(b, "\r\nContent-Type: application/json\r\nConnection: close\r\n"...)
	if rej.Status == 503 {
		b = append(b, "Retry-After: 5\r\n"...)
	}
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	return append(b, body...)
}

func statusText(code int) string {
	switch code {
	case 400:
		return "Bad Request"
	case 408:
		return "Request Timeout"
	case 413:
		return "Request Entity Too Large"
	case 414:
		return "Request URI Too Long"
	case 431:
		return "Request Header Fields Too Large"
	case 501:
		return "Not Implemented"
	case 503:
		return "Service Unavailable"
	}
	return "Error"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// watcher is a read kept open on an event stream's connection, so that
// the client's going away is seen at once, not at the next write.
type watcher struct {
	gone chan struct{} // closed when the client closed or broke the connection
	done chan struct{} // closed when the read has returned
}

// WatchClose starts watching for the client to close the connection while
// a response streams (no request is being read meanwhile); gone is closed
// when it does. stop ends the watch and must be called before the server
// reads from the connection again. Bytes the client sends meanwhile (a
// pipelined request) are kept for the next read; a client that sends more
// than a head's worth is treated as gone.
func (c *Conn) WatchClose() (gone <-chan struct{}, stop func()) {
	w := &watcher{gone: make(chan struct{}), done: make(chan struct{})}
	c.watch = w
	_ = c.Conn.SetReadDeadline(time.Time{})
	go func() {
		defer close(w.done)
		// A small buffer: an event stream's client sends nothing, and
		// this one lives on the heap as long as the stream does.
		var b [64]byte
		for {
			n, err := c.Conn.Read(b[:])
			if n > 0 {
				c.getBuf()
				if len(c.buf)-c.w < n {
					close(w.gone)
					return
				}
				c.w += copy(c.buf[c.w:], b[:n])
			}
			if err != nil {
				if !isTimeout(err) {
					close(w.gone)
				}
				return
			}
		}
	}()
	return w.gone, c.stopWatch
}

func (c *Conn) stopWatch() {
	w := c.watch
	if w == nil {
		return
	}
	_ = c.Conn.SetReadDeadline(time.Unix(1, 0))
	<-w.done
	c.watch = nil
}
