package redis

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/backlot/backlot/persistence"
	goredis "github.com/redis/go-redis/v9"
)

// Defaults of Options.
const (
	DefaultURL      = "redis://127.0.0.1:6379/0"
	DefaultPrefix   = "backlot"
	DefaultLeaseTTL = 10 * time.Second
	// DefaultWaitTimeout bounds a WAIT for replicas (Options.WaitTimeout).
	DefaultWaitTimeout = time.Second

	// minLeaseTTL keeps the heartbeat (every TTL/3) above Redis's
	// millisecond expiry resolution with room to spare.
	minLeaseTTL = 30 * time.Millisecond
)

// Options configure Open. The zero value works against a local Redis.
type Options struct {
	// URL is redis://[user:password@]host:port/db (or rediss://, unix://),
	// read by go-redis's ParseURL, so its query parameters apply:
	// dial_timeout, read_timeout, write_timeout, pool_size, pool_timeout …
	// (go-redis defaults otherwise, 5 s each timeout). Two are fixed by this
	// package whatever the URL says; see Open. Default DefaultURL.
	//
	// Or the primary that Redis Sentinel names, through go-redis's failover
	// client: redis-sentinel://[[user]:password@]host:port[,host:port…][/db]?master=NAME
	// (rediss-sentinel:// for TLS), with the Sentinels' own credentials in
	// sentinel_username and sentinel_password and go-redis's query
	// parameters as above (parseSentinelURL).
	URL string
	// WaitReplicas is how many replicas must hold a write before it
	// counts as done: after each write whose loss in a failover would
	// break a promise (Create, Append and AppendFenced, Fence, Delete) the
	// store sends WAIT WaitReplicas WaitTimeout on the connection that
	// wrote, and a write fewer replicas acknowledged in time fails with an
	// error wrapping persistence.ErrUnavailable (doc.go, "Failover").
	// 0 (the default) sends no WAIT: a failover can then lose
	// acknowledged writes.
	WaitReplicas int
	// WaitTimeout bounds each WAIT (go-redis reads its reply for that
	// long plus 10 s, whatever read_timeout says). Default
	// DefaultWaitTimeout.
	WaitTimeout time.Duration
	// Prefix starts every key, so several deployments (or tests) can share
	// one Redis database. It must not contain '{' or '}', which would change
	// the hash tags. Default "backlot".
	Prefix string
	// NodeID names this process in the queue: its in-flight jobs live under
	// it, and its lease says it is alive. It must be unique among live
	// processes sharing the Redis and should be stable across restarts, so
	// a restarted node takes back its own in-flight jobs at once instead of
	// waiting for its lease to expire. Default: the host name (stable for a
	// machine, a container or a StatefulSet pod), or "node-1" when there is
	// none. Set it when one host runs several processes.
	NodeID string
	// LeaseTTL is how long a node may be silent before other nodes requeue
	// its in-flight jobs. The lease is renewed every LeaseTTL/3 and expired
	// leases are looked for every LeaseTTL/2. Default 10 s; at least 30 ms.
	LeaseTTL time.Duration
	// Logger receives heartbeat and reaper trouble (Warn) and recoveries
	// (Info). Default: discard.
	Logger *slog.Logger
}

// Compile-time checks: the contract and the optional interfaces.
var (
	_ persistence.Store      = (*Store)(nil)
	_ persistence.Pinger     = (*Store)(nil)
	_ persistence.QueueStats = (*Store)(nil)
	_ persistence.Fencer     = (*Store)(nil)
)

// Store is a persistence.Store in Redis. It is safe for concurrent use.
// Create it with Open; Close it once.
type Store struct {
	// Immutable after Open.
	rdb      *goredis.Client
	k        keys
	node     string
	ttl      time.Duration
	leaseVal string // who holds the lease, for an operator reading it
	log      *slog.Logger
	waitN    int           // Options.WaitReplicas
	waitFor  time.Duration // Options.WaitTimeout
	sweepGap time.Duration // between two looks for orphans in this node's processing list

	memo persistence.BatchMemo // decoded unfinished batches, by their stored bytes

	// claims counts the jobs (by their stored JSON) this process claimed
	// and has not acked, requeued or handed back: what its processing
	// list should hold. sweepOrphans requeues what it holds beyond that.
	claimsMu sync.Mutex
	claims   map[string]int
	suspects map[string]int // found unclaimed at the last sweep

	closed atomic.Bool // set once by Close
	stop   context.CancelFunc
	bg     sync.WaitGroup // heartbeat and reaper

	// appendMu serialises this process's appends per batch (striped by id):
	// the optimistic WATCH loop then only ever contends with other nodes,
	// instead of burning round trips against our own goroutines.
	appendMu [64]sync.Mutex
}

// keys names every key; see doc.go for what each holds.
type keys struct {
	prefix     string
	pending    string
	processing string // this node's
	lease      string // this node's
	nodes      string
	unfinished string
	done       string
}

