package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/backlot/backlot/actors/cluster"
	"github.com/backlot/backlot/actors/resize"
	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/blob"
	"github.com/backlot/backlot/persistence/redis"
)

// Config is every setting of `backlot serve`: defaults, then BACKLOT_*
// environment variables, then flags (flags win).
type Config struct {
	Listen        string        // HTTP address (127.0.0.1:8080)
	DataDir       string        // store, uploads and results (./data)
	Blobs         string        // where image bytes live: "" (files under DataDir) or s3://BUCKET/PREFIX
	S3Endpoint    string        // S3 API host[:port], or http(s)://host[:port] (https without a scheme)
	S3Region      string        // region that signs S3 requests; empty: AWS_REGION, then us-east-1
	S3PathStyle   bool          // address the bucket in the path (SeaweedFS, MinIO, Ceph) rather than as a virtual host
	S3Presign     time.Duration // > 0: results answered with 307 to a signed GET valid this long; 0: proxied
	Redis         string        // redis://host:port/db or redis-sentinel://h:p,h:p/db?master=NAME selects the Redis backend; empty: embedded store
	RedisPrefix   string        // key prefix in Redis (backlot)
	RedisWait     int           // replicas each write a failover must not lose waits for (WAIT); -1: 1 with a Sentinel URL, else 0
	RedisWaitFor  time.Duration // bound of each WAIT (1 s)
	NodeID        string        // this node's name in the cluster/queue (host name)
	ClusterListen string        // host:port of the cluster remote, as peers reach it; empty: no cluster
	Peers         string        // cluster addresses of bootstrap members, comma-separated
	LeaseTTL      time.Duration // a silent node's claimed jobs go back to the queue after this (0: 10 s, 4 s in a cluster)
	Workers       int           // resize actors (number of CPUs)
	ClaimAhead    int           // jobs claimed beyond one per resize actor, waiting for one (number of CPUs)
	MaxFiles      int           // files per batch (100)
	MaxFileSize   int64         // bytes per file (32 MiB)
	MaxBody       int64         // bytes per request body (1 GiB)
	MaxPixels     int64         // pixels per image, from its header (50 M)
	MaxQueued     int           // images waiting or running before uploads get 503 (10000; 0: no bound)
	MinFreeDisk   int64         // bytes the data directory's file system keeps free: uploads that would eat into them get 507 (256 MiB; 0: none)
	CORSOrigins   string        // origins allowed from browsers, comma-separated or *; empty: off
	Attempts      int           // attempts per image (3)
	Token         string        // API token; empty: no auth
	ResizeTimeout time.Duration // per attempt (60 s)
	ResizeNice    int           // nice value of the resize threads (0: as the rest)
	RetryBackoff  time.Duration // before the 2nd attempt, doubled after (1 s)
	ShutdownGrace time.Duration // for in-flight resizes on SIGTERM (30 s)
	SSEPing       time.Duration // idle stream keep-alive (15 s)
	Retention     time.Duration // finished batches are deleted this long after done (24 h; 0 keeps them)
	Pprof         bool          // serve /debug/pprof/ (false)
	// The HTTP edge (http/edge): what a client may take of a node.
	HeaderTimeout   time.Duration // request line and headers (10 s)
	BodyIdleTimeout time.Duration // longest silence inside a request body (30 s)
	IdleTimeout     time.Duration // keep-alive connection idle between requests (60 s)
	WriteStall      time.Duration // longest a response write may block, event streams included (30 s)
	MaxConns        int           // open connections; 0: derived from RLIMIT_NOFILE
	LogLevel        string        // debug, info, warn, error (info)
	LogFormat       string        // text or json (text)
	// Memory by bytes (resize.Budget): what the resizes under way may
	// hold at once, each counted from its header before decoding.
	MaxDecodeMemory int64 // bytes (384 MiB)
}

