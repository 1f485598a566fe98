package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/backlot/backlot/actors"
	"github.com/backlot/backlot/http/sse"
	"github.com/backlot/backlot/persistence/redis/redistest"
)

// startCluster runs n clustered nodes on one Redis and data directory and
// waits until every one lists all of them.
func startCluster(t *testing.T, n int, extra ...string) []*clusterNode {
	t.Helper()
	srv := redistest.Start(t)
	dir := t.TempDir()
	addrs := make([]string, n)
	ids := make([]string, n)
	for i := range addrs {
		addrs[i], ids[i] = freeAddr(t), fmt.Sprintf("n%d", i+1)
	}
	var nodes []*clusterNode
	for i := range addrs {
		nodes = append(nodes, startClusterNode(t, dir, srv.URL, ids[i], &addrs[i], addrs, extra...))
	}
	waitClusterMembers(t, clusterJoinWait, nodes, ids...)
	return nodes
}

// resizesOn is backlot_resizes_total of a node: attempts its resizers ran.
func resizesOn(t *testing.T, n *clusterNode) float64 {
	t.Helper()
	return value(t, scrape(t, n.url), "backlot_resizes_total", nil)
}

func jpegParts(t *testing.T, n, w, h int, seed uint64) []part {
	var parts []part
	for i := 0; i < n; i++ {
		parts = append(parts, filePart(fmt.Sprintf("p%d.jpg", i), jpegBytes(t, w, h, seed+uint64(i))))
	}
	return parts
}

// TestClusterSpreadsWork: a batch uploaded on n1 is resized on several
// nodes, and subscribers on n2 and n3 see the same whole sequence, which
// the batch's one supervisor (wherever it runs) delivers across nodes.
func TestClusterSpreadsWork(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	nodes := startCluster(t, 3)
	r := upload(t, nodes[0].url, jpegParts(t, 12, 1200, 900, 1)...)
	s2 := openSSE(t, t.Context(), nodes[1].url+r.Events, "")
	s3 := openSSE(t, t.Context(), nodes[2].url+r.Events, "")
	ev2, ev3 := s2.collect(t, 90*time.Second), s3.collect(t, 90*time.Second)
	checkSequence(t, r.BatchID, ev2)
	checkSequence(t, r.BatchID, ev3)
	sameEvents(t, ev2, ev3)
	var spread []float64
	busy := 0
	for _, n := range nodes {
		v := resizesOn(t, n)
		spread = append(spread, v)
		if v > 0 {
			busy++
		}
	}
	t.Logf("resizes per node %v; supervisor on %s", spread, actors.Owner(r.BatchID, clusterAddrs(nodes)))
	if busy < 2 {
		t.Fatalf("resizes per node %v: the work did not spread", spread)
	}
	// Last-Event-ID on another node resumes exactly after it.
	mid := ev2[len(ev2)/2].ID
	rest := openSSE(t, t.Context(), nodes[0].url+r.Events, mid).collect(t, 30*time.Second)
	sameEvents(t, rest, ev2[len(ev2)/2+1:])
}

func clusterAddrs(nodes []*clusterNode) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.addr)
	}
	return out
}

func sameEvents(t *testing.T, a, b []sse.Event) {
	t.Helper()
	if names(a) != names(b) {
		t.Fatalf("sequences differ:\n%s\n%s", names(a), names(b))
	}
	for i := range a {
		if a[i].Data != b[i].Data {
			t.Fatalf("event %s: %s vs %s", a[i].ID, a[i].Data, b[i].Data)
		}
	}
}

