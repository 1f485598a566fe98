package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backlot/backlot/actors"
	"github.com/backlot/backlot/persistence/redis/redistest"
)

// TestClusterJoinUnderLoad: two nodes are busy with several batches when a
// third joins (knowing one peer). Batches whose owner becomes the new node
// move there while they run: their supervisors on the old nodes hand over
// and stop, the new node's supervisors fence them and carry on from the
// log in Redis, and subscribers on the old nodes follow. The new node
// takes work within seconds (its pool claims from the shared queue), every
// batch reaches done with one terminal event per image, every stream has
// no gap or repeat, and a replay of each batch equals its live stream.
func TestClusterJoinUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const perBatch = 10
	srv := redistest.Start(t)
	dir := t.TempDir()
	addrs := []string{freeAddr(t), freeAddr(t), freeAddr(t)}
	node := func(id, addr string, peers ...string) (*clusterNode, error) {
		p, err := startLoggedNode(t, dir, "--workers", "1", "--redis", srv.URL, "--node-id", id,
			"--cluster-listen", addr, "--peers", strings.Join(peers, ","))
		if err != nil {
			return nil, err
		}
		return &clusterNode{proc: p, id: id, addr: addr}, nil
	}
	n1, err := node("n1", addrs[0], addrs[:2]...)
	if err != nil {
		t.Fatal(err)
	}
	n2, err := node("n2", addrs[1], addrs[:2]...)
	if err != nil {
		t.Fatal(err)
	}
	old := []*clusterNode{n1, n2}
	waitClusterMembers(t, clusterJoinWait, old, "n1", "n2")

	type watched struct {
		r      uploadReply
		toN3   bool
		stream *stream
	}
	var batches []*watched
	moving := 0
	parts := jpegParts(t, perBatch, 1600, 1200, 300)
	load := func() { // one more batch, uploaded and followed on alternate old nodes
		i := len(batches)
		r := upload(t, old[i%2].url, parts...)
		w := &watched{r: r, toN3: actors.Owner(r.BatchID, addrs) == addrs[2]}
		if w.toN3 {
			moving++
		}
		w.stream = openSSE(t, t.Context(), old[(i+1)%2].url+r.Events, "")
		batches = append(batches, w)
	}
	for len(batches) < 6 {
		load()
	}
	eventually(t, 60*time.Second, "the first resizes on n1 and n2", func() bool {
		return resizesOn(t, n1)+resizesOn(t, n2) >= 4
	})
	before := resizesOn(t, n1) + resizesOn(t, n2)

	// n3 starts (knowing n1 only) while the load goes on: a batch more for
	// every round until every node lists n3, then a few more.
	started := time.Now()
	type startResult struct {
		n   *clusterNode
		err error
	}
	n3c := make(chan startResult, 1)
	go func() {
		n, err := node("n3", addrs[2], addrs[0])
		n3c <- startResult{n, err}
	}()
	var n3 *clusterNode
	for n3 == nil {
		var res startResult
		select {
		case res = <-n3c:
		default:
			if len(batches) < 30 {
				load()
				continue
			}
			res = <-n3c
		}
		if res.err != nil {
			t.Fatalf("start n3: %v", res.err)
		}
		n3 = res.n
	}
	listening := time.Since(started)
	all := []*clusterNode{n1, n2, n3}
	waitClusterMembers(t, clusterNewWait, all, "n1", "n2", "n3")
	joined := time.Since(started)
	for range 4 {
		load()
	}
	eventually(t, clusterNewWait, "n3 to resize", func() bool { return resizesOn(t, n3) > 0 })
	firstResize := time.Since(started)

	imgs, terminals := 0, 0
	for _, w := range batches {
		evs := w.stream.collect(t, 120*time.Second)
		o := checkSequence(t, w.r.BatchID, evs)
		imgs += perBatch
		terminals += len(o.terminal)
		// the log as stored, replayed from the new node, is the stream
		sameEvents(t, openSSE(t, t.Context(), n3.url+w.r.Events, "").collect(t, 10*time.Second), evs)
	}
	var spread []float64
	for _, n := range all {
		spread = append(spread, resizesOn(t, n))
	}
	if imgs != terminals {
		t.Fatalf("%d images, %d terminal events", imgs, terminals)
	}
	t.Logf("%d batches (%d owned by n3 after the join) of %d images; n3 started after %d resizes: listening %v, listed by all %v, first resize %v after its start; "+
		"resizes per node %v; %d terminal events, 0 lost, 0 duplicate",
		len(batches), moving, perBatch, int(before), listening.Round(time.Millisecond), joined.Round(time.Millisecond),
		firstResize.Round(time.Millisecond), spread, terminals)
}

// startLoggedNode is tryStartProc for a clustered node that also copies
// the node's log to $BACKLOT_CLUSTER_LOGS/<id>.log when that is set (for
// reading a failed run afterwards).
func startLoggedNode(t *testing.T, dir string, args ...string) (*proc, error) {
	t.Helper()
	logDir := os.Getenv("BACKLOT_CLUSTER_LOGS")
	if logDir == "" {
		return tryStartProc(t, dir, args...)
	}
	id := args[slices.Index(args, "--node-id")+1]
	args = append(args, "--log-level", "debug")
	f, err := os.Create(filepath.Join(logDir, id+".log"))
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { f.Close() })
	return startProcLogged(t, dir, f, args...)
}