// DefaultConfig is the configuration with nothing set.
func DefaultConfig() Config {
	return Config{
		Listen: "127.0.0.1:8080", DataDir: "./data", Workers: runtime.NumCPU(), ClaimAhead: runtime.NumCPU(),
		RedisPrefix: "backlot", RedisWait: -1, RedisWaitFor: redis.DefaultWaitTimeout, NodeID: defaultNodeID(),
		MaxFiles: persistence.DefaultMaxFiles, MaxFileSize: persistence.DefaultMaxFileSize, MaxBody: persistence.DefaultMaxBody,
		MaxPixels: persistence.DefaultMaxPixels, MaxQueued: persistence.DefaultMaxQueued, MinFreeDisk: persistence.DefaultMinFreeDisk,
		Attempts: persistence.DefaultMaxAttempts, ResizeTimeout: 60 * time.Second, RetryBackoff: persistence.DefaultRetryBackoff,
		ShutdownGrace: 30 * time.Second, SSEPing: persistence.DefaultSSEPing, Retention: persistence.DefaultRetention,
		HeaderTimeout: 10 * time.Second, BodyIdleTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second, WriteStall: 30 * time.Second,
		LogLevel: "info", LogFormat: "text",
		MaxDecodeMemory: resize.DefaultMaxDecodeMemory,
	}
}

