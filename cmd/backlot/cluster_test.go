package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backlot/backlot/actors/cluster"
	"github.com/backlot/backlot/persistence/redis/redistest"
	"github.com/backlot/backlot/persistence/testkit"
)

func TestClusterConfig(t *testing.T) {
	env := map[string]string{"BACKLOT_CLUSTER_LISTEN": "127.0.0.1:7001", "BACKLOT_PEERS": "127.0.0.1:7002, 127.0.0.1:7003,"}
	c := DefaultConfig()
	if err := c.Parse([]string{"--redis", "redis://127.0.0.1:6379/0"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.ClusterListen != "127.0.0.1:7001" || !slices.Equal(c.PeerList(), []string{"127.0.0.1:7002", "127.0.0.1:7003"}) {
		t.Fatalf("config %+v peers %q", c, c.PeerList())
	}
	if d := DefaultConfig(); d.ClusterListen != "" || d.PeerList() != nil {
		t.Fatalf("defaults %+v", d)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--cluster-listen", "127.0.0.1:7001"}, "-cluster-listen needs -redis"},
		{[]string{"--peers", "127.0.0.1:7002"}, "-peers needs -cluster-listen"},
		{[]string{"--redis", "redis://x:1/0", "--cluster-listen", "127.0.0.1:0"}, "-cluster-listen: \"127.0.0.1:0\": port must be"},
		{[]string{"--redis", "redis://x:1/0", "--cluster-listen", ":7001"}, "no host"},
		{[]string{"--redis", "redis://x:1/0", "--cluster-listen", "0.0.0.0:7001"}, "unspecified"},
		{[]string{"--redis", "redis://x:1/0", "--cluster-listen", "127.0.0.1:7001", "--peers", "a:1,b"}, "-peers: \"b\" is not host:port"},
		{[]string{"--redis", "redis://x:1/0", "--cluster-listen", "127.0.0.1:7001", "--node-id", "a/b"}, "-node-id must not contain /"},
	} {
		c := DefaultConfig()
		if err := c.Parse(tt.args, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want %q", tt.args, err, tt.want)
		}
	}
}

// Bounds of the membership waits. A SIGKILLed node's connections break at
// once, so its peers normally drop it in milliseconds; the bound is the
// provider's silence timeout plus three heartbeats, within the 10 s the
// issue allows for a takeover.
const (
	clusterJoinWait = 30 * time.Second // three processes starting on a loaded machine
	clusterDropWait = cluster.DefaultMemberTimeout + 3*cluster.DefaultHeartbeatEvery
	clusterNewWait  = 10 * time.Second // "a new node starts taking work within seconds"
)

// TestClusterMembership: three real backlot processes on one redis-server
// find each other from --peers and list each other in /readyz and
// /metrics; one is SIGKILLed and the other two drop it; a new node that
// knows a single peer joins, and every live node lists it.
func TestClusterMembership(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	srv := redistest.Start(t)
	dir := t.TempDir() // the nodes of a cluster share their data directory
	addrs := []string{freeAddr(t), freeAddr(t), freeAddr(t)}
	var nodes []*clusterNode
	for i := range addrs {
		nodes = append(nodes, startClusterNode(t, dir, srv.URL, fmt.Sprintf("n%d", i+1), &addrs[i], addrs))
	}
	waitClusterMembers(t, clusterJoinWait, nodes, "n1", "n2", "n3")
	for _, n := range nodes {
		if got := clusterMembersMetric(t, n.url); got != 3 {
			t.Fatalf("%s: backlot_cluster_members %v, want 3", n.id, got)
		}
	}
	// /readyz also gives the addresses peers dial
	for _, m := range readyMembers(t, nodes[0].url) {
		if want := addrs[m.ID[1]-'1']; m.Addr != want {
			t.Fatalf("member %s at %s, want %s", m.ID, m.Addr, want)
		}
	}

	killed := time.Now()
	nodes[2].kill(t)
	waitClusterMembers(t, clusterDropWait, nodes[:2], "n1", "n2")
	t.Logf("a SIGKILLed node was dropped by both peers after %v", time.Since(killed).Round(time.Millisecond))

	started := time.Now()
	addr4 := freeAddr(t)
	n4 := startClusterNode(t, dir, srv.URL, "n4", &addr4, addrs[:1]) // knows n1 only
	waitClusterMembers(t, clusterNewWait, []*clusterNode{nodes[0], nodes[1], n4}, "n1", "n2", "n4")
	t.Logf("a new node was listed by every member %v after it started listening", time.Since(started).Round(time.Millisecond))
	if got := clusterMembersMetric(t, nodes[1].url); got != 3 {
		t.Fatalf("n2: backlot_cluster_members %v after the churn, want 3", got)
	}

	// A stalled node keeps its connections open: only the silence timeout
	// finds it. Once it runs again it handshakes its peers and is back.
	n2 := nodes[1]
	if err := n2.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	waitClusterMembers(t, clusterDropWait, []*clusterNode{nodes[0], n4}, "n1", "n4")
	t.Logf("a stalled node was dropped after %v (timeout %v)", time.Since(stopped).Round(time.Millisecond), cluster.DefaultMemberTimeout)
	if err := n2.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitClusterMembers(t, clusterNewWait, []*clusterNode{nodes[0], n2, n4}, "n1", "n2", "n4")
}

// TestNoClusterByDefault: a node without --cluster-listen shows no members
// and no cluster gauge, as before clustering existed.
func TestNoClusterByDefault(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	var ready map[string]any
	resp, err := http.Get(n.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	decodeJSON(t, resp, &ready)
	if _, ok := ready["members"]; ok || ready["status"] != "ready" {
		t.Fatalf("readyz %v", ready)
	}
	if strings.Contains(metricsText(t, n.url), "backlot_cluster_members") {
		t.Fatal("backlot_cluster_members on a node without a cluster")
	}
}

type clusterNode struct {
	*proc
	id   string
	addr string
}

// startClusterNode runs `backlot serve` clustered on *addr with peers (and
// extra flags); if
// the port was taken meanwhile it retries on a fresh one (updating *addr).
func startClusterNode(t *testing.T, dir, redisURL, id string, addr *string, peers []string, extra ...string) *clusterNode {
	t.Helper()
	for try := 1; ; try++ {
		args := append([]string{"--redis", redisURL, "--node-id", id,
			"--cluster-listen", *addr, "--peers", strings.Join(peers, ",")}, extra...)
		p, err := tryStartProc(t, dir, append([]string{"--workers", "1"}, args...)...)
		if err == nil {
			return &clusterNode{proc: p, id: id, addr: *addr}
		}
		if !strings.Contains(err.Error(), "address already in use") || try == 5 {
			t.Fatalf("start %s: %v", id, err)
		}
		t.Logf("%s: cluster port %s was taken meanwhile; trying another", id, *addr)
		*addr = freeAddr(t)
	}
}

// freeAddr is a port the kernel just handed out on 127.0.0.1; another
// process may take it before ours listens, which startClusterNode retries.
var freeAddr = testkit.FreeAddr

// readyMembers is the member list of a node's /readyz (nil if it fails).
func readyMembers(t *testing.T, url string) []cluster.Member {
	t.Helper()
	resp, err := http.Get(url + "/readyz")
	if err != nil {
		return nil
	}
	var ready struct {
		Status  string
		Members []cluster.Member
	}
	decodeJSON(t, resp, &ready)
	return ready.Members
}

func waitClusterMembers(t *testing.T, within time.Duration, nodes []*clusterNode, want ...string) {
	t.Helper()
	eventually(t, within, fmt.Sprintf("every node to list exactly %v", want), func() bool {
		for _, n := range nodes {
			var ids []string
			for _, m := range readyMembers(t, n.url) {
				ids = append(ids, m.ID)
			}
			if !slices.Equal(ids, want) {
				return false
			}
		}
		return true
	})
}

func metricsText(t *testing.T, url string) string {
	t.Helper()
	return string(get(t, url+"/metrics", http.StatusOK))
}

// clusterMembersMetric reads backlot_cluster_members from /metrics (-1 if absent).
func clusterMembersMetric(t *testing.T, url string) float64 {
	t.Helper()
	for _, line := range strings.Split(metricsText(t, url), "\n") {
		var v float64
		if _, err := fmt.Sscanf(line, "backlot_cluster_members %g", &v); err == nil {
			return v
		}
	}
	return -1
}
