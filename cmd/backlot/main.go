// Command backlot is the Backlot server: `backlot serve` runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/backlot/backlot/actors"
	"github.com/backlot/backlot/actors/cluster"
	"github.com/backlot/backlot/actors/resize"
	bhttp "github.com/backlot/backlot/http"
	"github.com/backlot/backlot/http/edge"
	"github.com/backlot/backlot/http/metrics"
	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/blob"
	"github.com/backlot/backlot/persistence/blob/fsblob"
	"github.com/backlot/backlot/persistence/blob/s3blob"
	"github.com/backlot/backlot/persistence/pebble"
	"github.com/backlot/backlot/persistence/redis"
	goredis "github.com/redis/go-redis/v9"
)

const usage = `usage: backlot <command> [flags]

commands:
  serve        run the server (backlot serve -h lists its flags)
  healthcheck  exit 0 if a node's /readyz answers 200 (for container health checks)
  bench        load-test a node through the public API (backlot bench -h)
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "backlot:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command")
	}
	switch args[0] {
	case "serve":
		m := NewMain(stderr)
		if err := m.ParseFlags(args[1:], getenv); err != nil {
			return err
		}
		if err := m.Open(ctx); err != nil {
			m.Close()
			return err
		}
		limitHeap(m.System().Budget(), getenv)
		return m.Run(ctx)
	case "healthcheck":
		return healthcheck(ctx, args[1:], stderr)
	case "bench":
		return benchCommand(ctx, args[1:], os.Stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stderr, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// Main is one Backlot node: store, actors and HTTP server. Tests use it
// in-process on 127.0.0.1:0 with a temp dir.
type Main struct {
	Config Config
	Log    *slog.Logger

	stderr io.Writer
	store  persistence.Store
	blobs  blob.Store // uploads and results: files under the data directory, or S3
	// retentionEvery overrides the janitor's period (tests).
	retentionEvery time.Duration
	janitor        *persistence.Janitor // nil: --retention 0
	orphanGrace    time.Duration        // the sweep's grace on a shared data dir or bucket (orphanGrace; tests change it)
	sweepEvery     time.Duration        // the orphan sweeper's period (0: hourly; tests change it)
	sweeper        *persistence.Janitor // the orphan sweep while the node runs
	sys            *actors.System
	cluster        *cluster.Node // nil without --cluster-listen
	srv            *bhttp.Server
	ln             net.Listener
}

// NewMain returns a Main with the default configuration.
func NewMain(stderr io.Writer) *Main {
	return &Main{Config: DefaultConfig(), stderr: stderr, orphanGrace: orphanGrace}
}

// ParseFlags fills the configuration from env and args.
func (m *Main) ParseFlags(args []string, getenv func(string) string) error {
	return m.Config.Parse(args, getenv)
}

// Open opens the store, starts the actors (which redo unfinished work as they claim it)
// and binds the listener.
func (m *Main) Open(ctx context.Context) error {
	c := m.Config
	if m.Log == nil {
		lvl, _ := parseLevel(c.LogLevel)
		opts := &slog.HandlerOptions{Level: lvl}
		if c.LogFormat == "json" {
			m.Log = slog.New(slog.NewJSONHandler(m.stderr, opts))
		} else {
			m.Log = slog.New(slog.NewTextHandler(m.stderr, opts))
		}
	}
	// The blob store owns the data directory's bytes (and makes the
	// directory); the embedded store keeps its one file beside them.
	fsb, err := fsblob.New(c.DataDir, fsblob.Options{MinFree: c.MinFreeDisk})
	if err != nil {
		return fmt.Errorf("open data dir: %w", err)
	}
	m.blobs = fsb
	if bucket, prefix, ok, _ := c.S3Blobs(); ok {
		// The bytes live in the object store; the data directory keeps
		// the spool of uploads being written (and the embedded store).
		host, secure, _ := c.s3Endpoint()
		spool := filepath.Join(c.DataDir, "spool")
		s3, err := s3blob.New(ctx, s3blob.Options{Endpoint: host, Secure: secure, Bucket: bucket, Prefix: prefix,
			Region: c.S3Region, PathStyle: c.S3PathStyle, SpoolDir: spool})
		if err != nil {
			return fmt.Errorf("open blobs %s: %w", c.Blobs, err)
		}
		m.blobs = s3
	}
	var st persistence.Store
	if c.Redis != "" {
		goredis.SetLogger(redisLogger{m.Log})
		rs, err := redis.Open(ctx, redis.Options{URL: c.Redis, Prefix: c.RedisPrefix, NodeID: c.NodeID, LeaseTTL: c.leaseTTL(), Logger: m.Log,
			WaitReplicas: c.waitReplicas(), WaitTimeout: c.RedisWaitFor})
		if err != nil {
			return fmt.Errorf("open store: %w", err)
		}
		st = rs
	} else {
		ps, err := pebble.OpenDataDir(c.DataDir, pebble.Options{Logger: m.Log}, func(st pebble.MoveStats) {
			m.Log.Info("moved the embedded store from bbolt to Pebble; the old file is kept as a backup that nothing reads",
				"from", st.From, "to", st.To, "backup", st.Backup, "batches", st.Batches, "events", st.Events, "jobs", st.Jobs)
		})
		if err != nil {
			return err
		}
		st = ps
	}
	met := metrics.New()
	m.store = met.Store(st)
	// The embedded store locks the data dir, so no upload can be under
	// way on files under it: everything left is swept. A data dir shared
	// by nodes on Redis, or a bucket (which nothing locks: another node
	// may be writing to the same prefix), is swept of what is older than
	// orphanGrace only.
	local, grace := time.Duration(0), time.Duration(0)
	if c.Redis != "" {
		local = m.orphanGrace
	}
	if c.Redis != "" || c.Blobs != "" {
		grace = m.orphanGrace
	}
	if n, err := sweepOrphans(ctx, m.store, m.blobs, local, grace); err != nil {
		m.Log.Warn("sweeping unrecorded uploads", "err", err)
	} else if n > 0 {
		m.Log.Info("removed files of uploads cut before their 202", "batches", n)
	}
	var members func() []bhttp.Member
	if c.ClusterListen != "" {
		m.cluster, err = cluster.Start(cluster.Config{ID: c.NodeID, Listen: c.ClusterListen, Peers: c.PeerList(), Logger: m.Log})
		if err != nil {
			return err
		}
		members = func() []bhttp.Member {
			var out []bhttp.Member
			for _, mb := range m.cluster.Members() {
				out = append(out, bhttp.Member{ID: mb.ID, Addr: mb.Addr})
			}
			return out
		}
		met.ClusterMembers(func() int { return len(m.cluster.Members()) })
	}
	// One budget for the resizers and the HTTP layer's rebuilds: at most
	// --workers decodes at once, holding at most --max-decode-memory.
	limits := resize.Limits{MaxPixels: c.MaxPixels, Timeout: c.ResizeTimeout, Nice: c.ResizeNice,
		Budget: resize.NewBudget(c.MaxDecodeMemory, c.Workers), Stages: met}
	m.sys, err = actors.Start(ctx, actors.Config{
		Store: m.store, Blobs: m.blobs, Observer: met, Workers: c.Workers, ClaimAhead: claimAhead(c.ClaimAhead), MaxAttempts: c.Attempts,
		Limits:       limits,
		RetryBackoff: c.RetryBackoff, Logger: m.Log,
		Cluster: m.cluster,
	})
	if err != nil {
		return err
	}
	if c.Retention > 0 {
		m.janitor = persistence.StartJanitor(m.store, m.blobs, c.Retention, m.retentionEvery, m.Log)
	}
	// In a bucket, objects are left without a crash too (a rejected
	// upload's, or a retention pass's, while the store was away), and no
	// restart may come to sweep them: swept hourly, only what is older
	// than orphanGrace (uploads are under way meanwhile). Files under
	// --data are left so only by a crash, swept at the next start; a walk
	// of the whole directory every hour would cost more than it finds.
	if c.Blobs != "" {
		m.sweeper = persistence.StartSweeper(m.store, m.blobs, m.orphanGrace, m.sweepEvery, m.Log)
	}
	m.srv = bhttp.New(bhttp.Config{
		MaxFiles: c.MaxFiles, MaxFileSize: c.MaxFileSize, MaxBody: c.MaxBody,
		MaxPixels: c.MaxPixels, Token: c.Token, PingInterval: c.SSEPing, Metrics: met,
		MaxQueued: c.MaxQueued, CORSOrigins: c.CORSOrigins, Pprof: c.Pprof, Members: members,
		ResizeLimits: limits, Presign: c.S3Presign,
		Edge: edge.Config{
			HeaderTimeout: c.HeaderTimeout, BodyIdleTimeout: c.BodyIdleTimeout, IdleTimeout: c.IdleTimeout,
			WriteStall: c.WriteStall, MaxConns: c.MaxConns,
		},
	}, m.store, m.sys, m.blobs, m.Log)
	met.Gauges(m.store, m.srv.Streams)
	if b := m.sys.Budget(); b != nil {
		met.DecodeMemory(b.Held, b.Bytes, b.Ceiling)
	}
	m.ln, err = net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	m.Log.Info("backlot listening", "addr", m.ln.Addr().String(), "jpeg_decoder", resize.Decoder(), "config", c)
	return nil
}

// Addr is the bound HTTP address (useful with :0).
func (m *Main) Addr() string { return m.ln.Addr().String() }

// Server is the HTTP server (tests read its counters).
func (m *Main) Server() *bhttp.Server { return m.srv }

// System is the actor system (tests read its counters).
func (m *Main) System() *actors.System { return m.sys }

// Run serves until ctx ends, then shuts down in order: refuse uploads and
// fail readiness; let in-flight resizes finish within the grace period
// (the rest stays in flight and is redone after a restart); end event
// streams and the listener; stop the actors; close the store.
func (m *Main) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- m.srv.Serve(m.ln) }()
	select {
	case err := <-errc:
		m.Close()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	m.Log.Info("shutting down", "grace", m.Config.ShutdownGrace)
	m.srv.StopAccepting()
	gctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownGrace)
	if err := m.sys.Drain(gctx); err != nil {
		m.Log.Warn("resizes still running at the end of the grace period; they will be redone after restart", "err", err)
	}
	cancel()
	m.Close()
	m.Log.Info("stopped")
	return nil
}

// Close stops whatever Open started, in order; safe on a partial Open.
func (m *Main) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if m.srv != nil {
		if err := m.srv.Shutdown(ctx); err != nil {
			m.Log.Warn("http shutdown", "err", err)
		}
	} else if m.ln != nil {
		m.ln.Close()
	}
	if m.sweeper != nil {
		m.sweeper.Stop()
	}
	if m.janitor != nil {
		m.janitor.Stop()
	}
	if m.sys != nil {
		if err := m.sys.Stop(ctx); err != nil {
			m.Log.Warn("actors stop", "err", err)
		}
	}
	if m.cluster != nil { // after the actors: their work is done before the members see this node leave
		if err := m.cluster.Stop(); err != nil {
			m.Log.Warn("cluster stop", "err", err)
		}
	}
	if m.store != nil {
		if err := m.store.Close(); err != nil {
			m.Log.Warn("store close", "err", err)
		}
	}
}

// healthcheck asks a node's readiness endpoint; distroless images have no
// curl, so the binary checks itself.
func healthcheck(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8080/readyz", "readiness URL")
	timeout := fs.Duration("timeout", 3*time.Second, "time limit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %d %s", *url, resp.StatusCode, body)
	}
	return nil
}

// redisLogger routes go-redis's own messages (dial failures during an
// outage) through slog.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.Warn("redis client: " + fmt.Sprintf(format, v...))
}

// heapHeadroom is what Go's heap may hold beyond the decodes' budget: the
// runtime, the HTTP layer's and the store's buffers, the buffer pools.
const heapHeadroom = 256 << 20

// limitHeap sets Go's soft memory limit to the decodes' budget plus
// heapHeadroom, less what libjpeg-turbo holds in C at the moment (the
// budget's Native), unless GOMEMLIMIT (the operator's word) is set. The
// collector then collects sooner as the heap nears it, never failing an
// allocation: at its default pacing (GOGC=100) it lets the heap grow to
// twice what was live at its last cycle, so a node that had just held a
// 600 MB image could reach 1.2 GB before that image's garbage was
// collected, and libjpeg's memory comes on top of whatever the heap holds
// (README, Performance: "Memory by bytes"). Only the binary sets it:
// tests run nodes in-process.
func limitHeap(b *resize.Budget, getenv func(string) string) {
	if getenv("GOMEMLIMIT") != "" {
		return
	}
	b.OnNative(func(native int64) { debug.SetMemoryLimit(b.Bytes() + heapHeadroom - native) })
}

// claimAhead maps --claim-ahead (0: none) onto actors.Config's (0: default).
func claimAhead(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
