package cluster

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/anthdm/hollywood/actor"
	hcluster "github.com/anthdm/hollywood/cluster"
)

// The door: a fixed-name actor on every node, so a peer known by address
// alone can be handshaked.
const (
	doorKind = "peers"
	doorID   = "door"
)

func doorPID(addr string) *actor.PID { return actor.NewPID(addr, doorKind+"/"+doorID) }

// providerPID is where a member's provider listens; Hollywood's cluster
// spawns it as "provider/<id>".
func providerPID(m *hcluster.Member) *actor.PID { return actor.NewPID(m.Host, "provider/"+m.ID) }

// Local messages of the provider.
type (
	tick      struct{}
	reachable struct{ addr string } // a TCP dial to addr succeeded
	probed    struct{ addr string } // a probe of addr ended (either way)
)

// known is a member other than this node, with when it was last heard of.
type known struct {
	m    *hcluster.Member
	seen time.Time
}

// provider is the membership provider (see the package doc for its rules).
// It owns the member set; probe goroutines only send it messages.
type provider struct {
	cfg     Config
	cl      *hcluster.Cluster
	self    *hcluster.Member
	members map[string]*known // by id, without self
	probing map[string]bool   // addresses being dialled
	door    *actor.PID
	ticker  actor.SendRepeater
	ctx     context.Context // ends the probes when the provider stops
	cancel  context.CancelFunc
	log     *slog.Logger
}

func newProvider(cfg Config) hcluster.Producer {
	return func(cl *hcluster.Cluster) actor.Producer {
		return func() actor.Receiver {
			return &provider{
				cfg: cfg, cl: cl, members: make(map[string]*known), probing: make(map[string]bool),
				log: cfg.Logger.With("node_id", cfg.ID),
			}
		}
	}
}

func (p *provider) Receive(c *actor.Context) {
	switch m := c.Message().(type) {
	case actor.Started:
		p.ctx, p.cancel = context.WithCancel(context.Background())
		p.self = p.cl.Member()
		self := c.PID()
		p.door = c.Engine().Spawn(func() actor.Receiver { return door{provider: self} }, doorKind, actor.WithID(doorID))
		c.Engine().Subscribe(c.PID())
		p.publish(c)
		p.ticker = c.SendRepeat(c.PID(), tick{}, p.cfg.HeartbeatEvery)
		p.heartbeat(c)
	case tick:
		p.expire(c)
		p.heartbeat(c)
	case *hcluster.Handshake:
		p.onHandshake(c, m.GetMember())
	case *hcluster.Members:
		for _, mb := range m.GetMembers() {
			if mb.GetID() != p.self.ID && p.members[mb.GetID()] == nil {
				p.probe(c, mb.GetHost())
			}
		}
	case *hcluster.MembersLeave:
		for _, mb := range m.GetMembers() {
			// only a member's own word counts
			if k := p.members[mb.GetID()]; k != nil && c.Sender() != nil && c.Sender().Address == k.m.Host {
				p.drop(c, k, "left")
			}
		}
	case reachable:
		c.Send(doorPID(m.addr), &hcluster.Handshake{Member: p.self})
	case probed:
		delete(p.probing, m.addr)
	case actor.RemoteUnreachableEvent:
		for _, k := range p.members {
			if k.m.Host == m.ListenAddr {
				p.drop(c, k, "connection lost")
			}
		}
	case actor.Stopped:
		p.ticker.Stop()
		p.cancel()
		c.Engine().Unsubscribe(c.PID())
		c.Engine().Poison(p.door)
		leave := &hcluster.MembersLeave{Members: []*hcluster.Member{p.self}}
		for _, k := range p.members {
			c.Send(providerPID(k.m), leave)
		}
	}
	// Anything else is an engine event we subscribed to without wanting it.
}

// onHandshake: m says it is alive. A new member is added and told about
// us, and every member gets the new list so each can handshake it.
func (p *provider) onHandshake(c *actor.Context, m *hcluster.Member) {
	if m == nil || m.ID == "" || m.Host == "" {
		return
	}
	if m.ID == p.self.ID {
		if m.Host != p.self.Host {
			p.log.Warn("another node uses this node's id; ignoring it", "other_addr", m.Host)
		}
		return
	}
	if k := p.members[m.ID]; k != nil {
		if k.m.Host == m.Host {
			k.seen = time.Now()
			return
		}
		p.drop(c, k, "restarted at another address") // the agent keys members by id: out first, then in again
	}
	p.members[m.ID] = &known{m: m, seen: time.Now()}
	p.log.Info("cluster member joined", "member_id", m.ID, "member_addr", m.Host)
	p.publish(c)
	c.Send(providerPID(m), &hcluster.Handshake{Member: p.self})
	list := &hcluster.Members{Members: p.list()}
	for _, k := range p.members {
		if k.m.ID != m.ID {
			c.Send(providerPID(k.m), list)
		}
	}
}

// heartbeat handshakes every member and probes the peers not yet members.
func (p *provider) heartbeat(c *actor.Context) {
	hs := &hcluster.Handshake{Member: p.self}
	hosts := map[string]bool{p.self.Host: true}
	for _, k := range p.members {
		c.Send(providerPID(k.m), hs)
		hosts[k.m.Host] = true
	}
	for _, addr := range p.cfg.Peers {
		if !hosts[addr] {
			p.probe(c, addr)
		}
	}
}

// expire drops members not heard from within MemberTimeout.
func (p *provider) expire(c *actor.Context) {
	cut := time.Now().Add(-p.cfg.MemberTimeout)
	for _, k := range p.members {
		if k.seen.Before(cut) {
			p.drop(c, k, "silent for "+p.cfg.MemberTimeout.String())
		}
	}
}

// probe dials addr off the actor and, if it answers, handshakes its door.
// Sending to an address nobody listens on would stall Hollywood's router
// (see the package doc), so nothing is sent before the dial succeeds.
func (p *provider) probe(c *actor.Context, addr string) {
	if addr == "" || addr == p.self.Host || p.probing[addr] {
		return
	}
	p.probing[addr] = true
	e, self, ctx, timeout := c.Engine(), c.PID(), p.ctx, p.cfg.HeartbeatEvery
	go func() {
		d := net.Dialer{Timeout: timeout}
		if conn, err := d.DialContext(ctx, "tcp", addr); err == nil {
			conn.Close()
			e.Send(self, reachable{addr: addr})
		}
		e.Send(self, probed{addr: addr})
	}()
}

func (p *provider) drop(c *actor.Context, k *known, why string) {
	delete(p.members, k.m.ID)
	p.log.Info("cluster member left", "member_id", k.m.ID, "member_addr", k.m.Host, "reason", why)
	p.publish(c)
}

// list is every member, this node included.
func (p *provider) list() []*hcluster.Member {
	out := []*hcluster.Member{p.self}
	for _, k := range p.members {
		out = append(out, k.m)
	}
	return out
}

// publish hands the member list to the cluster agent, which tracks
// kinds and activations by it and broadcasts MemberJoinEvent and
// MemberLeaveEvent, as with Hollywood's own providers.
func (p *provider) publish(c *actor.Context) {
	c.Send(p.cl.PID(), &hcluster.Members{Members: p.list()})
}

// door hands what arrives at the well-known name to the provider, keeping
// the sender.
type door struct{ provider *actor.PID }

func (d door) Receive(c *actor.Context) {
	if hs, ok := c.Message().(*hcluster.Handshake); ok {
		c.Engine().SendWithSender(d.provider, hs, c.Sender())
	}
}
