package cluster

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anthdm/hollywood/actor"
	"github.com/anthdm/hollywood/remote"
)

// Defaults of Config.
const (
	DefaultHeartbeatEvery = time.Second
	DefaultMemberTimeout  = 5 * time.Second
)

// Config is what a node needs to join the cluster; zero durations take
// the defaults.
type Config struct {
	ID     string   // --node-id: unique among the members, without "/" or spaces
	Listen string   // --cluster-listen: host:port, the address members dial as given
	Peers  []string // --peers: bootstrap addresses; any reachable one suffices, Listen may be one
	// HeartbeatEvery: how often this node handshakes every member and
	// retries absent peers. MemberTimeout drops a member not heard from
	// for that long (a stalled process; a broken connection drops it at
	// once).
	HeartbeatEvery, MemberTimeout time.Duration
	Logger                        *slog.Logger
}

func (c *Config) defaults() error {
	if err := ValidateAddr(c.Listen); err != nil {
		return fmt.Errorf("cluster listen address: %w", err)
	}
	if c.ID == "" || strings.ContainsAny(c.ID, "/ \t\r\n") {
		return fmt.Errorf("cluster node id %q: must be non-empty, without / or spaces", c.ID)
	}
	for _, p := range c.Peers {
		if err := ValidateAddr(p); err != nil {
			return fmt.Errorf("cluster peer %q: %w", p, err)
		}
	}
	c.HeartbeatEvery = cmp.Or(max(c.HeartbeatEvery, 0), DefaultHeartbeatEvery)
	c.MemberTimeout = cmp.Or(max(c.MemberTimeout, 0), DefaultMemberTimeout)
	c.Logger = cmp.Or(c.Logger, slog.New(slog.DiscardHandler))
	return nil
}

// ValidateAddr checks a cluster address: host:port with a host other
// members can dial (not empty, not 0.0.0.0 or ::) and a port from 1 to
// 65535. The address is advertised as given, so :0 cannot work.
func ValidateAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	if host == "" {
		return fmt.Errorf("%q has no host; peers dial this address as given", addr)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return fmt.Errorf("%q is unspecified; give an address peers can dial", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port must be 1..65535", addr)
	}
	return nil
}

// lateStart makes the engine's start of the remote a no-op, so Start
// starts it after NewEngine returns: v1.0.5 starts it before creating the
// event stream, and a peer's message in between raced with that write.
type lateStart struct{ *remote.Remote }

func (lateStart) Start(*actor.Engine) error { return nil }

// Member is a node of the cluster as this node sees it.
type Member struct {
	ID   string `json:"id"`
	Addr string `json:"addr"`
}

// Node is this process in the cluster: an engine with a remote on
// Config.Listen and the membership actor (members.go).
type Node struct {
	cfg     Config
	remote  *remote.Remote
	engine  *actor.Engine
	pid     *actor.PID
	members atomic.Pointer[[]Member] // sorted by id, this node included
	mu      sync.Mutex               // orders set and OnChange's calls
	notify  func([]Member)
}

// Start listens on cfg.Listen and starts handshaking the peers, without
// waiting for them.
func Start(cfg Config) (*Node, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	r := remote.New(cfg.Listen, remote.NewConfig())
	e, err := actor.NewEngine(actor.NewEngineConfig().WithRemote(lateStart{r}))
	if err != nil {
		return nil, fmt.Errorf("actor engine: %w", err)
	}
	if err := r.Start(e); err != nil {
		return nil, fmt.Errorf("cluster remote on %s: %w", cfg.Listen, err)
	}
	n := &Node{cfg: cfg, remote: r, engine: e}
	n.set(nil)
	n.pid = e.Spawn(newMembership(n), membersKind, actor.WithID(membersID))
	cfg.Logger.Info("cluster started", "node_id", cfg.ID, "cluster_listen", cfg.Listen, "peers", cfg.Peers)
	return n, nil
}

// set publishes the members other than this node.
func (n *Node) set(others []Member) {
	ms := append([]Member{{ID: n.cfg.ID, Addr: n.cfg.Listen}}, others...)
	slices.SortFunc(ms, func(a, b Member) int { return cmp.Compare(a.ID, b.ID) })
	n.mu.Lock()
	defer n.mu.Unlock()
	n.members.Store(&ms)
	if n.notify != nil {
		n.notify(ms)
	}
}

// OnChange calls f with the members now and after each change, in order,
// from the membership actor: f must not block. Nil stops the calls.
func (n *Node) OnChange(f func([]Member)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.notify = f
	if f != nil {
		f(*n.members.Load())
	}
}

// Engine is the engine the remote serves.
func (n *Node) Engine() *actor.Engine { return n.engine }

// Members are the members this node sees, itself included, by id.
func (n *Node) Members() []Member { return *n.members.Load() }

// Stop tells the members this node leaves and stops the listener (v1.0.5
// cannot close the connections it opened before the process exits).
func (n *Node) Stop() error {
	<-n.engine.Poison(n.pid).Done()
	wg := n.remote.Stop()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("cluster remote did not stop within 10s")
	}
}