// flagSet binds c's fields to flags; env names are BACKLOT_ + the flag
// name upper-cased with - as _.
func (c *Config) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&c.Listen, "listen", c.Listen, "HTTP listen address")
	fs.StringVar(&c.DataDir, "data", c.DataDir, "data directory (embedded store, uploads, results)")
	fs.StringVar(&c.Blobs, "blobs", c.Blobs, "where uploads and results live: empty for files under -data (one node, or a directory every node shares), or s3://BUCKET/PREFIX for an S3-compatible object store (needs -s3-endpoint; credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
	fs.StringVar(&c.S3Endpoint, "s3-endpoint", c.S3Endpoint, "S3 API of -blobs s3://: host[:port] (HTTPS), or http://host:port or https://host:port")
	fs.StringVar(&c.S3Region, "s3-region", c.S3Region, "region that signs S3 requests; empty: AWS_REGION, then us-east-1")
	fs.BoolVar(&c.S3PathStyle, "s3-path-style", c.S3PathStyle, "address the bucket in the path (http://host/bucket/key), as SeaweedFS, MinIO and Ceph want, rather than as a virtual host (AWS)")
	fs.DurationVar(&c.S3Presign, "s3-presign", c.S3Presign, "with -blobs s3://, answer a result's GET with 307 to a presigned GET of its object valid this long (1s to 168h; clients must reach -s3-endpoint); 0: the node serves the bytes itself")
	fs.StringVar(&c.Redis, "redis", c.Redis, "Redis URL for metadata, queue and events: redis://[:password@]host:port/db, or through Sentinel redis-sentinel://[:password@]host:port,host:port/db?master=NAME[&sentinel_password=...] (rediss:// and rediss-sentinel:// for TLS); empty: embedded store in -data")
	fs.StringVar(&c.RedisPrefix, "redis-prefix", c.RedisPrefix, "prefix of every Redis key")
	fs.IntVar(&c.RedisWait, "redis-wait-replicas", c.RedisWait, "replicas that must hold each batch, event and fencing token before it counts as done (Redis WAIT), so a failover loses nothing acknowledged; fewer within -redis-wait-timeout: 503. -1: 1 with a redis-sentinel:// URL, 0 (no WAIT) otherwise")
	fs.DurationVar(&c.RedisWaitFor, "redis-wait-timeout", c.RedisWaitFor, "how long a write waits for -redis-wait-replicas replicas before it fails as unavailable (503)")
	fs.StringVar(&c.NodeID, "node-id", c.NodeID, "this node's id: stable across restarts, unique among nodes sharing a Redis")
	fs.StringVar(&c.ClusterListen, "cluster-listen", c.ClusterListen, "host:port of this node's cluster remote, as peers dial it (needs -redis); empty: no cluster")
	fs.StringVar(&c.Peers, "peers", c.Peers, "cluster addresses (host:port,...) of bootstrap members; one reachable suffices")
	fs.DurationVar(&c.LeaseTTL, "lease-ttl", c.LeaseTTL, "how long a node may be silent before others take over its claimed jobs (needs -redis); 0: 10s, or 4s with -cluster-listen")
	fs.IntVar(&c.Workers, "workers", c.Workers, "resize actors")
	fs.IntVar(&c.ClaimAhead, "claim-ahead", c.ClaimAhead, "jobs claimed beyond one per resize actor (shown as processing, waiting for a free one); 0: none")
	fs.IntVar(&c.MaxFiles, "max-files", c.MaxFiles, "files per batch")
	fs.Var((*byteSize)(&c.MaxFileSize), "max-file-size", "bytes per file (e.g. 32MiB)")
	fs.Var((*byteSize)(&c.MaxBody), "max-body", "bytes per request body (e.g. 1GiB)")
	fs.Int64Var(&c.MaxPixels, "max-pixels", c.MaxPixels, "pixels per image, read from its header before decoding")
	fs.Var((*byteSize)(&c.MaxDecodeMemory), "max-decode-memory", "memory the resizes under way may hold at once, each counted from its header before decoding (pixels, decoder copies, resize and encode buffers); an image needing more runs alone (e.g. 384MiB)")
	fs.IntVar(&c.MaxQueued, "max-queued", c.MaxQueued, "images waiting or running before uploads get 503 queue_full (0: no bound)")
	fs.Var((*byteSize)(&c.MinFreeDisk), "min-free-disk", "free space the data directory's file system keeps: uploads that would use it get 507 insufficient_storage (judged before reading and every MiB written), and /readyz fails below it (e.g. 256MiB; 0: none)")
	fs.StringVar(&c.CORSOrigins, "cors-origins", c.CORSOrigins, "origins allowed to call the API from browsers (comma-separated, or *); empty: CORS off")
	fs.IntVar(&c.Attempts, "attempts", c.Attempts, "attempts per image")
	fs.StringVar(&c.Token, "token", c.Token, "API token (Authorization: Bearer, or ?token=); empty: none")
	fs.DurationVar(&c.ResizeTimeout, "resize-timeout", c.ResizeTimeout, "time limit of one resize attempt")
	fs.IntVar(&c.ResizeNice, "resize-nice", c.ResizeNice, "nice value (0..19) of the threads that resize (Linux): uploads, the store and event streams come first when the CPUs are full; 0: same priority")
	fs.DurationVar(&c.RetryBackoff, "retry-backoff", c.RetryBackoff, "wait before retrying a transient failure, doubled each time")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", c.ShutdownGrace, "how long in-flight resizes may finish on SIGTERM")
	fs.DurationVar(&c.SSEPing, "sse-ping", c.SSEPing, "idle time before a ': ping' on an event stream")
	fs.DurationVar(&c.Retention, "retention", c.Retention, "delete finished batches (metadata, events, files) this long after done; 0 keeps them")
	fs.DurationVar(&c.HeaderTimeout, "header-timeout", c.HeaderTimeout, "time a client has to send a request's line and headers (408 after it)")
	fs.DurationVar(&c.BodyIdleTimeout, "body-idle-timeout", c.BodyIdleTimeout, "longest silence allowed inside a request body (408 after it); slow but steady uploads are fine")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout, "a keep-alive connection idle this long between requests is closed")
	fs.DurationVar(&c.WriteStall, "write-stall", c.WriteStall, "a response write (an event stream's too) blocked this long by a client that does not read ends the connection")
	fs.IntVar(&c.MaxConns, "max-conns", c.MaxConns, "open connections; over it a connection gets 503 and is closed (0: RLIMIT_NOFILE less a reserve for files and the store)")
	fs.BoolVar(&c.Pprof, "pprof", c.Pprof, "serve Go's profiler at /debug/pprof/ (for profiling under load)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json")
	return fs
}