// TestClusterNodeLoss: SIGKILL one of three nodes mid-load, the one that
// runs a batch's supervisor. Its supervisors move to the survivors, its
// claimed jobs come back after its lease (4 s in a cluster), and every
// batch reaches done with exactly one terminal event per image; streams
// on the survivors see no gap or repeat across the move, and a client of
// the killed node resumes on another with Last-Event-ID.
func TestClusterNodeLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const perBatch = 10
	nodes := startCluster(t, 3, "--attempts", "5")
	victim, members := nodes[2], clusterAddrs(nodes)
	type watched struct {
		r      uploadReply
		onVic  bool
		stream *stream
	}
	var batches []*watched
	owned := 0
	parts := jpegParts(t, perBatch, 1600, 1200, 100) // made before the uploads, so they arrive together
	for i := 0; i < 6 || owned == 0; i++ {
		if i == 20 {
			t.Fatal("no batch placed on the victim in 20 uploads")
		}
		r := upload(t, nodes[i%3].url, parts...)
		w := &watched{r: r, onVic: actors.Owner(r.BatchID, members) == victim.addr}
		if w.onVic {
			owned++
		}
		w.stream = openSSE(t, t.Context(), nodes[0].url+r.Events, "")
		batches = append(batches, w)
	}
	// A client of the victim, on a batch it supervises.
	var vic *watched
	for _, w := range batches {
		if w.onVic {
			vic = w
			break
		}
	}
	vctx, vcancel := context.WithCancel(t.Context())
	defer vcancel()
	vs := openSSE(t, vctx, victim.url+vic.r.Events, "")

	// Mid-load: once the victim's batch has its first image completed
	// (its client has seen it too), kill the victim.
	seen := make([][]sse.Event, len(batches))
	completed := 0
	var vseen []sse.Event
	vi := slices.Index(batches, vic)
	for done := false; !done; {
		select {
		case ev, ok := <-batches[vi].stream.events:
			if !ok {
				t.Fatalf("stream of %s ended early: %s", vic.r.BatchID, names(seen[vi]))
			}
			seen[vi] = append(seen[vi], ev)
			done = ev.Name == "completed"
		case <-time.After(60 * time.Second):
			t.Fatalf("no completion on the victim's batch within 60s: %s", names(seen[vi]))
		}
	}
	eventually(t, 30*time.Second, "the victim's client to see its first events", func() bool {
		select {
		case ev := <-vs.events:
			vseen = append(vseen, ev)
		default:
		}
		return len(vseen) >= 2
	})
	for _, evs := range seen {
		for _, ev := range evs {
			if ev.Name == "completed" {
				completed++
			}
		}
	}
	killed := time.Now()
	victim.kill(t)
	for ev := range vs.events { // what reached the client before the kill
		vseen = append(vseen, ev)
	}
	waitClusterMembers(t, clusterDropWait, nodes[:2], "n1", "n2")
	dropped := time.Since(killed)

	// The victim's client resumes on n2.
	vrest := openSSE(t, t.Context(), nodes[1].url+vic.r.Events, lastID(vseen)).collect(t, 90*time.Second)
	checkSequence(t, vic.r.BatchID, append(vseen, vrest...))

	var lastDone time.Duration
	imgs, terminals := 0, 0
	for i, w := range batches {
		all := append(seen[i], w.stream.collect(t, 90*time.Second)...)
		o := checkSequence(t, w.r.BatchID, all)
		if d := time.Since(killed); d > lastDone {
			lastDone = d
		}
		imgs += perBatch
		terminals += len(o.terminal)
		// the log as stored is the one streamed
		sameEvents(t, openSSE(t, t.Context(), nodes[1].url+w.r.Events, "").collect(t, 10*time.Second), all)
	}
	t.Logf("killed the supervisor node of %d of %d batches when its batch had %d completions; peers dropped it after %v; "+
		"every batch done %v after the kill; %d images, %d terminal events, %d lost",
		owned, len(batches), completed, dropped.Round(time.Millisecond), lastDone.Round(time.Millisecond),
		imgs, terminals, imgs-terminals)
	id, _ := strconv.Atoi(lastID(vseen))
	t.Logf("the victim's client saw %d events before the kill (status %d, err %v) and resumed on n2 with Last-Event-ID %d", len(vseen), vs.resp.StatusCode, vs.err, id)
}

// TestLeaseTTL: a clustered node leases its claims for 4 s unless told
// otherwise, so a killed member's work is taken over within the issue's
// 10 s; a single node keeps the store's default.
func TestLeaseTTL(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want time.Duration
	}{
		{nil, 0},
		{[]string{"--redis", "redis://x:1/0"}, 0},
		{[]string{"--redis", "redis://x:1/0", "--cluster-listen", "127.0.0.1:7001"}, clusterLeaseTTL},
		{[]string{"--redis", "redis://x:1/0", "--cluster-listen", "127.0.0.1:7001", "--lease-ttl", "2s"}, 2 * time.Second},
		{[]string{"--redis", "redis://x:1/0", "--lease-ttl", "7s"}, 7 * time.Second},
	} {
		c := DefaultConfig()
		if err := c.Parse(tt.args, func(string) string { return "" }); err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if got := c.leaseTTL(); got != tt.want {
			t.Errorf("%v: lease %v, want %v", tt.args, got, tt.want)
		}
	}
	c := DefaultConfig()
	if err := c.Parse([]string{"--lease-ttl", "1ms"}, func(string) string { return "" }); err == nil {
		t.Error("a 1ms lease was accepted")
	}
}
