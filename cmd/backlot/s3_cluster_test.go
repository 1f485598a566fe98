package main

import (
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/backlot/backlot/http/sse"
	"github.com/backlot/backlot/persistence/blob/s3blob/seaweedtest"
	"github.com/backlot/backlot/persistence/redis/redistest"
)

// startS3Cluster runs n clustered `backlot serve` processes on one Redis
// and one SeaweedFS bucket, each with a data directory of its own (no
// disk shared), and waits until every one lists all of them. It returns
// the nodes and their data directories.
func startS3Cluster(t *testing.T, n int, extra ...string) ([]*clusterNode, []string) {
	t.Helper()
	srv := seaweedtest.Start(t)
	srv.MakeBucket(t, "imgs")
	rs := redistest.Start(t)
	t.Setenv("AWS_ACCESS_KEY_ID", seaweedtest.AccessKey) // inherited by the processes, as an operator's env
	t.Setenv("AWS_SECRET_ACCESS_KEY", seaweedtest.SecretKey)
	t.Setenv("AWS_REGION", seaweedtest.Region)
	s3 := []string{"--blobs", "s3://imgs/cluster", "--s3-endpoint", "http://" + srv.Endpoint, "--s3-path-style"}
	addrs := make([]string, n)
	ids := make([]string, n)
	dirs := make([]string, n)
	for i := range addrs {
		addrs[i], ids[i], dirs[i] = freeAddr(t), fmt.Sprintf("n%d", i+1), t.TempDir()
	}
	var nodes []*clusterNode
	for i := range addrs {
		nodes = append(nodes, startClusterNode(t, dirs[i], rs.URL, ids[i], &addrs[i], addrs, append(s3, extra...)...))
	}
	waitClusterMembers(t, clusterJoinWait, nodes, ids...)
	return nodes, dirs
}

// TestClusterNoSharedDisk: three nodes, each with its own data directory,
// one Redis and one SeaweedFS. A batch uploaded on n1 is resized on any,
// watched from n2 and downloaded from n3. Then the loss of a machine:
// n3 is SIGKILLed mid-load and its whole data directory deleted; its
// work is taken over, and every acknowledged image (uploads n3 answered
// 202 among them) ends exactly once and downloads from the survivors.
func TestClusterNoSharedDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	nodes, dirs := startS3Cluster(t, 3, "--attempts", "5")
	r := upload(t, nodes[0].url, jpegParts(t, 6, 800, 600, 1)...)
	evs := openSSE(t, t.Context(), nodes[1].url+r.Events, "").collect(t, 90*time.Second)
	if o := checkSequence(t, r.BatchID, evs); o.completed != 6 {
		t.Fatalf("outcome %+v", o)
	}
	for _, im := range r.Images {
		get(t, nodes[2].url+"/api/images/"+r.BatchID+"/"+im.ID, http.StatusOK)
	}
	for i, dir := range dirs {
		if d := batchDirs(t, dir); len(d) != 0 {
			t.Fatalf("n%d keeps batches on its disk: %v", i+1, d)
		}
	}

	// The machine loss.
	const batches, perBatch = 6, 6
	victim := nodes[2]
	var acked []uploadReply
	var streams []*stream
	for i := range batches {
		r := upload(t, nodes[i%3].url, jpegParts(t, perBatch, 1200, 900, uint64(100+10*i))...)
		acked = append(acked, r)
		streams = append(streams, openSSE(t, t.Context(), nodes[i%2].url+r.Events, ""))
	}
	seen := make([][]sse.Event, batches)
	for done := false; !done; { // mid-load: once some image has completed
		select {
		case ev, ok := <-streams[0].events:
			if !ok {
				t.Fatalf("stream ended early: %s", names(seen[0]))
			}
			seen[0] = append(seen[0], ev)
			done = ev.Name == "completed"
		case <-time.After(90 * time.Second):
			t.Fatalf("no completion within 90s: %s", names(seen[0]))
		}
	}
	killed := time.Now()
	victim.kill(t)
	if err := os.RemoveAll(dirs[2]); err != nil {
		t.Fatal(err)
	}
	waitClusterMembers(t, clusterDropWait, nodes[:2], "n1", "n2")

	images, completed := 0, 0
	for i, r := range acked {
		all := append(seen[i], streams[i].collect(t, 3*time.Minute)...)
		o := checkSequence(t, r.BatchID, all)
		images += perBatch
		completed += o.completed
		if o.completed != perBatch {
			t.Fatalf("batch %s (uploaded on n%d): %+v, want all %d completed", r.BatchID, i%3+1, o, perBatch)
		}
		for j, im := range r.Images {
			get(t, nodes[j%2].url+"/api/images/"+r.BatchID+"/"+im.ID, http.StatusOK)
		}
	}
	t.Logf("n3 killed and its data dir deleted mid-load; %d acknowledged images, %d completed exactly once and downloaded from n1 and n2, %v after the kill",
		images, completed, time.Since(killed).Round(time.Millisecond))
}
