package actors

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/backlot/backlot/actors/cluster"
	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/blob"
	"github.com/backlot/backlot/persistence/blob/fsblob"
	"github.com/backlot/backlot/persistence/redis"
	"github.com/backlot/backlot/persistence/redis/redistest"
	"github.com/backlot/backlot/persistence/testkit"
)

// A clustered node in one test process: a cluster.Node on 127.0.0.1, its
// own Redis store (own node id) on the test's redis-server, and a System
// on the node's engine. Nodes of one test share the Redis key prefix and
// the data directory, as the processes of a cluster do.
type cnode struct {
	t     *testing.T
	name  string
	node  *cluster.Node
	store *redis.Store
	st    persistence.Store // what the System was given
	blobs blob.Store
	sys   *System
	logs  *logBuffer
	cfg   Config
}

type clusterWorld struct {
	srv   *redistest.Server
	blobs blob.Store
}

func newClusterWorld(t *testing.T) *clusterWorld {
	return &clusterWorld{srv: redistest.Start(t), blobs: blobsAt(t, t.TempDir())}
}

// start runs a node named name that knows peers; wrap, when set, wraps the
// store the System gets (the node's Redis store stays its own).
func (w *clusterWorld) start(t *testing.T, name string, wrap func(*redis.Store) persistence.Store, mutate func(*Config), peers ...string) *cnode {
	t.Helper()
	return w.startAt(t, name, freeAddr(t), wrap, mutate, peers...)
}

// startAt is start with the node's cluster address chosen by the caller.
func (w *clusterWorld) startAt(t *testing.T, name, addr string, wrap func(*redis.Store) persistence.Store, mutate func(*Config), peers ...string) *cnode {
	t.Helper()
	n := &cnode{t: t, name: name, blobs: w.blobs, logs: &logBuffer{}}
	var err error
	n.node, err = cluster.Start(cluster.Config{ID: name, Listen: addr, Peers: peers})
	if err != nil {
		t.Fatal(err)
	}
	n.store, err = redis.Open(t.Context(), redis.Options{URL: w.srv.URL, Prefix: "c", NodeID: name, LeaseTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	n.st = persistence.Store(n.store)
	if wrap != nil {
		n.st = wrap(n.store)
	}
	n.cfg = Config{
		Store: n.st, Blobs: w.blobs, Workers: 2, RetryBackoff: 5 * time.Millisecond, Cluster: n.node,
		Logger: n.logs.logger(name),
	}
	if mutate != nil {
		mutate(&n.cfg)
	}
	n.startSystem(t)
	t.Cleanup(func() {
		n.stopSystem(t)
		if err := n.node.Stop(); err != nil {
			t.Error(err)
		}
		n.store.Close()
	})
	return n
}

func (n *cnode) startSystem(t *testing.T) {
	t.Helper()
	var err error
	if n.sys, err = Start(t.Context(), n.cfg); err != nil {
		t.Fatal(err)
	}
}

func (n *cnode) stopSystem(t *testing.T) {
	t.Helper()
	if n.sys == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.sys.Stop(ctx); err != nil {
		t.Error(err)
	}
	n.sys = nil
}

func (n *cnode) addr() string { return n.node.Engine().Address() }

// waitMembers waits until every node's System has read the member list
// of exactly nodes.
func waitMembers(t *testing.T, nodes ...*cnode) {
	t.Helper()
	var want []string
	for _, n := range nodes {
		want = append(want, n.addr())
	}
	waitFor(t, 20*time.Second, "members "+strings.Join(want, ","), func() bool {
		for _, n := range nodes {
			if got := n.sys.memberList(); len(got) != len(want) || Owner("x", got) != Owner("x", want) || !sameSet(got, want) {
				return false
			}
		}
		return true
	})
}

func sameSet(a, b []string) bool {
	m := map[string]bool{}
	for _, x := range a {
		m[x] = true
	}
	for _, x := range b {
		if !m[x] {
			return false
		}
	}
	return len(a) == len(b)
}

// waitFor polls cond every 10 ms until it holds, failing after within (a
// deadlock guard, not a speed assertion).
var waitFor = testkit.Eventually

var freeAddr = testkit.FreeAddr

// createBatch records a batch of the given sources (put in blobs) whose
// id, when owners is set, is one owner(id) accepts.
func createBatch(t *testing.T, st persistence.Store, blobs blob.Store, owner func(id string) bool, sources ...[]byte) *persistence.Batch {
	t.Helper()
	id := uuid.NewString()
	for owner != nil && !owner(id) {
		id = uuid.NewString()
	}
	var images []persistence.Image
	for i, src := range sources {
		im := persistence.Image{ID: uuid.NewString(), Name: "img" + string(rune('a'+i)), Format: "jpeg"}
		putSource(t, blobs, id, im.ID, src)
		images = append(images, im)
	}
	b, first, err := persistence.NewBatch(id, time.Now(), persistence.DefaultOptions(), images)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Create(t.Context(), b, first); err != nil {
		t.Fatal(err)
	}
	return b
}

// checkLog checks a batch's log as stored: seqs 1…n without gap or repeat,
// one terminal event per image, done once and last.
func checkLog(t *testing.T, st persistence.Store, b *persistence.Batch) []persistence.Event {
	t.Helper()
	evs, err := st.Events(t.Context(), b.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	checkStream(t, b, evs)
	return evs
}

// checkStream checks events as a subscriber got them: the whole log, in
// order, each once.
func checkStream(t *testing.T, b *persistence.Batch, evs []persistence.Event) {
	t.Helper()
	terminal := map[string]int{}
	for i, ev := range evs {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d: a gap or repeat in %v", i, ev.Seq, types(evs))
		}
		if ev.Type.Terminal() {
			terminal[ev.ImageID]++
		}
		if ev.Type == persistence.EventDone && i != len(evs)-1 {
			t.Fatalf("done at %d of %d", i, len(evs))
		}
	}
	for _, im := range b.Images {
		if terminal[im.ID] != 1 {
			t.Fatalf("image %s has %d terminal events in %v", im.ID, terminal[im.ID], types(evs))
		}
	}
	if len(evs) == 0 || evs[len(evs)-1].Type != persistence.EventDone {
		t.Fatalf("no done at the end of %v", types(evs))
	}
}

// logBuffer collects JSON log lines from every node of a test.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) logger(node string) *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", node)
}

// lines are the log records whose msg is msg.
func (l *logBuffer) lines(msg string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(l.buf.Bytes(), []byte("\n")) {
		var rec map[string]any
		if json.Unmarshal(line, &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// dumpOnFailure logs every node's log lines when the test fails.
func dumpOnFailure(t *testing.T, nodes ...*cnode) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, n := range nodes {
			n.logs.mu.Lock()
			t.Logf("log of %s:\n%s", n.name, n.logs.buf.String())
			n.logs.mu.Unlock()
		}
	})
}

// blobsAt is a blob store on dir, as the node's on its data directory.
func blobsAt(t testing.TB, dir string) blob.Store {
	t.Helper()
	bs, err := fsblob.New(dir, fsblob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

// putSource stores an image's upload, as the upload does.
func putSource(t testing.TB, bs blob.Store, batchID, imageID string, data []byte) {
	t.Helper()
	if _, err := blob.Put(t.Context(), bs, blob.SourceKey(batchID, imageID), bytes.NewReader(data), blob.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
