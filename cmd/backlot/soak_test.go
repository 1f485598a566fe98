package main

// The crash-safety soak: SIGKILL `backlot serve` (one node on the embedded
// store, or one node of a three-node cluster on Redis) at random moments
// while several clients upload, restart it on the same data, and at the end
// check API.md's promise for every batch that got a 202: its whole event
// sequence (replayed from id 0) has ids 1, 2, 3 … without gap or repeat,
// one terminal event per image of its queued event, done once and last
// with the right counts; its status agrees; no image failed except for a
// crash-cut attempt budget the kills can account for; and clients that
// stayed connected across the kills, resuming with Last-Event-ID, saw
// exactly that sequence.
//
// Off by default. BACKLOT_SOAK=<kill cycles> runs it:
//
//	BACKLOT_SOAK=30 go test -count=1 -run 'TestSoak' -timeout 60m -v ./cmd/backlot/
//
// Knobs: BACKLOT_SOAK_SEED repeats a schedule's random choices (kill
// delays, victims, batch sizes; the timing of the machine is not repeated),
// BACKLOT_SOAK_LOGS keeps every process's JSON log in that directory,
// BACKLOT_SOAK_LOG_LEVEL (info) sets their level, BACKLOT_SOAK_ATTEMPTS (5,
// as TestCrashRecovery) the server's --attempts, BACKLOT_SOAK_UPLOADERS (3)
// the concurrent uploaders, BACKLOT_SOAK_MAX_FILES (5, at least 2) the
// most images a batch has (each has 2 to that many).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backlot/backlot/http/sse"
	"github.com/backlot/backlot/persistence/redis/redistest"
)

// TestSoakKillOneNode: one `backlot serve` on a data directory (embedded
// store), SIGKILLed BACKLOT_SOAK times at a random moment 50–800 ms after
// it started listening while uploads go on, restarted each time on the
// same directory; then the last process finishes the work and every
// acknowledged batch is checked.
func TestSoakKillOneNode(t *testing.T) {
	s := newSoakRun(t, 1)
	dir := t.TempDir()
	start := func(life int) *proc {
		t.Helper()
		p, err := startProcLogged(t, dir, s.logs.open(t, fmt.Sprintf("life%03d.log", life)),
			"--workers", "2", "--attempts", strconv.Itoa(s.attempts), "--log-level", s.logLevel)
		if err != nil {
			t.Fatalf("start (life %d): %v", life, err)
		}
		return p
	}
	p := start(0)
	s.fleet.up(0, p.url)
	s.startLoad()
	for c := 1; c <= s.cycles; c++ {
		s.cycle.Store(int64(c))
		delay := s.killDelay()
		s.waitFollowing(delay)
		acked := s.ackedCount()
		s.fleet.down(0)
		p.kill(t)
		restarted := time.Now()
		p = start(c)
		s.fleet.up(0, p.url)
		t.Logf("cycle %d: killed %v after listening (%d batches acknowledged so far), listening again after %v",
			c, delay, acked, time.Since(restarted).Round(time.Millisecond))
	}
	s.finish()
}

// TestSoakKillClusterNode: three clustered nodes on one real redis-server
// and one data directory; each cycle SIGKILLs a random node 50–800 ms
// after the cluster is whole, and restarts it with the same node id and
// cluster address (in a third of the cycles only after its peers dropped
// it, so its supervisors and leased claims move to them first). Uploads
// go to live nodes; the checks read from any live node.
func TestSoakKillClusterNode(t *testing.T) {
	s := newSoakRun(t, 3)
	srv := redistest.Start(t)
	dir := t.TempDir() // the nodes of a cluster share their data directory
	ids := []string{"n1", "n2", "n3"}
	addrs := []string{freeAddr(t), freeAddr(t), freeAddr(t)}
	start := func(i, life int) *clusterNode {
		t.Helper()
		for try := 1; ; try++ { // as startClusterNode, with the log kept
			p, err := startProcLogged(t, dir, s.logs.open(t, fmt.Sprintf("%s-life%03d.log", ids[i], life)),
				"--workers", "1", "--redis", srv.URL, "--node-id", ids[i],
				"--cluster-listen", addrs[i], "--peers", strings.Join(addrs, ","),
				"--attempts", strconv.Itoa(s.attempts), "--log-level", s.logLevel)
			if err == nil {
				return &clusterNode{proc: p, id: ids[i], addr: addrs[i]}
			}
			if !strings.Contains(err.Error(), "address already in use") || try == 5 {
				t.Fatalf("start %s (life %d): %v", ids[i], life, err)
			}
			t.Logf("%s: cluster port %s was taken meanwhile; trying another", ids[i], addrs[i])
			addrs[i] = freeAddr(t)
		}
	}
	nodes := make([]*clusterNode, 3)
	for i := range nodes {
		nodes[i] = start(i, 0)
	}
	waitClusterMembers(t, clusterJoinWait, nodes, ids...)
	for i, n := range nodes {
		s.fleet.up(i, n.url)
	}
	s.startLoad()
	for c := 1; c <= s.cycles; c++ {
		s.cycle.Store(int64(c))
		v := s.rng.Intn(3)
		dropFirst := s.rng.Intn(3) == 0
		delay := s.killDelay()
		s.preferNode.Store(int64(v)) // followers start on the victim, then resume elsewhere
		s.waitFollowing(delay)
		acked := s.ackedCount()
		s.fleet.down(v)
		nodes[v].kill(t)
		killed := time.Now()
		var survivors []*clusterNode
		var left []string
		for i, n := range nodes {
			if i != v {
				survivors, left = append(survivors, n), append(left, ids[i])
			}
		}
		dropped := ""
		if dropFirst {
			waitClusterMembers(t, clusterDropWait, survivors, left...)
			dropped = fmt.Sprintf(", dropped by its peers after %v", time.Since(killed).Round(time.Millisecond))
		}
		nodes[v] = start(v, c)
		s.fleet.up(v, nodes[v].url)
		waitClusterMembers(t, clusterJoinWait, nodes, ids...)
		t.Logf("cycle %d: killed %s %v into the cycle (%d batches acknowledged so far)%s; whole again %v after the kill",
			c, ids[v], delay, acked, dropped, time.Since(killed).Round(time.Millisecond))
	}
	s.finish()
}