func newKeys(prefix, node string) keys {
	return keys{
		prefix:     prefix,
		pending:    prefix + ":pending",
		processing: processingKey(prefix, node),
		lease:      leaseKey(prefix, node),
		nodes:      prefix + ":nodes",
		unfinished: prefix + ":unfinished",
		done:       prefix + ":done",
	}
}

// The per-batch keys carry the id as a hash tag, {id}, so that under Redis
// Cluster a batch and its log share a slot.
func (k keys) batch(id string) string  { return k.prefix + ":batch:{" + id + "}" }
func (k keys) events(id string) string { return k.prefix + ":events:{" + id + "}" }
func (k keys) fence(id string) string  { return k.prefix + ":fence:{" + id + "}" }

func processingKey(prefix, node string) string { return prefix + ":processing:" + node }
func leaseKey(prefix, node string) string      { return prefix + ":lease:" + node }

// Open connects to Redis, checks that it answers (an error wrapping
// persistence.ErrUnavailable if not), registers this node (its lease, its
// name in the node set) and moves the jobs it had in flight when it last
// stopped back to the front of the pending queue. It then renews the lease
// and reaps dead nodes' jobs in the background until Close.
//
// Two go-redis settings are fixed whatever the URL says. Command retries are
// off: a MULTI/EXEC re-sent on a fresh connection would run without its
// WATCH and could append events twice; callers retry on ErrUnavailable.
// ContextTimeoutEnabled is off: a ctx ending must never cut a BLMOVE off
// mid-reply, which could leave a job moved to this node but unseen; Claim
// looks at its ctx between waits of claimBlock instead.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.URL == "" {
		o.URL = DefaultURL
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.NodeID == "" {
		o.NodeID = defaultNodeID()
	}
	if o.LeaseTTL == 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.WaitTimeout == 0 {
		o.WaitTimeout = DefaultWaitTimeout
	}
	switch {
	case strings.ContainsAny(o.Prefix, "{}"):
		return nil, fmt.Errorf("open redis store: prefix %q: '{' and '}' are reserved for hash tags", o.Prefix)
	case strings.ContainsAny(o.NodeID, "{} \t\r\n"):
		return nil, fmt.Errorf("open redis store: node id %q: no braces or white space", o.NodeID)
	case o.LeaseTTL < minLeaseTTL:
		return nil, fmt.Errorf("open redis store: lease TTL %s is below the minimum %s", o.LeaseTTL, minLeaseTTL)
	case o.WaitReplicas < 0:
		return nil, fmt.Errorf("open redis store: %d replicas to wait for", o.WaitReplicas)
	case o.WaitTimeout < time.Millisecond:
		return nil, fmt.Errorf("open redis store: wait timeout %s is below a millisecond (WAIT counts in milliseconds; 0 would wait for ever)", o.WaitTimeout)
	}
	cl, err := newClient(o.URL)
	if err != nil {
		return nil, fmt.Errorf("open redis store: %w", err)
	}
	where := cl.where // no credentials in errors or logs

	s := &Store{
		rdb:      cl.rdb,
		k:        newKeys(o.Prefix, o.NodeID),
		node:     o.NodeID,
		ttl:      o.LeaseTTL,
		leaseVal: leaseValue(),
		log:      o.Logger.With("node_id", o.NodeID, "redis", cl.addr),
		waitN:    o.WaitReplicas,
		waitFor:  o.WaitTimeout,
		sweepGap: max(o.LeaseTTL/2, minSweepGap),
		claims:   map[string]int{},
		suspects: map[string]int{},
	}
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		s.rdb.Close()
		return nil, fmt.Errorf("open redis store: %s does not answer: %w", where, classify(err))
	}
	s.checkEviction(ctx)
	s.checkReplicas(ctx, cl.sentinel)
	n, err := s.register(ctx)
	if err != nil {
		s.rdb.Close()
		return nil, fmt.Errorf("open redis store on %s: register node %s: %w", where, o.NodeID, classify(err))
	}
	if n > 0 {
		s.log.Info("redelivering jobs this node had in flight", "jobs", n)
	}
	bg, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.bg.Go(func() { s.heartbeat(bg) })
	s.bg.Go(func() { s.reaper(bg) })
	s.bg.Go(func() { s.sweeper(bg) })
	return s, nil
}

// defaultNodeID is the host name, which survives a restart of the process.
func defaultNodeID() string {
	h, err := os.Hostname()
	if err != nil || h == "" || strings.ContainsAny(h, "{} \t\r\n") {
		return "node-1"
	}
	return h
}

// checkEviction warns when Redis may evict keys: an evicted batch, log or
// queue entry is data loss that no error reports. A Redis that refuses
// CONFIG (some managed services) is not checked.
func (s *Store) checkEviction(ctx context.Context) {
	cfg, err := s.rdb.ConfigGet(ctx, "maxmemory-policy").Result()
	if err != nil {
		return
	}
	if p := cfg["maxmemory-policy"]; p != "" && p != "noeviction" {
		s.log.Warn("redis may evict keys under memory pressure; Backlot needs maxmemory-policy noeviction", "maxmemory_policy", p)
	}
}