// EnvName is the environment variable of a flag.
func EnvName(flagName string) string {
	return "BACKLOT_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse fills c from env (getenv) and then args.
func (c *Config) Parse(args []string, getenv func(string) string) error {
	fs := c.flagSet()
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(EnvName(f.Name)); v != "" && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%s=%q: %w", EnvName(f.Name), v, err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return c.Validate()
}

// Validate checks every field once, naming the flag at fault.
func (c *Config) Validate() error {
	var errs []error
	check := func(ok bool, format string, a ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, a...))
		}
	}
	check(c.Listen != "", "-listen is empty")
	check(c.DataDir != "", "-data is empty")
	c.validateBlobs(check)
	check(c.NodeID != "" && !strings.ContainsAny(c.NodeID, " \t\r\n{}"), "-node-id must be non-empty without spaces or braces, not %q", c.NodeID)
	check(c.RedisPrefix != "" && !strings.ContainsAny(c.RedisPrefix, " \t\r\n{}"), "-redis-prefix must be non-empty without spaces or braces, not %q", c.RedisPrefix)
	if c.Redis != "" {
		ok := strings.HasPrefix(c.Redis, "redis://") || strings.HasPrefix(c.Redis, "rediss://") || strings.HasPrefix(c.Redis, "unix://") || redis.IsSentinelURL(c.Redis)
		check(ok, "-redis must be a redis://, rediss://, unix://, redis-sentinel:// or rediss-sentinel:// URL, not %q", c.redisRedacted())
		if ok {
			err := redis.ValidateURL(c.Redis)
			check(err == nil, "-redis: %v", err)
		}
	}
	check(c.RedisWait >= -1, "-redis-wait-replicas must be -1 (by URL), 0 (off) or more, not %d", c.RedisWait)
	check(c.RedisWaitFor >= time.Millisecond, "-redis-wait-timeout must be at least 1ms, not %s", c.RedisWaitFor)
	c.validateCluster(check)
	check(c.LeaseTTL == 0 || c.LeaseTTL >= 30*time.Millisecond, "-lease-ttl must be 0 or at least 30ms, not %s", c.LeaseTTL)
	check(c.Workers >= 1 && c.Workers <= 1024, "-workers must be 1..1024, not %d", c.Workers)
	check(c.ClaimAhead >= 0 && c.ClaimAhead <= 1024, "-claim-ahead must be 0..1024, not %d", c.ClaimAhead)
	check(c.MaxFiles >= 1, "-max-files must be at least 1, not %d", c.MaxFiles)
	check(c.MaxFileSize >= 1, "-max-file-size must be positive")
	check(c.MaxBody >= 1, "-max-body must be positive")
	check(c.MaxPixels >= 1, "-max-pixels must be positive")
	check(c.MaxDecodeMemory >= 1, "-max-decode-memory must be positive")
	check(c.MaxQueued >= 0, "-max-queued must not be negative")
	check(c.MinFreeDisk >= 0, "-min-free-disk must not be negative")
	check(c.Attempts >= 1 && c.Attempts <= 100, "-attempts must be 1..100, not %d", c.Attempts)
	check(c.ResizeTimeout > 0, "-resize-timeout must be positive")
	check(c.ResizeNice >= 0 && c.ResizeNice <= 19, "-resize-nice must be 0..19, not %d", c.ResizeNice)
	check(c.RetryBackoff > 0, "-retry-backoff must be positive")
	check(c.ShutdownGrace > 0, "-shutdown-grace must be positive")
	check(c.SSEPing > 0, "-sse-ping must be positive")
	check(c.Retention >= 0, "-retention must not be negative")
	check(c.HeaderTimeout > 0, "-header-timeout must be positive")
	check(c.BodyIdleTimeout > 0, "-body-idle-timeout must be positive")
	check(c.IdleTimeout > 0, "-idle-timeout must be positive")
	check(c.WriteStall > 0, "-write-stall must be positive")
	check(c.MaxConns >= 0, "-max-conns must not be negative")
	_, err := parseLevel(c.LogLevel)
	check(err == nil, "-log-level: %v", err)
	check(c.LogFormat == "text" || c.LogFormat == "json", "-log-format must be text or json, not %q", c.LogFormat)
	return errors.Join(errs...)
}