// soakRun is one soak: the fleet of processes, the load, what was
// acknowledged, and what the checks found.
type soakRun struct {
	t        *testing.T
	began    time.Time
	cycles   int
	seed     int64
	rng      *rand.Rand // the test goroutine's; others get their own
	attempts int
	logLevel string
	fleet    *soakFleet
	client   *http.Client
	logs     *soakLogs
	imgs     [][]byte
	cycle    atomic.Int64
	// preferNode is the node a follower connects to first when it is
	// live (the one about to be killed); -1: any.
	preferNode atomic.Int64
	burst      atomic.Bool // uploaders do not pause
	bursts     int

	loadCancel context.CancelFunc
	loadWG     sync.WaitGroup
	followCtx  context.Context // the followers'; cancelled by finish
	followStop context.CancelFunc

	mu         sync.Mutex
	batches    []*soakBatch
	followers  []*soakFollower
	followNext int
	outcomes   map[string]int // upload outcomes
	anomalies  []string       // odd but not a broken promise by itself
	violations []soakViolation
}

// soakBatch is a batch that got a 202.
type soakBatch struct {
	r       uploadReply
	node    int // fleet index it was uploaded to
	cycle   int // cycle of the 202
	killsAt int // kills before the upload was sent
}

type soakViolation struct {
	b   *soakBatch // nil when about no one batch
	msg string
}

func newSoakRun(t *testing.T, nodes int) *soakRun {
	t.Helper()
	env := os.Getenv("BACKLOT_SOAK")
	if env == "" {
		t.Skip("soak: set BACKLOT_SOAK=<kill cycles> to run it")
	}
	cycles, err := strconv.Atoi(env)
	if err != nil || cycles < 1 {
		t.Fatalf("BACKLOT_SOAK=%q: want a number of kill cycles", env)
	}
	s := &soakRun{t: t, began: time.Now(), cycles: cycles, attempts: 5, logLevel: "info",
		fleet: newSoakFleet(nodes), outcomes: map[string]int{}}
	s.seed = time.Now().UnixNano()
	if v := os.Getenv("BACKLOT_SOAK_SEED"); v != "" {
		if s.seed, err = strconv.ParseInt(v, 10, 64); err != nil {
			t.Fatalf("BACKLOT_SOAK_SEED=%q: %v", v, err)
		}
	}
	if v := os.Getenv("BACKLOT_SOAK_ATTEMPTS"); v != "" {
		if s.attempts, err = strconv.Atoi(v); err != nil {
			t.Fatalf("BACKLOT_SOAK_ATTEMPTS=%q: %v", v, err)
		}
	}
	if v := os.Getenv("BACKLOT_SOAK_LOG_LEVEL"); v != "" {
		s.logLevel = v
	}
	t.Logf("soak: %d kill cycles, seed %d (BACKLOT_SOAK_SEED=%d repeats the random choices), --attempts %d",
		cycles, s.seed, s.seed, s.attempts)
	s.rng = rand.New(rand.NewSource(s.seed))
	s.preferNode.Store(-1)
	s.followCtx, s.followStop = context.WithCancel(context.Background())
	t.Cleanup(s.followStop)
	s.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}}
	t.Cleanup(s.client.CloseIdleConnections)
	s.logs = newSoakLogs(t)
	backlotBinary(t) // built before the clock of the first cycle starts
	for i := 0; i < 8; i++ {
		s.imgs = append(s.imgs, jpegBytes(t, 640, 480, uint64(1000+i)))
	}
	return s
}

// killDelay is the moment of the next kill: 50–800 ms into the cycle.
func (s *soakRun) killDelay() time.Duration {
	return time.Duration(50+s.rng.Intn(751)) * time.Millisecond
}

// wait lets the schedule's delay pass on a timer (not synchronisation:
// the kill is meant to land at an arbitrary moment).
func (s *soakRun) wait(d time.Duration) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	<-timer.C
}

