// Package edge is where Backlot meets the network: a net.Listener that the
// HTTP server (fasthttp, under Fiber) serves from, which judges every
// request head before the server sees it and frames every body, so that
// what API.md's "The HTTP edge" promises holds whatever a client sends:
//
//   - Framing: each read returns bytes of one request only, and only after
//     its head passed ParseHead (Content-Length once and digits only, never
//     with Transfer-Encoding, which may only be chunked; a known method; a
//     target and headers within their limits). A declared body over the
//     limit is refused before a byte of it is read, and so before a
//     "100 Continue". Conn.Complete and Conn.Drain let the server close a
//     connection whose request body was not read to its end, so no body
//     byte is ever read as a request.
//   - Timeouts: a head must arrive within HeaderTimeout, a body may not
//     stall longer than BodyIdleTimeout between bytes, a connection may
//     idle between requests for IdleTimeout; a write that stalls longer
//     than WriteStall fails (an event stream whose client stopped reading
//     ends and frees its subscriber).
//   - Descriptors: Accept backs off and retries on EMFILE/ENFILE instead of
//     failing, and connections over MaxConns get a 503 and are closed.
//
// Refusals are API.md's JSON with fixed sentences: never a request byte.
package edge

import (
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// Config is the edge's limits; zero values take the defaults noted.
type Config struct {
	HeaderTimeout   time.Duration // request line and headers (10 s)
	BodyIdleTimeout time.Duration // longest silence inside a body (30 s)
	IdleTimeout     time.Duration // between requests on one connection (60 s)
	WriteStall      time.Duration // longest a write may block (30 s)
	// MaxConns bounds open connections; over it a connection gets 503 and
	// is closed at once. 0: DefaultMaxConns of the process's RLIMIT_NOFILE.
	MaxConns int
	Limits   Limits // head and body sizes (8 KiB target, 16 KiB headers)
	// OnRefuse, if set, is told of every request the edge answers itself
	// (for metrics).
	OnRefuse func(status int, code string)
	Log      *slog.Logger
}

func (c *Config) defaults() {
	if c.HeaderTimeout <= 0 {
		c.HeaderTimeout = 10 * time.Second
	}
	if c.BodyIdleTimeout <= 0 {
		c.BodyIdleTimeout = 30 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 60 * time.Second
	}
	if c.WriteStall <= 0 {
		c.WriteStall = 30 * time.Second
	}
	if c.Limits.MaxTarget <= 0 {
		c.Limits.MaxTarget = 8 << 10
	}
	if c.Limits.MaxHeader <= 0 {
		c.Limits.MaxHeader = 16 << 10
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns(NoFile())
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// ReadBufferSize is the server read buffer that any head passing the
// limits fits in.
func ReadBufferSize(l Limits) int {
	if l.MaxTarget <= 0 {
		l.MaxTarget = 8 << 10
	}
	if l.MaxHeader <= 0 {
		l.MaxHeader = 16 << 10
	}
	return l.maxHead() + 1024
}

// DefaultMaxConns is the connection limit for a process allowed nofile
// descriptors: what is left after a reserve for the store, uploads being
// written, results being served, resizers' files, Redis and cluster
// connections (a quarter of the limit, at least 64 and at most 4096).
func DefaultMaxConns(nofile uint64) int {
	reserve := min(max(nofile/4, 64), 4096)
	if nofile <= reserve+16 {
		return 16
	}
	return int(min(nofile-reserve, 1<<30))
}

// Listener is the edge's net.Listener; its Accept hands out *Conn.
type Listener struct {
	net.Listener
	cfg    Config
	open   atomic.Int64
	closed chan struct{}
	closer atomic.Bool

	refusedConns atomic.Int64
	lastLog      atomic.Int64 // unix nanos of the last accept-error log line
}

// Listen wraps ln.
func Listen(ln net.Listener, cfg Config) *Listener {
	cfg.defaults()
	return &Listener{Listener: ln, cfg: cfg, closed: make(chan struct{})}
}

// Config is the listener's configuration, defaults filled in.
func (l *Listener) Config() Config { return l.cfg }

// Open is the number of connections open now.
func (l *Listener) Open() int64 { return l.open.Load() }

// Refused is the number of connections refused for MaxConns so far.
func (l *Listener) Refused() int64 { return l.refusedConns.Load() }

// Close stops accepting.
func (l *Listener) Close() error {
	if l.closer.CompareAndSwap(false, true) {
		close(l.closed)
	}
	return l.Listener.Close()
}

// Accept returns the next connection. Running out of descriptors (or of
// kernel memory) is waited out with a backoff from 5 ms to 1 s, as
// net/http does, never returned: the node serves again once connections
// close. A connection over MaxConns is answered 503 and closed.
func (l *Listener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if !retryable(err) {
				return nil, err
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			if now := time.Now().UnixNano(); now-l.lastLog.Load() > int64(10*time.Second) {
				l.lastLog.Store(now)
				l.cfg.Log.Warn("accept failed; retrying (out of file descriptors?)", "err", err, "retry_in", delay, "open_conns", l.open.Load())
			}
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-l.closed:
				t.Stop()
				return nil, net.ErrClosed
			}
			continue
		}
		delay = 0
		if l.open.Load() >= int64(l.cfg.MaxConns) {
			l.refusedConns.Add(1)
			l.rejected(rejBusy)
			go refuseBusy(c)
			continue
		}
		l.open.Add(1)
		return &Conn{Conn: c, ln: l, opened: time.Now()}, nil
	}
}

// lingering bounds the over-limit connections being answered at once;
// past it they are closed without an answer.
var lingering = make(chan struct{}, 64)

func refuseBusy(c net.Conn) {
	select {
	case lingering <- struct{}{}:
		defer func() { <-lingering }()
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.Write(reply(rejBusy))
		linger(c)
	default:
	}
	_ = c.Close()
}

func (l *Listener) rejected(r *Reject) {
	if l.cfg.OnRefuse != nil {
		l.cfg.OnRefuse(r.Status, r.Code)
	}
}

// retryable are the accept errors that pass: out of descriptors or
// memory, or a connection that died in the queue.
func retryable(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.ECONNRESET} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
