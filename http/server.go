package http

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/ on http.DefaultServeMux, served only with Config.Pprof
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/cors"

	"github.com/backlot/backlot/actors"
	"github.com/backlot/backlot/actors/resize"
	"github.com/backlot/backlot/http/edge"
	"github.com/backlot/backlot/http/metrics"
	"github.com/backlot/backlot/http/web"
	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/blob"
)

// Member is a cluster member as /readyz lists it.
type Member struct {
	ID   string `json:"id"`
	Addr string `json:"addr"`
}

// Config holds the HTTP side's limits. Zero values take the defaults noted.
type Config struct {
	MaxFiles     int              // files per batch (100)
	MaxFileSize  int64            // bytes per file (32 MiB)
	MaxBody      int64            // bytes per request body (1 GiB)
	MaxPixels    int64            // per image, from its header (50 megapixels)
	Token        string           // API token; empty: no auth
	PingInterval time.Duration    // idle time before ": ping" on a stream (15 s)
	Metrics      *metrics.Metrics // where counters go; default: a fresh registry
	// MaxQueued bounds the images waiting or running (pending + in flight
	// in the store's queue); an upload that would pass it gets 503 with
	// Retry-After and stores nothing. 0: no bound.
	MaxQueued int
	// Pprof serves net/http/pprof under /debug/pprof/ (for profiling a
	// node under load; off by default).
	Pprof bool
	// CORSOrigins lists the origins allowed to call the API from a browser
	// ("https://a.example,https://b.example", or "*"); empty: CORS off.
	CORSOrigins string
	// Members lists the cluster members this node sees, for /readyz; nil
	// when the node runs alone.
	Members func() []Member
	// ResizeLimits are the resize actors' limits, which the rebuild of a
	// result a power cut took keeps too (results.go).
	ResizeLimits resize.Limits
	// Presign, when > 0 and the blob store signs URLs (blob.Presigner:
	// S3), answers a result's GET with 307 to a signed GET of its object
	// valid this long, rather than proxying the bytes (API.md 1.1).
	Presign time.Duration
	// Edge is what the listener enforces before a request reaches a
	// handler: timeouts, connection limit, head sizes (http/edge). Its
	// body limit is MaxBody.
	Edge edge.Config
}

func (c *Config) defaults() {
	if c.MaxFiles <= 0 {
		c.MaxFiles = persistence.DefaultMaxFiles
	}
	if c.MaxFileSize <= 0 {
		c.MaxFileSize = persistence.DefaultMaxFileSize
	}
	if c.MaxBody <= 0 {
		c.MaxBody = persistence.DefaultMaxBody
	}
	if c.MaxPixels <= 0 {
		c.MaxPixels = persistence.DefaultMaxPixels
	}
	if c.ResizeLimits.MaxPixels <= 0 { // a rebuild guards like an upload
		c.ResizeLimits.MaxPixels = c.MaxPixels
	}
	if c.PingInterval <= 0 {
		c.PingInterval = persistence.DefaultSSEPing
	}
	if c.Metrics == nil {
		c.Metrics = metrics.New()
	}
	c.Edge.Limits.MaxBody = c.MaxBody
}

// Server is the Fiber app with what its handlers need.
type Server struct {
	app   *fiber.App
	cfg   Config
	store persistence.Store
	sys   *actors.System
	blobs blob.Store // every upload's and result's bytes
	log   *slog.Logger
	met   *metrics.Metrics

	rebuilds *rebuilder // results lost to a power cut, rebuilt on read (results.go)

	accepting atomic.Bool   // false: uploads get 503, readyz 503
	closing   chan struct{} // closed on Shutdown: streams end
	closeOnce sync.Once
	streams   atomic.Int64 // open event streams
}

// New builds the server; it starts accepting uploads at once. blobs holds
// the uploads and results. When it watches a disk (blob.Spacer: fsblob
// with a reserve), an upload whose body would eat into the reserve gets
// 507 insufficient_storage, judged before a byte is written and again
// while it is written, and /readyz fails (503) while the free space is
// below it.
func New(cfg Config, store persistence.Store, sys *actors.System, blobs blob.Store, log *slog.Logger) *Server {
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, store: store, sys: sys, blobs: blobs, log: log, met: cfg.Metrics, closing: make(chan struct{}),
		rebuilds: newRebuilder(runtime.GOMAXPROCS(0))}
	s.accepting.Store(true)
	s.app = fiber.New(fiber.Config{
		// Uploads are read part by part from the stream and written to
		// disk, so memory does not grow with the body; the body limit is
		// enforced by the upload handler (a streamed body over
		// BodyLimit still reaches it).
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		BodyLimit:                    int(min(cfg.MaxBody, 1<<31-1)),
		// Every head that passes the edge fits; the edge bounds heads, and
		// keeps every read and idle deadline (its Conn ignores the
		// server's), so the server sets none.
		ReadBufferSize: edge.ReadBufferSize(cfg.Edge.Limits),
		// An idle connection (an event stream's among them) keeps no read
		// buffer: memory per idle stream stays small.
		ReduceMemoryUsage:     true,
		DisableStartupMessage: true,
		ErrorHandler:          errorHandler(log),
		AppName:               "backlot",
	})
	s.routes()
	return s
}