func (s *soakRun) ackedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.batches)
}

// waitFollowing lets the cycle's delay pass. In about a quarter of the
// cycles the uploaders do not pause between uploads (a burst that leaves a
// backlog for the kill to cut into). In about half, the next one to three
// batches acknowledged in the last 0–80 ms before the kill get a client
// that follows them to done across the kills (batches acknowledged earlier
// are mostly done by then: the node keeps up with the paced load).
func (s *soakRun) waitFollowing(delay time.Duration) {
	burst := s.rng.Intn(4) == 0
	s.burst.Store(burst)
	defer s.burst.Store(false)
	if burst {
		s.bursts++
	}
	if s.rng.Intn(2) != 0 {
		s.wait(delay)
		return
	}
	lead := min(delay, time.Duration(s.rng.Intn(81))*time.Millisecond)
	s.wait(delay - lead)
	s.mu.Lock()
	s.followNext = 1 + s.rng.Intn(3)
	s.mu.Unlock()
	s.wait(lead)
}

func (s *soakRun) anomaly(format string, a ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.anomalies = append(s.anomalies, fmt.Sprintf(format, a...))
}

func (s *soakRun) violate(b *soakBatch, format string, a ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.violations = append(s.violations, soakViolation{b, fmt.Sprintf(format, a...)})
}

// startLoad runs the uploaders until finish stops them.
func (s *soakRun) startLoad() {
	ctx, cancel := context.WithCancel(context.Background())
	s.loadCancel = cancel
	n := 3
	if v := os.Getenv("BACKLOT_SOAK_UPLOADERS"); v != "" {
		if k, err := strconv.Atoi(v); err == nil && k > 0 {
			n = k
		}
	}
	for i := 0; i < n; i++ {
		s.loadWG.Add(1)
		go s.uploader(ctx, rand.New(rand.NewSource(s.seed+int64(i)+1)))
	}
}

// uploader posts batches of 2–5 (BACKLOT_SOAK_MAX_FILES) of the soak's
// JPEGs to a live node, paced by 20–120 ms between uploads, until ctx ends
// (the upload under way finishes first). A batch is acknowledged only by
// a 202 read in full.
func (s *soakRun) uploader(ctx context.Context, r *rand.Rand) {
	defer s.loadWG.Done()
	most := 5
	if v := os.Getenv("BACKLOT_SOAK_MAX_FILES"); v != "" {
		if k, err := strconv.Atoi(v); err == nil && k >= 2 {
			most = k
		}
	}
	for {
		tg, ok := s.fleet.pick(ctx, r)
		if !ok {
			return
		}
		n := 2 + r.Intn(most-1)
		var parts []part
		for i := 0; i < n; i++ {
			k := r.Intn(len(s.imgs))
			parts = append(parts, filePart(fmt.Sprintf("s%d-%d.jpg", i, k), s.imgs[k]))
		}
		ct, body := multipartBody(s.t, parts...)
		s.post(tg, ct, body, n)
		if s.burst.Load() {
			if ctx.Err() != nil {
				return
			}
			continue
		}
		pace := time.NewTimer(time.Duration(20+r.Intn(101)) * time.Millisecond)
		select {
		case <-pace.C:
		case <-ctx.Done():
			pace.Stop()
			return
		}
	}
}

func (s *soakRun) post(tg soakTarget, ct string, body []byte, n int) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", tg.url+"/api/images", bytes.NewReader(body))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", ct)
	outcome := func(what string) {
		s.mu.Lock()
		s.outcomes[what]++
		s.mu.Unlock()
	}
	resp, err := s.client.Do(req)
	var raw []byte
	if err == nil {
		raw, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err != nil {
		if s.fleet.current(tg) {
			outcome("transport error on a live node")
			s.anomaly("upload to node %d (life %d): %v, the node was not being killed", tg.i, tg.gen, err)
		} else {
			outcome("cut by the kill")
		}
		return
	}
	if resp.StatusCode != http.StatusAccepted {
		outcome(strconv.Itoa(resp.StatusCode))
		if resp.StatusCode != http.StatusServiceUnavailable {
			s.anomaly("upload to node %d: %d %s", tg.i, resp.StatusCode, raw)
		}
		return
	}
	outcome("202")
	var rep uploadReply
	if err := json.Unmarshal(raw, &rep); err != nil || rep.BatchID == "" {
		s.violate(nil, "202 with a body that is not an upload reply: %q (%v)", raw, err)
		return
	}
	b := &soakBatch{r: rep, node: tg.i, cycle: int(s.cycle.Load()), killsAt: tg.kills}
	if rep.Total != n || len(rep.Images) != n || resp.Header.Get("Location") != "/api/images/"+rep.BatchID {
		s.violate(b, "202 for %d images: total %d, %d images, Location %q", n, rep.Total, len(rep.Images), resp.Header.Get("Location"))
	}
	s.mu.Lock()
	s.batches = append(s.batches, b)
	var fl *soakFollower
	if s.followNext > 0 {
		s.followNext--
		fl = &soakFollower{b: b, done: make(chan struct{})}
		s.followers = append(s.followers, fl)
	}
	seed := s.seed + 1000 + int64(len(s.followers))
	s.mu.Unlock()
	if fl != nil {
		go fl.run(s, rand.New(rand.NewSource(seed)))
	}
}