// LogValue logs the effective configuration, without the token.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("listen", c.Listen), slog.String("data", c.DataDir),
		slog.String("blobs", c.blobsName()), slog.String("s3_endpoint", c.S3Endpoint), slog.String("s3_region", c.S3Region), slog.Bool("s3_path_style", c.S3PathStyle), slog.Duration("s3_presign", c.S3Presign),
		slog.String("store", c.storeName()), slog.Int("redis_wait_replicas", c.waitReplicas()), slog.Duration("redis_wait_timeout", c.RedisWaitFor),
		slog.String("node_id", c.NodeID),
		slog.String("cluster_listen", c.ClusterListen), slog.Any("peers", c.PeerList()), slog.Duration("lease_ttl", c.leaseTTL()),
		slog.Int("workers", c.Workers), slog.Int("claim_ahead", c.ClaimAhead), slog.Int("max_files", c.MaxFiles),
		slog.Int64("max_file_size", c.MaxFileSize), slog.Int64("max_body", c.MaxBody),
		slog.Int64("max_pixels", c.MaxPixels), slog.Int64("max_decode_memory", c.MaxDecodeMemory), slog.Int("max_queued", c.MaxQueued), slog.Int64("min_free_disk", c.MinFreeDisk), slog.Int("attempts", c.Attempts),
		slog.String("cors_origins", c.CORSOrigins),
		slog.Bool("token_set", c.Token != ""), slog.Duration("resize_timeout", c.ResizeTimeout), slog.Int("resize_nice", c.ResizeNice),
		slog.Duration("retry_backoff", c.RetryBackoff), slog.Duration("shutdown_grace", c.ShutdownGrace),
		slog.Duration("sse_ping", c.SSEPing), slog.Duration("retention", c.Retention),
		slog.Duration("header_timeout", c.HeaderTimeout), slog.Duration("body_idle_timeout", c.BodyIdleTimeout),
		slog.Duration("idle_timeout", c.IdleTimeout), slog.Duration("write_stall", c.WriteStall), slog.Int("max_conns", c.MaxConns),
	)
}

// S3Blobs is -blobs s3://BUCKET/PREFIX taken apart; ok is false for the
// file system (an empty -blobs).
func (c Config) S3Blobs() (bucket, prefix string, ok bool, err error) {
	if c.Blobs == "" {
		return "", "", false, nil
	}
	u, err := url.Parse(c.Blobs)
	if err != nil || u.Scheme != "s3" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", "", false, fmt.Errorf("-blobs must be empty (files under -data) or s3://BUCKET/PREFIX, not %q", c.Blobs)
	}
	prefix = strings.Trim(u.Path, "/")
	if prefix != "" && !blob.ValidKey(prefix) {
		return "", "", false, fmt.Errorf("-blobs %q: the prefix %q is not a valid key prefix", c.Blobs, prefix)
	}
	return u.Host, prefix, true, nil
}

// S3Endpoint is -s3-endpoint as host:port and whether it speaks HTTPS.
func (c Config) s3Endpoint() (host string, secure bool, err error) {
	e := c.S3Endpoint
	switch {
	case strings.HasPrefix(e, "http://"):
		host, secure = strings.TrimPrefix(e, "http://"), false
	case strings.HasPrefix(e, "https://"):
		host, secure = strings.TrimPrefix(e, "https://"), true
	case strings.Contains(e, "://"):
		return "", false, fmt.Errorf("-s3-endpoint must be host[:port], http://host[:port] or https://host[:port], not %q", e)
	default:
		host, secure = e, true
	}
	host = strings.TrimSuffix(host, "/")
	if host == "" || strings.ContainsAny(host, "/?# ") {
		return "", false, fmt.Errorf("-s3-endpoint must be host[:port], http://host[:port] or https://host[:port], not %q", e)
	}
	return host, secure, nil
}

