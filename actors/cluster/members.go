package cluster

import (
	"context"
	"net"
	"time"

	"github.com/anthdm/hollywood/actor"
	hcluster "github.com/anthdm/hollywood/cluster"
)

// The membership actor has one fixed name on every node, so a peer known
// by address alone can be handshaked. It speaks Hollywood's cluster
// messages (Handshake, Members, MembersLeave); Hollywood's cluster agent
// is not used (see the package doc).
const (
	membersKind = "members"
	membersID   = "node"
)

func membersAt(addr string) *actor.PID { return actor.NewPID(addr, membersKind+"/"+membersID) }

// Local messages of the membership actor.
type (
	tick      struct{}
	reachable struct{ addr string } // a TCP dial to addr succeeded
)

// known is a member other than this node, with when it was last heard of.
type known struct {
	m    *hcluster.Member
	seen time.Time
}

// membership owns the member set and publishes each change to its Node;
// probe goroutines only send it messages.
type membership struct {
	n       *Node
	self    *hcluster.Member
	members map[string]*known // by id, without self
	ticker  actor.SendRepeater
	ctx     context.Context // ends the probes when the actor stops
	cancel  context.CancelFunc
}

func newMembership(n *Node) actor.Producer {
	return func() actor.Receiver {
		return &membership{
			n: n, self: &hcluster.Member{ID: n.cfg.ID, Host: n.cfg.Listen},
			members: make(map[string]*known),
		}
	}
}

func (p *membership) Receive(c *actor.Context) {
	switch m := c.Message().(type) {
	case actor.Started:
		p.ctx, p.cancel = context.WithCancel(context.Background())
		c.Engine().Subscribe(c.PID())
		p.ticker = c.SendRepeat(c.PID(), tick{}, p.n.cfg.HeartbeatEvery)
		p.heartbeat(c)
	case tick:
		p.expire()
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
				p.drop(k, "left")
			}
		}
	case reachable:
		c.Send(membersAt(m.addr), &hcluster.Handshake{Member: p.self})
	case actor.RemoteUnreachableEvent:
		for _, k := range p.members {
			if k.m.Host == m.ListenAddr {
				p.drop(k, "connection lost")
			}
		}
	case actor.Stopped:
		p.ticker.Stop()
		p.cancel()
		c.Engine().Unsubscribe(c.PID())
		leave := &hcluster.MembersLeave{Members: []*hcluster.Member{p.self}}
		for _, k := range p.members {
			c.Send(membersAt(k.m.Host), leave)
		}
	}
	// Anything else is an engine event we subscribed to without wanting it.
}

// onHandshake: m says it is alive. A new member is added and told about
// us, and every member gets the new list so each can handshake it.
func (p *membership) onHandshake(c *actor.Context, m *hcluster.Member) {
	if m == nil || m.ID == "" || m.Host == "" {
		return
	}
	if m.ID == p.self.ID {
		if m.Host != p.self.Host {
			p.n.cfg.Logger.Warn("another node uses this node's id; ignoring it", "other_addr", m.Host)
		}
		return
	}
	if k := p.members[m.ID]; k != nil && k.m.Host == m.Host {
		k.seen = time.Now()
		return
	}
	p.members[m.ID] = &known{m: m, seen: time.Now()} // new, or back at another address
	p.n.cfg.Logger.Info("cluster member joined", "member_id", m.ID, "member_addr", m.Host)
	p.publish()
	c.Send(membersAt(m.Host), &hcluster.Handshake{Member: p.self})
	list := &hcluster.Members{Members: []*hcluster.Member{p.self}}
	for _, k := range p.members {
		list.Members = append(list.Members, k.m)
	}
	for _, k := range p.members {
		if k.m.ID != m.ID {
			c.Send(membersAt(k.m.Host), list)
		}
	}
}

// heartbeat handshakes every member and probes the peers not yet members.
func (p *membership) heartbeat(c *actor.Context) {
	hs := &hcluster.Handshake{Member: p.self}
	hosts := map[string]bool{p.self.Host: true}
	for _, k := range p.members {
		c.Send(membersAt(k.m.Host), hs)
		hosts[k.m.Host] = true
	}
	for _, addr := range p.n.cfg.Peers {
		if !hosts[addr] {
			p.probe(c, addr)
		}
	}
}

// expire drops members not heard from within MemberTimeout.
func (p *membership) expire() {
	cut := time.Now().Add(-p.n.cfg.MemberTimeout)
	for _, k := range p.members {
		if k.seen.Before(cut) {
			p.drop(k, "silent for "+p.n.cfg.MemberTimeout.String())
		}
	}
}

// probe dials addr off the actor and, if it answers, handshakes it.
// Sending to an address nobody listens on would stall Hollywood's router
// (see the package doc), so nothing is sent before the dial succeeds.
func (p *membership) probe(c *actor.Context, addr string) {
	if addr == "" || addr == p.self.Host {
		return
	}
	e, self, ctx, timeout := c.Engine(), c.PID(), p.ctx, p.n.cfg.HeartbeatEvery
	go func() {
		d := net.Dialer{Timeout: timeout}
		if conn, err := d.DialContext(ctx, "tcp", addr); err == nil {
			conn.Close()
			e.Send(self, reachable{addr: addr})
		}
	}()
}

func (p *membership) drop(k *known, why string) {
	delete(p.members, k.m.ID)
	p.n.cfg.Logger.Info("cluster member left", "member_id", k.m.ID, "member_addr", k.m.Host, "reason", why)
	p.publish()
}

func (p *membership) publish() {
	var ms []Member
	for _, k := range p.members {
		ms = append(ms, Member{ID: k.m.ID, Addr: k.m.Host})
	}
	p.n.set(ms)
}