// soakFollower is an EventSource-like client of one batch: it reads the
// stream from the start and, whenever the stream breaks before done,
// reconnects to a live node with Last-Event-ID.
type soakFollower struct {
	b        *soakBatch
	evs      []sse.Event
	conns    []string // node/life and the Last-Event-ID of each connection
	problems []string // broken promises seen on the way
	done     chan struct{}
}

func (fl *soakFollower) run(s *soakRun, r *rand.Rand) {
	defer close(fl.done)
	ctx := s.followCtx
	live := 0 // connections lost while their node lived on
	for {
		tg, ok := s.fleet.pick(ctx, r)
		if len(fl.conns) == 0 {
			if p, up := s.fleet.get(int(s.preferNode.Load())); up {
				tg, ok = p, true
			}
		}
		if !ok {
			fl.problems = append(fl.problems, "the test ended before done")
			return
		}
		last := lastID(fl.evs)
		fl.conns = append(fl.conns, fmt.Sprintf("node %d life %d after %q", tg.i, tg.gen, last))
		req, _ := http.NewRequestWithContext(ctx, "GET", tg.url+fl.b.r.Events, nil)
		req.Header.Set("Accept", "text/event-stream")
		if last != "" {
			req.Header.Set("Last-Event-ID", last)
		}
		resp, err := s.client.Do(req)
		if err == nil && resp.StatusCode != http.StatusOK {
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable {
				fl.problems = append(fl.problems, fmt.Sprintf("connecting to node %d with Last-Event-ID %q: %d %s", tg.i, last, resp.StatusCode, raw))
				return
			}
			err = fmt.Errorf("%d %s", resp.StatusCode, raw)
		}
		if err == nil {
			rd := sse.NewReader(resp.Body)
			for {
				ev, rerr := rd.Next()
				if rerr != nil {
					err = rerr
					break
				}
				fl.evs = append(fl.evs, ev)
			}
			resp.Body.Close()
			if n := len(fl.evs); n > 0 && fl.evs[n-1].Name == "done" {
				return
			}
		}
		if ctx.Err() != nil {
			fl.problems = append(fl.problems, "the test ended before done")
			return
		}
		if s.fleet.current(tg) { // not the kill: reconnect, a bounded number of times
			live++
			s.anomaly("follower of %s: connection to node %d (life %d) ended after id %q without done while the node lived: %v",
				fl.b.r.BatchID, tg.i, tg.gen, lastID(fl.evs), err)
			if live > 50 {
				fl.problems = append(fl.problems, "50 connections ended early on live nodes")
				return
			}
			pause := time.NewTimer(100 * time.Millisecond)
			select {
			case <-pause.C:
			case <-ctx.Done():
			}
		}
	}
}

// finish stops the load, lets the last processes finish every
// acknowledged batch, checks them all and reports.
func (s *soakRun) finish() {
	t := s.t
	s.loadCancel()
	s.loadWG.Wait()
	loadEnded := time.Now()
	s.mu.Lock()
	batches := slices.Clone(s.batches)
	followers := slices.Clone(s.followers)
	s.mu.Unlock()
	images := 0
	for _, b := range batches {
		images += len(b.r.Images)
	}
	t.Logf("load stopped after %v: %d batches (%d images) acknowledged; upload outcomes %v",
		time.Since(s.began).Round(time.Millisecond), len(batches), images, s.outcomeText())
	if len(batches) == 0 {
		t.Fatal("no batch was acknowledged")
	}
	s.waitDone(batches, 3*time.Minute+time.Duration(images)*100*time.Millisecond)
	drained := time.Since(loadEnded)
	for _, fl := range followers {
		timer := time.NewTimer(60 * time.Second)
		select {
		case <-fl.done:
		case <-timer.C:
			s.followStop() // ends it (and every one left) with a problem recorded
			<-fl.done
			s.violate(fl.b, "follower still not at done 60 s after every batch was done")
		}
		timer.Stop()
	}
	st := s.checkAll(batches, followers)
	crossed := 0
	for _, fl := range followers {
		if len(fl.conns) > 1 {
			crossed++
		}
	}
	t.Logf("drained %v after the load stopped; checked %d batches, %d images: %d completed, %d failed (%d of them crash-cut and accounted for by the kills), "+
		"%d events, %d images redone after a crash (max attempts %d), %d retrying events; %d followers (%d of them across a kill) made %d connections (%d resumes with Last-Event-ID, at most %d for one) and saw %d events; "+
		"%d batches also replayed from a second node; %d of %d cycles were bursts",
		drained.Round(time.Millisecond), st.batches, st.images, st.completed, st.failed, st.justified,
		st.events, st.redone, st.maxAttempts, st.retrying, len(followers), crossed, st.conns, st.resumes, max(0, st.maxConns-1), st.followed, st.crossReplays, s.bursts, s.cycles)
	s.report()
	t.Logf("wall time %v", time.Since(s.began).Round(time.Second))
}