func (s *Server) routes() {
	a := s.app
	a.Use(s.accessLog)
	if s.cfg.CORSOrigins != "" {
		a.Use(cors.New(cors.Config{
			AllowOrigins:  s.cfg.CORSOrigins,
			AllowMethods:  "GET,POST,OPTIONS",
			AllowHeaders:  "Authorization,Content-Type,Last-Event-ID",
			ExposeHeaders: "Location,Retry-After",
		}))
	}
	a.Get("/metrics", s.auth, s.met.Handler())
	if s.cfg.Pprof {
		a.Get("/debug/pprof/*", adaptor.HTTPHandler(http.DefaultServeMux))
	}
	a.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	a.Get("/readyz", s.readyz)
	web.Register(a)
	api := a.Group("/api", s.auth)
	api.Post("/images", s.upload)
	api.Get("/images/:batch/events", s.events)
	api.Get("/images/:batch", s.status)
	api.Get("/images/:batch/:image", s.result)
	api.Get("/images/:batch/:image/:variant", s.result)
}

// App exposes the Fiber app (tests use app.Test for plain JSON endpoints).
func (s *Server) App() *fiber.App { return s.app }

// Serve serves on ln, seen through the edge (http/edge), until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	if _, ok := ln.(*edge.Listener); !ok {
		ln = s.Listen(ln)
	}
	return s.app.Listener(ln)
}

// Listen wraps ln in the edge with this server's limits.
func (s *Server) Listen(ln net.Listener) *edge.Listener {
	cfg := s.cfg.Edge
	cfg.Log = s.log
	cfg.OnRefuse = func(status int, code string) { s.met.Request("", "edge", status) }
	return edge.Listen(ln, cfg)
}

// Streams is the number of open event streams.
func (s *Server) Streams() int64 { return s.streams.Load() }

// StopAccepting makes readiness fail and uploads answer 503; streams and
// reads go on. The first step of a graceful shutdown.
func (s *Server) StopAccepting() { s.accepting.Store(false) }

// Shutdown refuses uploads, ends every event stream (clients reconnect
// with Last-Event-ID) and stops the listener, waiting for open requests
// until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.StopAccepting()
	s.closeOnce.Do(func() { close(s.closing) })
	return s.app.ShutdownWithContext(ctx)
}

func (s *Server) readyz(c *fiber.Ctx) error {
	if !s.accepting.Load() {
		return unavailable("shutting_down", "this node is shutting down")
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.log.Warn("readiness: store unreachable", "err", err)
		return unavailable("store_unavailable", "the store is unreachable")
	}
	if ch, ok := s.blobs.(blob.Checker); ok {
		if err := ch.Check(ctx); err != nil {
			s.log.Warn("readiness: blob store unreachable", "err", err)
			return unavailable("store_unavailable", "the blob store is unreachable")
		}
	}
	if err := s.diskRoom(ctx); err != nil {
		return err
	}
	if s.cfg.Members != nil && s.authorized(c) {
		// The members (node ids and addresses) only to who holds the
		// token: readiness is open to any prober.
		return c.JSON(fiber.Map{"status": "ready", "members": s.cfg.Members()})
	}
	return c.JSON(fiber.Map{"status": "ready"})
}

// auth checks the API token when one is configured, in constant time.
func (s *Server) auth(c *fiber.Ctx) error {
	if !s.authorized(c) {
		return errUnauthorized
	}
	return c.Next()
}

// authorized tells whether c may use the API: no token is configured, or
// it carries it.
func (s *Server) authorized(c *fiber.Ctx) bool {
	if s.cfg.Token == "" {
		return true
	}
	got := c.Query("token")
	if h := c.Get(fiber.HeaderAuthorization); h != "" {
		// The scheme is case-insensitive (RFC 9110 §11.1).
		if scheme, t, ok := strings.Cut(strings.TrimSpace(h), " "); ok && strings.EqualFold(scheme, "Bearer") {
			got = strings.TrimSpace(t)
		}
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.Token)) == 1
}

// frame keeps request framing safe once the handler is done: a body the
// edge could not read to its end (a stall, a broken chunked framing) is
// answered for what it is, and a connection whose request body was not
// read to its end is closed after the reply, so that no byte of that body
// is ever read as a request. A body that has arrived whole is drained from
// the server's buffer instead, and the connection goes on.
func frame(c *fiber.Ctx, err error) error {
	conn, ok := c.Context().Conn().(*edge.Conn)
	if !ok {
		return err
	}
	if f := conn.Fault(); f != nil {
		c.Context().SetConnectionClose()
		return apiError(f.Status, f.Code, f.Message)
	}
	if !conn.HasBody() {
		return err
	}
	if body := c.Context().RequestBodyStream(); body == nil || !conn.Drain(body) {
		c.Context().SetConnectionClose()
	}
	return err
}

// accessLog writes one line per request and counts it by route. Client
// mistakes (4xx) are Info like the rest; 5xx are logged by the error
// handler too.
func (s *Server) accessLog(c *fiber.Ctx) error {
	start := time.Now()
	err := frame(c, c.Next())
	if err != nil {
		if herr := s.app.ErrorHandler(c, err); herr != nil {
			s.log.Error("error handler", "err", herr)
		}
	}
	status := c.Response().StatusCode()
	route := c.Route().Path
	// Fiber's strings alias the request buffer, reused after the handler:
	// a label kept by the registry must be a copy.
	s.met.Request(strings.Clone(c.Method()), route, status)
	if s.log.Enabled(c.UserContext(), slog.LevelInfo) {
		s.log.LogAttrs(c.UserContext(), slog.LevelInfo, "request",
			slog.String("method", c.Method()), slog.String("path", c.Path()), slog.String("route", route),
			slog.Int("status", status), slog.Duration("took", time.Since(start)),
			slog.String("remote", c.IP()))
	}
	return nil
}