// validateBlobs: -blobs is empty or s3://BUCKET/PREFIX, and the S3 flags
// go with the latter.
func (c *Config) validateBlobs(check func(bool, string, ...any)) {
	_, _, s3, err := c.S3Blobs()
	check(err == nil, "%v", err)
	if err != nil {
		return
	}
	if !s3 {
		check(c.S3Endpoint == "", "-s3-endpoint needs -blobs s3://BUCKET/PREFIX")
		check(c.S3Presign == 0, "-s3-presign needs -blobs s3://BUCKET/PREFIX")
		return
	}
	check(c.S3Endpoint != "", "-blobs %s needs -s3-endpoint (the S3 API's host[:port])", c.Blobs)
	check(c.S3Presign == 0 || (c.S3Presign >= time.Second && c.S3Presign <= 7*24*time.Hour), "-s3-presign must be 0 (off) or from 1s to 168h (S3's limit), not %s", c.S3Presign)
	if c.S3Endpoint != "" {
		_, _, err := c.s3Endpoint()
		check(err == nil, "%v", err)
	}
}

// blobsName is where the bytes live, for the log.
func (c Config) blobsName() string {
	if c.Blobs == "" {
		return "files under " + c.DataDir
	}
	return c.Blobs
}

// validateCluster: a cluster shares its batches, queue and events through
// Redis (the embedded store is one node's), and its addresses are
// advertised as given.
func (c *Config) validateCluster(check func(bool, string, ...any)) {
	if c.ClusterListen == "" {
		check(c.Peers == "", "-peers needs -cluster-listen")
		return
	}
	check(c.Redis != "", "-cluster-listen needs -redis: a cluster shares its batches, queue and events through Redis")
	err := cluster.ValidateAddr(c.ClusterListen)
	check(err == nil, "-cluster-listen: %v", err)
	check(!strings.Contains(c.NodeID, "/"), "-node-id must not contain / in a cluster, not %q", c.NodeID)
	for _, p := range c.PeerList() {
		err := cluster.ValidateAddr(p)
		check(err == nil, "-peers: %v", err)
	}
}

// PeerList is Peers split at commas, blanks dropped.
func (c Config) PeerList() []string {
	var out []string
	for _, p := range strings.Split(c.Peers, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(s))
	return l, err
}

// byteSize is a flag for sizes: 1048576, 512KiB, 32MiB, 1GiB, 5MB.
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *byteSize) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	*b = byteSize(n)
	return nil
}

func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mul    int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mul := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mul = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mul
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mul {
		return 0, fmt.Errorf("%q is not a size (e.g. 32MiB)", s)
	}
	return n * mul, nil
}

// storeName says which backend the configuration selects, for logs; the
// Redis URL is shown without its passwords.
func (c Config) storeName() string {
	if c.Redis == "" {
		return "embedded"
	}
	return "redis " + c.redisRedacted()
}

// redisRedacted is the Redis URL with its passwords (the user-info's and
// the query's password and sentinel_password) replaced by xxxxx, or a
// placeholder when it does not parse.
func (c Config) redisRedacted() string {
	u, err := url.Parse(c.Redis)
	if err != nil {
		return "(a URL that does not parse)"
	}
	q := u.Query()
	for _, k := range []string{"password", "sentinel_password"} {
		if q.Has(k) {
			q.Set(k, "xxxxx")
		}
	}
	u.RawQuery = q.Encode()
	return u.Redacted()
}

// waitReplicas is -redis-wait-replicas with -1 resolved by the URL: 1
// behind Sentinel, where a failover is expected, 0 otherwise.
func (c Config) waitReplicas() int {
	if c.RedisWait >= 0 {
		return c.RedisWait
	}
	if redis.IsSentinelURL(c.Redis) {
		return 1
	}
	return 0
}

// defaultNodeID is the host name: stable across restarts of this node,
// which lets a restarted node take back its in-flight work at once.
func defaultNodeID() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "node-1"
	}
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '{' || r == '}' {
			return '-'
		}
		return r
	}, h)
}

// clusterLeaseTTL is the lease of a clustered node unless -lease-ttl says
// otherwise: short, so that a killed member's claimed jobs are taken over
// within ~6 s (expiry plus up to half a TTL until a survivor reaps).
const clusterLeaseTTL = 4 * time.Second

// leaseTTL is the Redis lease to use; 0 lets the store take its default.
func (c *Config) leaseTTL() time.Duration {
	if c.LeaseTTL == 0 && c.ClusterListen != "" {
		return clusterLeaseTTL
	}
	return c.LeaseTTL
}