func (s *soakRun) outcomeText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for k := range s.outcomes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %d; ", k, s.outcomes[k])
	}
	return strings.TrimSuffix(b.String(), "; ")
}

// soakStatus is GET /api/images/{batchId}.
type soakStatus struct {
	BatchID   string `json:"batchId"`
	State     string `json:"state"`
	Total     int    `json:"total"`
	Completed int    `json:"completed"`
	Failed    int    `json:"failed"`
	Images    []struct {
		ID       string `json:"id"`
		Name     string `json:"name"`
		State    string `json:"state"`
		Attempts int    `json:"attempts"`
		Error    string `json:"error"`
	} `json:"images"`
	raw []byte
}

func (s *soakRun) status(url, batchID string) (*soakStatus, error) {
	return batchStatus(s.client, url, batchID)
}

// batchStatus is GET /api/images/{batchID} on the node at url.
func batchStatus(client *http.Client, url, batchID string) (*soakStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/api/images/"+batchID, nil)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d %s", resp.StatusCode, raw)
	}
	st := &soakStatus{raw: raw}
	if err := json.Unmarshal(raw, st); err != nil {
		return nil, fmt.Errorf("status %q: %v", raw, err)
	}
	return st, nil
}

// waitDone polls the batches' status (bounded) until every one is done;
// the ones that are not within the bound are violations.
func (s *soakRun) waitDone(batches []*soakBatch, within time.Duration) {
	t := s.t
	deadline := time.Now().Add(within)
	remaining := slices.Clone(batches)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	lastLog := time.Now()
	for len(remaining) > 0 && time.Now().Before(deadline) {
		tg, _ := s.fleet.pick(t.Context(), s.rng)
		// Batches finish roughly in order: a round stops at the first one
		// not done yet, so a round costs a few requests.
		for len(remaining) > 0 {
			st, err := s.status(tg.url, remaining[0].r.BatchID)
			if err != nil || st.State != "done" {
				break
			}
			remaining = remaining[1:]
		}
		if len(remaining) > 0 {
			if time.Since(lastLog) > 15*time.Second {
				t.Logf("waiting for %d batches to be done", len(remaining))
				lastLog = time.Now()
			}
			<-tick.C
		}
	}
	if len(remaining) == 0 {
		return
	}
	tg, _ := s.fleet.pick(t.Context(), s.rng)
	for _, b := range remaining {
		st, err := s.status(tg.url, b.r.BatchID)
		switch {
		case err != nil:
			s.violate(b, "not done within %v: %v", within, err)
		case st.State != "done":
			s.violate(b, "not done within %v: %s", within, st.raw)
		}
	}
}

type soakStats struct {
	batches, images, completed, failed, justified, events, redone, maxAttempts, retrying int
	conns, resumes, followed, maxConns, crossReplays                                     int
}

