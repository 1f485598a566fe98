package actors

import (
	"cmp"
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
	Store   persistence.Store // required
	Blobs   blob.Store        // required: sources and results
	Workers int               // resizer actors (default: number of CPUs)
	// ClaimAhead: jobs claimed beyond one per resizer, so a resizer never
	// idles through a claim and its commit (default Workers; <0: none).
	ClaimAhead  int
	MaxAttempts int           // per image (default 3); an attempt cut by a crash counts
	Limits      resize.Limits // of one attempt; nil Budget: DefaultMaxDecodeMemory, Workers slots
	// RetryBackoff: the wait before the second attempt, doubled for each
	// further one, capped at 32× (default 1 s).
	RetryBackoff     time.Duration
	SubscriberBuffer int // undelivered chunks before a subscriber is cut off (64)
	Logger           *slog.Logger
	Observer         Observer      // metrics; default: none
	Cluster          *cluster.Node // the node's engine and members; nil: a cluster of one
	// HeldTimeout: a claimed job not at a resizer with no word from its
	// supervisor this long is sent to the batch's owner again (10 s).
	HeldTimeout      time.Duration
	SubscribeTimeout time.Duration // unanswered this long, a subscriber asks again (2 s)
}

func (c *Config) defaults() error {
	if c.Store == nil || c.Blobs == nil {
		return errors.New("actors: Config needs a Store and Blobs")
	}
	c.Workers = cmp.Or(max(c.Workers, 0), runtime.NumCPU())
	if c.Limits.Budget == nil {
		c.Limits.Budget = resize.NewBudget(resize.DefaultMaxDecodeMemory, c.Workers)
	}
	c.ClaimAhead = max(cmp.Or(c.ClaimAhead, c.Workers), 0)
	c.MaxAttempts = cmp.Or(max(c.MaxAttempts, 0), persistence.DefaultMaxAttempts)
	c.RetryBackoff = cmp.Or(max(c.RetryBackoff, 0), persistence.DefaultRetryBackoff)
	c.SubscriberBuffer = cmp.Or(max(c.SubscriberBuffer, 0), 64)
	c.HeldTimeout = cmp.Or(max(c.HeldTimeout, 0), 10*time.Second)
	c.SubscribeTimeout = cmp.Or(max(c.SubscribeTimeout, 0), 2*time.Second)
	c.Logger = cmp.Or(c.Logger, slog.New(slog.DiscardHandler))
	c.Observer = cmp.Or[Observer](c.Observer, nopObserver{})
	return nil
}

// backoff is the wait after the failed attempt n (1-based).
func (c *Config) backoff(n int) time.Duration {
	return c.RetryBackoff << (min(n, 6) - 1)
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
}

// Start builds the engine (or takes the cluster node's) and spawns the
// manager and the pool, which starts claiming. That is all recovery
// needs: every unfinished batch has a job in the queue, and the first
// one claimed brings its supervisor up.
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

// Budget bounds the resizers' decodes (Config.Limits.Budget).
func (s *System) Budget() *resize.Budget { return s.cfg.Limits.Budget }

// Subscribers is the number of live subscriber actors.
func (s *System) Subscribers() int64 { return s.subscribers.Load() }

// Drain stops claiming and waits until every resizer is idle or ctx ends.
// Work claimed but not finished is redelivered after a restart.
func (s *System) Drain(ctx context.Context) error {
	s.engine.Send(s.pool, drain{})
	select {
	case <-s.drained:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("drain: %w", ctx.Err())
	}
}

// Stop stops the pool, then the manager with its supervisors, within ctx.
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

// Subscribe spawns a subscriber actor for batchID: every event after seq
// `after`, then live ones, until done. Close it when the connection ends.
func (s *System) Subscribe(batchID string, after uint64) *Subscription {
	sub := &Subscription{sys: s, ch: make(chan *Chunk, s.cfg.SubscriberBuffer)}
	s.subscribers.Add(1)
	sub.pid = s.engine.Spawn(newSubscriber(s, batchID, after, sub), "subscriber", actor.WithInboxSize(subscriberInbox))
	s.subs.Store(sub.pid, struct{}{})
	return sub
}
