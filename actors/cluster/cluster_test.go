package cluster_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anthdm/hollywood/actor"

	"github.com/backlot/backlot/actors/cluster"
	"github.com/backlot/backlot/actors/clusterpb"
	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/testkit"
)

// Bounds of the waits: deadlock guards on a loaded 2-core machine, not
// speed assertions.
const (
	joinWait = 20 * time.Second
	pollTick = 20 * time.Millisecond
)

// TestMembership: three nodes find each other from their peer lists; one
// stops and the others drop it; a fourth that knows a single peer is seen
// by all.
func TestMembership(t *testing.T) {
	a := start(t, "a")
	b := start(t, "b", a.addr)
	c := start(t, "c", a.addr, b.addr)
	all := []*node{a, b, c}
	waitMembers(t, all, "a", "b", "c")

	c.stop(t)
	waitMembers(t, all[:2], "a", "b")

	d := start(t, "d", b.addr) // knows only b; learns a through it, a learns d
	waitMembers(t, []*node{a, b, d}, "a", "b", "d")
}

// TestPeersStartedLater: a node whose peers are not up yet finds them when
// they come (it keeps probing them), even though they do not list it.
func TestPeersStartedLater(t *testing.T) {
	addrB := freeAddr(t)
	a := start(t, "a", addrB)
	if got := ids(a.Members()); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("alone: %v", got)
	}
	b := startAt(t, "b", addrB)
	waitMembers(t, []*node{a, b}, "a", "b")
}

// TestRemoteDelivery: a clusterpb message sent from one node's engine
// reaches an actor on another's, as a supervisor's delivery will reach a
// subscriber on another node.
func TestRemoteDelivery(t *testing.T) {
	a := start(t, "a")
	b := start(t, "b", a.addr)
	got := make(chan *clusterpb.Delivery, 1)
	sub := b.Engine().SpawnFunc(func(c *actor.Context) {
		if d, ok := c.Message().(*clusterpb.Delivery); ok {
			got <- d
		}
	}, "subscriber")
	ev := persistence.Event{Seq: 7, Type: persistence.EventDone, BatchID: "x", Total: 1, Completed: 1}
	a.Engine().Send(sub, clusterpb.NewDelivery([]persistence.Event{ev}, true, nil))
	select {
	case d := <-got:
		if evs := clusterpb.ToEvents(d.GetEvents()); len(evs) != 1 || !reflect.DeepEqual(evs[0], ev) || !d.GetFinal() {
			t.Fatalf("delivery %v", d)
		}
	case <-time.After(joinWait):
		t.Fatal("no delivery across nodes")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		cfg  cluster.Config
		want string
	}{
		{cluster.Config{ID: "a", Listen: "127.0.0.1:0"}, "port must be"},
		{cluster.Config{ID: "a", Listen: ":7000"}, "no host"},
		{cluster.Config{ID: "a", Listen: "0.0.0.0:7000"}, "unspecified"},
		{cluster.Config{ID: "a/b", Listen: "127.0.0.1:7000"}, "without /"},
		{cluster.Config{ID: "a", Listen: "127.0.0.1:7000", Peers: []string{"nope"}}, "not host:port"},
	} {
		if _, err := cluster.Start(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want %q", tt.cfg, err, tt.want)
		}
	}
}

type node struct {
	*cluster.Node
	addr    string
	stopped bool
}

func (n *node) stop(t *testing.T) {
	t.Helper()
	if n.stopped {
		return
	}
	n.stopped = true
	if err := n.Stop(); err != nil {
		t.Error(err)
	}
}

func start(t *testing.T, id string, peers ...string) *node {
	t.Helper()
	for try := 1; ; try++ {
		n, err := tryStart(t, id, freeAddr(t), peers)
		if err == nil {
			return n
		}
		if !errors.Is(err, syscall.EADDRINUSE) || try == 5 {
			t.Fatal(err)
		}
	}
}

func startAt(t *testing.T, id, addr string) *node {
	t.Helper()
	n, err := tryStart(t, id, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func tryStart(t *testing.T, id, addr string, peers []string) (*node, error) {
	n, err := cluster.Start(cluster.Config{ID: id, Listen: addr, Peers: peers, HeartbeatEvery: 200 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	nd := &node{Node: n, addr: addr}
	t.Cleanup(func() { nd.stop(t) })
	return nd, nil
}

// freeAddr is a port the kernel just handed out; someone may take it before
// we listen, which start retries.
var freeAddr = testkit.FreeAddr

func ids(ms []cluster.Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

// waitMembers polls until every node sees exactly want.
func waitMembers(t *testing.T, nodes []*node, want ...string) {
	t.Helper()
	deadline := time.Now().Add(joinWait)
	tick := time.NewTicker(pollTick)
	defer tick.Stop()
	for {
		var bad []string
		for _, n := range nodes {
			if got := ids(n.Members()); !slices.Equal(got, want) {
				bad = append(bad, fmt.Sprintf("%s sees %v", n.Engine().Address(), got))
			}
		}
		if len(bad) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, want %v: %s", joinWait, want, strings.Join(bad, "; "))
		}
		<-tick.C
	}
}