// checkAll checks every acknowledged batch and every follower.
func (s *soakRun) checkAll(batches []*soakBatch, followers []*soakFollower) soakStats {
	t := s.t
	var st soakStats
	kills := s.fleet.killCount()
	replays := map[*soakBatch][]sse.Event{}
	for _, b := range batches {
		tg, _ := s.fleet.pick(t.Context(), s.rng)
		evs, err := s.replay(tg.url + b.r.Events)
		replays[b] = evs
		if err != nil {
			s.violate(b, "replay from node %d: %v (after %s)", tg.i, err, names(evs))
			continue
		}
		o, fails := softCheckSequence(t, b.r.BatchID, evs)
		if len(fails) > 0 {
			s.violate(b, "replay from node %d breaks the sequence rules: %s; events %s", tg.i, strings.Join(fails, "; "), names(evs))
			continue
		}
		// every subscriber sees the same sequence, on any node
		if other, ok := s.fleet.other(tg.i, s.rng); ok {
			evs2, err := s.replay(other.url + b.r.Events)
			if d := diffEvents(evs2, evs); err != nil || d != "" {
				s.violate(b, "replay from node %d differs from node %d's: %v %s", other.i, tg.i, err, d)
			}
			st.crossReplays++
		}
		st.batches++
		st.images += len(b.r.Images)
		st.events += len(evs)
		st.completed += o.completed
		st.failed += o.failed
		for _, a := range o.attempts {
			if a > 1 {
				st.redone++
			}
			st.maxAttempts = max(st.maxAttempts, a)
		}
		// queued lists exactly the images of the 202, in order
		q := parseData(t, evs[0])
		var want, got []string
		for _, im := range b.r.Images {
			want = append(want, im.ID)
		}
		for _, im := range q.Images {
			got = append(got, im.ID)
		}
		if !slices.Equal(want, got) {
			s.violate(b, "queued lists images %v, the 202 listed %v", got, want)
		}
		failedEv := map[string]evData{}
		for _, ev := range evs {
			switch ev.Name {
			case "failed":
				failedEv[parseData(t, ev).ImageID] = parseData(t, ev)
			case "retrying":
				st.retrying++
				s.anomaly("batch %s: retrying %s", b.r.BatchID, ev.Data)
			}
		}
		// the status agrees with the stream
		status, err := s.status(tg.url, b.r.BatchID)
		if err != nil {
			s.violate(b, "status: %v", err)
			continue
		}
		if status.State != "done" || status.Total != len(b.r.Images) || status.Completed+status.Failed != status.Total ||
			status.Completed != o.completed || status.Failed != o.failed || len(status.Images) != len(b.r.Images) {
			s.violate(b, "status %s disagrees with the stream (%d completed, %d failed of %d)", status.raw, o.completed, o.failed, len(b.r.Images))
		}
		for _, im := range status.Images {
			if im.State != o.terminal[im.ID] {
				s.violate(b, "status says image %s is %s, the stream %q", im.ID, im.State, o.terminal[im.ID])
			}
		}
		// Every input is a valid JPEG: a failure is lost work unless it
		// is the attempt budget spent by crashes, each of which can cut
		// an attempt short only once.
		killsAfter := kills - b.killsAt
		for id, d := range failedEv {
			cut := strings.Contains(d.Error, "each cut short before it finished")
			if cut && d.Attempts >= s.attempts && d.Attempts <= killsAfter {
				st.justified++
				s.anomaly("batch %s image %s failed after %d attempts, all cut short; %d kills happened after its upload: %s",
					b.r.BatchID, id, d.Attempts, killsAfter, d.Error)
				continue
			}
			s.violate(b, "image %s failed (attempts %d, %d kills after the upload): %q", id, d.Attempts, killsAfter, d.Error)
		}
		// a completed image's result is there
		for id, state := range o.terminal {
			if state != "completed" {
				continue
			}
			if code, err := s.getCode(tg.url + "/api/images/" + b.r.BatchID + "/" + id); err != nil || code != http.StatusOK {
				s.violate(b, "result of completed image %s: %d %v", id, code, err)
			}
		}
	}
	// The clients that stayed connected across the kills saw that very
	// sequence, without gap or repeat.
	for _, fl := range followers {
		st.conns += len(fl.conns)
		st.maxConns = max(st.maxConns, len(fl.conns))
		st.resumes += max(0, len(fl.conns)-1)
		st.followed += len(fl.evs)
		for _, p := range fl.problems {
			s.violate(fl.b, "follower: %s; connections %v; saw %s", p, fl.conns, names(fl.evs))
		}
		if len(fl.problems) > 0 {
			continue
		}
		if _, fails := softCheckSequence(t, fl.b.r.BatchID, fl.evs); len(fails) > 0 {
			s.violate(fl.b, "follower's concatenated streams break the rules: %s; connections %v; saw %s", strings.Join(fails, "; "), fl.conns, names(fl.evs))
			continue
		}
		if d := diffEvents(fl.evs, replays[fl.b]); d != "" {
			s.violate(fl.b, "follower saw another sequence than the replay: %s; connections %v", d, fl.conns)
		}
	}
	return st
}

// replay reads a batch's whole stream from the start; it must end (the
// batch is done) within 30 s.
func (s *soakRun) replay(url string) ([]sse.Event, error) { return replayStream(s.client, url) }

// replayStream reads a batch's whole stream from the start with client;
// it must end (the batch is done) within 30 s.
func replayStream(client *http.Client, url string) ([]sse.Event, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("%d %s", resp.StatusCode, raw)
	}
	var evs []sse.Event
	rd := sse.NewReader(resp.Body)
	for {
		ev, err := rd.Next()
		if err == io.EOF {
			return evs, nil
		}
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}

func (s *soakRun) getCode(url string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// report fails the test with every violation, the first few batches with
// what a reproduction needs: seed, cycle, ids, events, status and the
// server log lines about the batch.
func (s *soakRun) report() {
	t := s.t
	s.mu.Lock()
	anomalies, violations := slices.Clone(s.anomalies), slices.Clone(s.violations)
	s.mu.Unlock()
	for i, a := range anomalies {
		if i == 30 {
			t.Logf("… %d more anomalies", len(anomalies)-30)
			break
		}
		t.Logf("anomaly (not a broken promise by itself): %s", a)
	}
	t.Logf("server log: %s", s.logs.summary())
	if len(violations) == 0 {
		t.Logf("no violation: every acknowledged batch kept the promise")
		return
	}
	detailed := map[*soakBatch]bool{}
	for _, v := range violations {
		if v.b == nil {
			t.Errorf("VIOLATION (seed %d): %s", s.seed, v.msg)
			continue
		}
		t.Errorf("VIOLATION (seed %d, batch %s uploaded to node %d in cycle %d after %d kills): %s",
			s.seed, v.b.r.BatchID, v.b.node, v.b.cycle, v.b.killsAt, v.msg)
		if detailed[v.b] || len(detailed) >= 5 {
			continue
		}
		detailed[v.b] = true
		if tg, ok := s.fleet.pick(t.Context(), s.rng); ok {
			evs, err := s.replay(tg.url + v.b.r.Events)
			var b strings.Builder
			for _, ev := range evs {
				fmt.Fprintf(&b, "\n    id %s %s %s", ev.ID, ev.Name, ev.Data)
			}
			t.Logf("batch %s now, from node %d (err %v):%s", v.b.r.BatchID, tg.i, err, b.String())
			if st, err := s.status(tg.url, v.b.r.BatchID); err == nil {
				t.Logf("status: %s", st.raw)
			}
		}
		t.Logf("server log lines about %s:\n%s", v.b.r.BatchID, strings.Join(s.logs.grep(v.b.r.BatchID, 120), "\n"))
	}
	t.Logf("the process logs are in %s", s.logs.dir)
}

// diffEvents says where two sequences differ ("" if they are the same).
func diffEvents(a, b []sse.Event) string {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i].ID != b[i].ID || a[i].Name != b[i].Name || a[i].Data != b[i].Data {
			return fmt.Sprintf("event %d: %s %s %s vs %s %s %s", i+1, a[i].ID, a[i].Name, a[i].Data, b[i].ID, b[i].Name, b[i].Data)
		}
	}
	if len(a) != len(b) {
		return fmt.Sprintf("%d events vs %d: %s vs %s", len(a), len(b), names(a), names(b))
	}
	return ""
}

