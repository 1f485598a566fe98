package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anthdm/hollywood/actor"

	"github.com/backlot/backlot/actors/cluster"
	"github.com/backlot/backlot/actors/resize"
	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/blob"
)

// Config is what the actors need. Zero values take the documented defaults.
type Config struct {
	Store persistence.Store // required
	Blobs blob.Store        // required: the sources and results (blob.SourceKey, blob.OutputKey)
	// Workers is the number of resizer actors (default: number of CPUs).
	Workers int
	// ClaimAhead is how many jobs the pool claims beyond one per resizer:
	// each is recorded as processing and waits at the pool for the next
	// free resizer, so a resizer never idles through a claim and a commit
	// (about +17 % images/s for 640x480 on 2 cores). Default (0): Workers;
	// negative: none, a job is claimed only when a resizer is free.
	ClaimAhead int
	// MaxAttempts per image (default 3). A transient failure is retried
	// until then; an attempt cut by a crash counts too.
	MaxAttempts int
	// Limits for one attempt (pixels from the header, time). A nil
	// Limits.Budget gets one of resize.DefaultMaxDecodeMemory bytes and
	// Workers slots: the resizers' decodes, timed-out ones still running
	// included, never number more than Workers nor hold more than its
	// bytes.
	Limits resize.Limits
	// RetryBackoff is the wait before the second attempt, doubled for each
	// further one and capped at 32× (default 1s).
	RetryBackoff time.Duration
	// SubscriberBuffer is how many undelivered chunks a subscriber may hold
	// before it is cut off (default 64).
	SubscriberBuffer int
	Logger           *slog.Logger
	Observer         Observer // metrics; default: none
	// Cluster, when set, makes this system a member of a cluster: the
	// actors live on the node's engine and the members are the cluster's
	// (members.go). Nil: a cluster of one, this node, on an engine of its
	// own without remoting. The actors run the same code either way.
	Cluster *cluster.Node
	// HeldTimeout: a job this node's pool claimed that is not
	// at one of its resizers and has had no word from its supervisor (Work
	// or Settle) for this long is sent again to the batch's owner: the
	// claim or the outcome was lost (a dead letter, a supervisor gone).
	// Default 10 s; message hops take milliseconds, and a duplicate only
	// costs an extra attempt.
	HeldTimeout time.Duration
	// SubscribeTimeout: a subscriber that got no Delivery this
	// long after it subscribed subscribes again (its Subscribe or the
	// answer was lost). Default 2 s; a repeat is harmless (by seq).
	SubscribeTimeout time.Duration
}

func (c *Config) defaults() error {
	if c.Store == nil || c.Blobs == nil {
		return errors.New("actors: Config needs a Store and Blobs")
	}
	if c.Workers <= 0 {
		c.Workers = runtime.NumCPU()
	}
	if c.Limits.Budget == nil {
		c.Limits.Budget = resize.NewBudget(resize.DefaultMaxDecodeMemory, c.Workers)
	}
	switch {
	case c.ClaimAhead == 0:
		c.ClaimAhead = c.Workers
	case c.ClaimAhead < 0:
		c.ClaimAhead = 0
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = persistence.DefaultMaxAttempts
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = persistence.DefaultRetryBackoff
	}
	if c.SubscriberBuffer <= 0 {
		c.SubscriberBuffer = 64
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	if c.HeldTimeout <= 0 {
		c.HeldTimeout = 10 * time.Second
	}
	if c.SubscribeTimeout <= 0 {
		c.SubscribeTimeout = 2 * time.Second
	}
	return nil
}

// backoff is the wait after the failed attempt n (1-based).
func (c *Config) backoff(n int) time.Duration {
	if n > 6 {
		n = 6
	}
	return c.RetryBackoff << (n - 1)
}

// System is a running actor engine with its manager and pool.
type System struct {
	cfg     Config
	engine  *actor.Engine
	manager *actor.PID
	pool    *actor.PID
	drained chan struct{} // closed by the pool once draining and idle

	subscribers atomic.Int64 // live subscriber actors
	subs        sync.Map     // *actor.PID of each live subscriber (tellMembers)

	members atomic.Pointer[[]string] // sorted member addresses (nil: this node alone)
	heardAt sync.Map                 // address → when a message last came from it (reachable)
}

// Start builds the engine (or takes the cluster node's), spawns the
// manager and the pool, which starts claiming. Nothing else is needed to
// recover from a crash: every unfinished batch has a job in the queue
// (pending, or in flight and redelivered), and the first one claimed
// brings the batch's supervisor up.
func Start(ctx context.Context, cfg Config) (*System, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	var e *actor.Engine
	if cfg.Cluster != nil {
		e = cfg.Cluster.Engine()
	} else {
		var err error
		if e, err = actor.NewEngine(actor.NewEngineConfig()); err != nil {
			return nil, fmt.Errorf("actor engine: %w", err)
		}
	}
	s := &System{cfg: cfg, engine: e, drained: make(chan struct{})}
	s.manager = e.Spawn(newManager(s), "manager", actor.WithID("node"))
	s.pool = e.Spawn(newPool(s), "pool", actor.WithID("node"))
	if cfg.Cluster != nil {
		cfg.Cluster.OnChange(s.setMembers)
	}
	return s, nil
}

// Budget is what bounds the resizers' decodes (Config.Limits.Budget):
// its slots and bytes, and what they hold now.
func (s *System) Budget() *resize.Budget { return s.cfg.Limits.Budget }

// Subscribers is the number of live subscriber actors.
func (s *System) Subscribers() int64 { return s.subscribers.Load() }

// Drain stops claiming new work and waits until every resizer is idle or
// ctx ends. Work claimed but not finished stays in flight in the store and
// is redone after a restart.
func (s *System) Drain(ctx context.Context) error {
	s.engine.Send(s.pool, drain{})
	select {
	case <-s.drained:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("drain: %w", ctx.Err())
	}
}

// Stop stops the pool, then the manager with its supervisors (each handles
// what is already in its inbox first), within ctx.
func (s *System) Stop(ctx context.Context) error {
	if s.cfg.Cluster != nil {
		s.cfg.Cluster.OnChange(nil)
	}
	for _, pid := range []*actor.PID{s.pool, s.manager} {
		select {
		case <-s.engine.PoisonCtx(ctx, pid).Done():
		case <-ctx.Done():
			return fmt.Errorf("stop %s: %w", pid, ctx.Err())
		}
	}
	return nil
}

// Subscribe spawns a subscriber actor for batchID that receives every
// event after seq `after`, then live ones, until done. The caller must Close
// the subscription when its connection ends.
func (s *System) Subscribe(batchID string, after uint64) *Subscription {
	sub := &Subscription{sys: s, ch: make(chan *Chunk, s.cfg.SubscriberBuffer)}
	s.subscribers.Add(1)
	sub.pid = s.engine.Spawn(newSubscriber(s, batchID, after, sub), "subscriber", subscriberOpts()...)
	s.subs.Store(sub.pid, struct{}{})
	return sub
}