// Close stops the heartbeat and the reaper, closes the connections and wakes
// every blocked Claim, which returns persistence.ErrClosed, as does every
// later call, Close included. It requeues nothing: jobs still in flight stay
// this node's until it opens again (which redelivers them at once) or its
// lease expires and another node's reaper requeues them.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return persistence.ErrClosed
	}
	s.stop()
	err := s.rdb.Close() // breaks in-flight reads, blocked claims included
	s.bg.Wait()
	if err != nil && !errors.Is(err, goredis.ErrClosed) {
		return fmt.Errorf("close redis store: %w", err)
	}
	return nil
}

// Ping reports whether Redis answers; an error wraps
// persistence.ErrUnavailable when it does not.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	return s.fail("ping redis", s.rdb.Ping(ctx).Err())
}

// QueueDepth counts the pending jobs and the jobs in flight on every node
// (the queue is shared, so this node's share alone would mislead a
// dashboard). It costs two round trips and one LLEN per node ever seen.
func (s *Store) QueueDepth(ctx context.Context) (pending, inflight int, err error) {
	if err := s.begin(ctx); err != nil {
		return 0, 0, err
	}
	nodes, err := s.rdb.SMembers(ctx, s.k.nodes).Result()
	if err != nil {
		return 0, 0, s.fail("count queue", err)
	}
	var lens []*goredis.IntCmd
	cmds, err := s.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		p.LLen(ctx, s.k.pending)
		for _, n := range nodes {
			p.LLen(ctx, processingKey(s.k.prefix, n))
		}
		return nil
	})
	if err != nil {
		return 0, 0, s.fail("count queue", err)
	}
	for _, c := range cmds {
		lens = append(lens, c.(*goredis.IntCmd))
	}
	pending = int(lens[0].Val())
	for _, c := range lens[1:] {
		inflight += int(c.Val())
	}
	return pending, inflight, nil
}

// begin is the guard at the top of every method: a closed store or an
// ended ctx stops the call before it reaches Redis.
func (s *Store) begin(ctx context.Context) error {
	if s.closed.Load() {
		return persistence.ErrClosed
	}
	return ctx.Err()
}

// fail wraps an error from go-redis with what was being done and turns it
// into our sentinels: a Close that won the race against begin becomes
// persistence.ErrClosed, a missing key persistence.ErrNotFound, and trouble
// reaching Redis persistence.ErrUnavailable (with the cause kept, so
// errors.Is finds both).
func (s *Store) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	if s.closed.Load() || errors.Is(err, goredis.ErrClosed) {
		return fmt.Errorf("%s: %w", op, persistence.ErrClosed)
	}
	return fmt.Errorf("%s: %w", op, classify(err))
}

// errCorrupt marks data in Redis that does not decode or does not add up
// (say, a log whose length is not the batch's LastSeq): not ours to retry.
var errCorrupt = errors.New("corrupt data in redis")

// classify maps an error met while talking to Redis onto our sentinels,
// keeping it as the cause. Errors that are already ours pass unchanged.
func classify(err error) error {
	switch {
	case ours(err):
		return err
	case errors.Is(err, goredis.Nil):
		return persistence.ErrNotFound
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err // the caller's own ctx: not the store's fault
	case unavailable(err):
		return fmt.Errorf("%w: %w", persistence.ErrUnavailable, err)
	default:
		return err
	}
}

// ours reports whether err was made by this package or package persistence
// (a rule of the event log, an existing id, corrupt data), not by go-redis.
func ours(err error) bool {
	for _, target := range []error{
		persistence.ErrNotFound, persistence.ErrExists, persistence.ErrConflict,
		persistence.ErrClosed, persistence.ErrUnavailable, errCorrupt,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// unavailable reports whether err from go-redis means "Redis cannot serve
// this now; try again later". A reply from the server is about our request,
// except the few that describe the server's state. Anything that is not a
// reply (a refused dial, a reset or closed connection, a timeout, an
// exhausted pool: go-redis has many such errors, most unexported) is about
// reaching it.
func unavailable(err error) bool {
	var reply goredis.Error
	if !errors.As(err, &reply) {
		return true
	}
	// EXECABORT: a MULTI whose queued writes a replica (READONLY) or a
	// full server (OOM) refused; our transactions hold no malformed command.
	for _, prefix := range []string{"LOADING", "BUSY", "MASTERDOWN", "READONLY", "TRYAGAIN", "CLUSTERDOWN", "OOM", "MISCONF", "NOREPLICAS", "EXECABORT"} {
		if goredis.HasErrorPrefix(err, prefix) {
			return true
		}
	}
	// WAIT sent to a server that a failover has just made a replica.
	return strings.Contains(reply.Error(), "WAIT cannot be used with replica instances")
}

// batchLock returns the mutex that serialises this process's appends to id.
func (s *Store) batchLock(id string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(id))
	return &s.appendMu[h.Sum32()%uint32(len(s.appendMu))]
}