// softTB turns checkSequence's Fatalf into a recorded failure (ending only
// the goroutine that runs the check), so that one broken batch does not
// hide the others.
type softTB struct {
	testing.TB
	fails []string
}

func (s *softTB) Helper() {}

func (s *softTB) Fatalf(format string, a ...any) {
	s.fails = append(s.fails, fmt.Sprintf(format, a...))
	runtime.Goexit()
}

func (s *softTB) Fatal(a ...any) {
	s.fails = append(s.fails, fmt.Sprint(a...))
	runtime.Goexit()
}

func (s *softTB) FailNow() {
	s.fails = append(s.fails, "FailNow")
	runtime.Goexit()
}

// softCheckSequence is checkSequence (invariant_test.go) reporting instead
// of stopping the test.
func softCheckSequence(t testing.TB, batchID string, evs []sse.Event) (outcome, []string) {
	st := &softTB{TB: t}
	var o outcome
	done := make(chan struct{})
	go func() {
		defer close(done)
		o = checkSequence(st, batchID, evs)
	}()
	<-done
	return o, st.fails
}

// soakFleet is the processes of a soak: the URL of each live one, a
// generation per slot that changes whenever it goes down or up, and the
// number of kills so far.
type soakFleet struct {
	mu      sync.Mutex
	urls    []string // "" while down
	gens    []int
	kills   int
	changed chan struct{} // closed at every change
}

type soakTarget struct {
	i, gen, kills int
	url           string
}

func newSoakFleet(n int) *soakFleet {
	return &soakFleet{urls: make([]string, n), gens: make([]int, n), changed: make(chan struct{})}
}

func (f *soakFleet) set(i int, url string, kill bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.urls[i] = url
	f.gens[i]++
	if kill {
		f.kills++
	}
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *soakFleet) up(i int, url string) { f.set(i, url, false) }

// down marks node i dead; called before the SIGKILL, so a request that
// fails afterwards can tell the kill from a fault of a live node.
func (f *soakFleet) down(i int) { f.set(i, "", true) }

// pick waits until a node is up and returns a random live one.
func (f *soakFleet) pick(ctx context.Context, r *rand.Rand) (soakTarget, bool) {
	for {
		f.mu.Lock()
		var live []int
		for i, u := range f.urls {
			if u != "" {
				live = append(live, i)
			}
		}
		if len(live) > 0 {
			i := live[r.Intn(len(live))]
			tg := soakTarget{i: i, gen: f.gens[i], kills: f.kills, url: f.urls[i]}
			f.mu.Unlock()
			return tg, true
		}
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return soakTarget{}, false
		}
	}
}

// get is node i if it is up.
func (f *soakFleet) get(i int) (soakTarget, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i < 0 || i >= len(f.urls) || f.urls[i] == "" {
		return soakTarget{}, false
	}
	return soakTarget{i: i, gen: f.gens[i], kills: f.kills, url: f.urls[i]}, true
}

// other is a random live node other than i, if there is one.
func (f *soakFleet) other(i int, r *rand.Rand) (soakTarget, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var live []int
	for k, u := range f.urls {
		if u != "" && k != i {
			live = append(live, k)
		}
	}
	if len(live) == 0 {
		return soakTarget{}, false
	}
	k := live[r.Intn(len(live))]
	return soakTarget{i: k, gen: f.gens[k], kills: f.kills, url: f.urls[k]}, true
}

// current reports whether tg's node is still up in the same life.
func (f *soakFleet) current(tg soakTarget) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gens[tg.i] == tg.gen && f.urls[tg.i] != ""
}

func (f *soakFleet) killCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.kills
}

// soakLogs keeps each process's log in a file of its own.
type soakLogs struct {
	dir   string
	mu    sync.Mutex
	files []string
}

func newSoakLogs(t *testing.T) *soakLogs {
	dir := os.Getenv("BACKLOT_SOAK_LOGS")
	if dir == "" {
		dir = t.TempDir()
	} else {
		dir = filepath.Join(dir, t.Name())
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return &soakLogs{dir: dir}
}

func (l *soakLogs) open(t *testing.T, name string) io.Writer {
	path := filepath.Join(l.dir, name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	l.mu.Lock()
	l.files = append(l.files, path)
	l.mu.Unlock()
	return f
}

// grep is up to max lines that contain s, in process order, each prefixed
// with its log's name; every process's start line is kept for context.
func (l *soakLogs) grep(s string, max int) []string {
	l.mu.Lock()
	files := slices.Clone(l.files)
	l.mu.Unlock()
	var out []string
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() && len(out) < max {
			line := sc.Text()
			if strings.Contains(line, s) || strings.Contains(line, `"backlot listening"`) {
				out = append(out, filepath.Base(path)+": "+line)
			}
		}
		f.Close()
	}
	return out
}

// summary counts the warnings and errors the processes logged, by message.
func (l *soakLogs) summary() string {
	l.mu.Lock()
	files := slices.Clone(l.files)
	l.mu.Unlock()
	counts := map[string]int{}
	lines := 0
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			lines++
			var rec struct{ Level, Msg string }
			if json.Unmarshal(sc.Bytes(), &rec) != nil {
				// Hollywood's own log: date, time, then the message
				f := strings.Fields(sc.Text())
				if len(f) > 2 {
					f = f[2:]
				}
				counts["(not JSON) "+firstN(strings.Join(f, " "), 70)]++
				continue
			}
			if rec.Level == "WARN" || rec.Level == "ERROR" {
				counts[rec.Level+" "+rec.Msg]++
			}
		}
		f.Close()
	}
	var keys []string
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%d lines from %d processes", lines, len(files))
	for _, k := range keys {
		fmt.Fprintf(&b, "\n    %d× %s", counts[k], k)
	}
	return b.String()
}

func firstN(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// TestSoakCheckerCatches: the soak's non-stopping check finds each broken
// promise it looks for in a hand-made sequence, and passes a good one
// (runs in the normal suite: no binary).
func TestSoakCheckerCatches(t *testing.T) {
	const b = "b1"
	ev := func(id int, name, data string) sse.Event {
		return sse.Event{ID: strconv.Itoa(id), Name: name, Data: data}
	}
	queued := ev(1, "queued", `{"batchId":"b1","total":2,"images":[{"id":"i1","name":"a.jpg"},{"id":"i2","name":"b.jpg"}]}`)
	proc := func(id int, img string) sse.Event {
		return ev(id, "processing", `{"batchId":"b1","imageId":"`+img+`","attempt":1}`)
	}
	comp := func(id int, img string) sse.Event {
		return ev(id, "completed", `{"batchId":"b1","imageId":"`+img+`","url":"/api/images/b1/`+img+`","width":100,"height":100,"bytes":9}`)
	}
	done := func(id, completed int) sse.Event {
		return ev(id, "done", fmt.Sprintf(`{"batchId":"b1","total":2,"completed":%d,"failed":0}`, completed))
	}
	good := []sse.Event{queued, proc(2, "i1"), proc(3, "i2"), comp(4, "i1"), comp(5, "i2"), done(6, 2)}
	if o, fails := softCheckSequence(t, b, good); len(fails) > 0 || o.completed != 2 {
		t.Fatalf("good sequence: %v %+v", fails, o)
	}
	for name, evs := range map[string][]sse.Event{
		"gap":            {queued, proc(2, "i1"), proc(4, "i2"), comp(5, "i1"), comp(6, "i2"), done(7, 2)},
		"repeat":         {queued, proc(2, "i1"), proc(2, "i1"), proc(3, "i2"), comp(4, "i1"), comp(5, "i2"), done(6, 2)},
		"two terminals":  {queued, proc(2, "i1"), proc(3, "i2"), comp(4, "i1"), comp(5, "i2"), comp(6, "i2"), done(7, 3)},
		"lost image":     {queued, proc(2, "i1"), comp(3, "i1"), done(4, 1)},
		"extra done":     {queued, proc(2, "i1"), proc(3, "i2"), comp(4, "i1"), comp(5, "i2"), done(6, 2), done(7, 2)},
		"no done":        {queued, proc(2, "i1"), proc(3, "i2"), comp(4, "i1"), comp(5, "i2")},
		"done too early": {queued, proc(2, "i1"), comp(3, "i1"), done(4, 1), proc(5, "i2"), comp(6, "i2")},
	} {
		if _, fails := softCheckSequence(t, b, evs); len(fails) == 0 {
			t.Errorf("%s: not caught", name)
		} else {
			t.Logf("%s: %s", name, fails[0])
		}
	}
	changed := slices.Clone(good)
	changed[3] = ev(4, "completed", `{"batchId":"b1","imageId":"i1","url":"/api/images/b1/i1","width":100,"height":100,"bytes":10}`)
	if diffEvents(good, changed) == "" || diffEvents(good, good[:5]) == "" || diffEvents(good, slices.Clone(good)) != "" {
		t.Fatal("diffEvents")
	}
}
