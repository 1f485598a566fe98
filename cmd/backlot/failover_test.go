package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backlot/backlot/bench"
	"github.com/backlot/backlot/persistence/redis/redistest"
)

// failoverDownAfter is the Sentinels' down-after-milliseconds in the
// failover test: the upper bound, so the time to resume measured
// here is the slowest such a setup gives.
const failoverDownAfter = 2 * time.Second

// failoverResumeBound is how soon after the SIGKILL of the primary every
// node must accept uploads again (issue 19).
const failoverResumeBound = 10 * time.Second

// TestSentinelFailover: two clustered `backlot serve` processes reach Redis
// through three Sentinels (a primary and one replica; every write waits
// for the replica: --redis-wait-replicas 1 by the URL), under load from
// the bench client (640x480 JPEGs, 3 per batch, 4 batches in flight,
// round-robin over the nodes). Each failover SIGKILLs the primary; the
// Sentinels promote the replica; the test, as an operator or an
// orchestrator would, restarts the dead server as the new primary's
// replica (with one replica, no write can be acknowledged until one is
// back: WAIT 1). Probes upload to each node from the kill on, and every
// node must accept one again within failoverResumeBound.
//
// At the end, every batch that got a 202 (the bench's and the probes') is
// read back from the start: ids 1…N without gap or repeat, exactly one
// terminal event per image and none failed, done once and last; and what
// the bench's own stream (reconnecting with Last-Event-ID) showed of it is
// exactly that sequence, or a prefix of it for a batch the run's end cut.
//
// Two failovers by default; BACKLOT_FAILOVERS=<n> runs n (at least 5 for
// the figure the README quotes).
func TestSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Redis, Sentinels and the binary")
	}
	kills := 2
	if v := os.Getenv("BACKLOT_FAILOVERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("BACKLOT_FAILOVERS=%q: want a number of failovers", v)
		}
		kills = n
	}
	primary := redistest.Start(t)
	replica := redistest.Start(t, redistest.WithReplicaOf(primary))
	replica.WaitSynced(t, 30*time.Second)
	ss := redistest.StartSentinels(t, primary, 3, redistest.SentinelConfig{DownAfter: failoverDownAfter})
	ss.Ready(t, primary.Addr, 1, 30*time.Second)
	servers := map[string]*redistest.Server{primary.Addr: primary, replica.Addr: replica}
	current := primary.Addr

	backlotBinary(t)
	dir := t.TempDir()
	ids := []string{"n1", "n2"}
	addrs := []string{freeAddr(t), freeAddr(t)}
	var nodes []*clusterNode
	for i, id := range ids {
		nodes = append(nodes, startClusterNode(t, dir, ss.URL(0), id, &addrs[i], addrs, "--attempts", "5", "--workers", "2"))
	}
	waitClusterMembers(t, clusterJoinWait, nodes, ids...)
	var urls []string
	for _, n := range nodes {
		urls = append(urls, n.url)
	}

	ld := startFailoverLoad(t, urls)
	fr := &failoverRun{t: t, client: &http.Client{Timeout: 30 * time.Second}, small: jpegBytes(t, 64, 64, 77)}
	var resumes []time.Duration
	for k := 1; k <= kills; k++ {
		ld.waitAccepted(t, 20, 60*time.Second) // the load is flowing before the kill
		victim := servers[current]
		killed := time.Now()
		victim.Kill(t)
		probes := fr.probe(urls, killed)
		next := ss.WaitFailover(t, current, 30*time.Second)
		promoted := time.Since(killed)
		victim.RestartAsReplicaOf(t, next)
		victim.WaitSynced(t, 30*time.Second)
		back := time.Since(killed)
		resume := time.Duration(0)
		for i, ch := range probes {
			r := <-ch
			if r.err != nil {
				t.Fatalf("failover %d: node %s: %v", k, ids[i], r.err)
			}
			resume = max(resume, r.after)
		}
		resumes = append(resumes, resume)
		t.Logf("failover %d: killed %s; %s promoted after %v; old primary back as its replica after %v; every node accepted an upload again after %v",
			k, current, next, promoted.Round(time.Millisecond), back.Round(time.Millisecond), resume.Round(time.Millisecond))
		if resume > failoverResumeBound {
			t.Errorf("failover %d: uploads accepted again only %v after the kill, over %v", k, resume.Round(time.Millisecond), failoverResumeBound)
		}
		current = next
		ss.Ready(t, current, 1, 30*time.Second) // the Sentinels see the replica before the next kill
	}
	ld.waitAccepted(t, 20, 60*time.Second) // and the load goes on after the last
	rep := ld.stop(t)
	worst := slices.Max(resumes)
	t.Logf("worst time from the kill of the primary to every node accepting uploads: %v over %d failovers (%v)", worst.Round(time.Millisecond), kills, roundAll(resumes))
	t.Logf("bench: %d batches started, %d done; images %+v; upload p50 %.1f ms", rep.Batches.Started, rep.Batches.Done, rep.Images, rep.Upload.P50)
	for _, e := range rep.Errors {
		t.Logf("bench error: %d× %s (e.g. %s)", e.Count, e.Kind, e.Example)
		for _, bad := range []string{"not contiguous", "disagrees", "image failed", "timeout", "gave up", "bad reply", "bad done"} {
			if strings.Contains(e.Kind, bad) {
				t.Errorf("bench: %d× %s: %s", e.Count, e.Kind, e.Example)
			}
		}
	}
	fr.checkAll(urls, ld.traces(), ids)
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

// failoverLoad is the bench client running against the nodes, keeping
// every batch's trace.
type failoverLoad struct {
	cancel context.CancelFunc
	done   chan *bench.Report
	err    error

	mu       sync.Mutex
	all      []bench.Trace
	accepted int
	changed  chan struct{}
}

func startFailoverLoad(t *testing.T, urls []string) *failoverLoad {
	t.Helper()
	cfg, err := bench.ParseFlags([]string{"--url", strings.Join(urls, ","), "--size", "640x480", "--per-batch", "3",
		"--in-flight", "4", "--total", "10000000", "--batch-timeout", "3m", "--progress", "off"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	files, err := bench.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ld := &failoverLoad{done: make(chan *bench.Report, 1), changed: make(chan struct{})}
	cfg.Trace = func(tr bench.Trace) {
		ld.mu.Lock()
		defer ld.mu.Unlock()
		ld.all = append(ld.all, tr)
		if tr.BatchID != "" {
			ld.accepted++
			close(ld.changed)
			ld.changed = make(chan struct{})
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	ld.cancel = cancel
	t.Cleanup(cancel)
	go func() {
		rep, err := bench.Run(ctx, cfg, files, bench.NewProgress(io.Discard, "off"))
		ld.err = err
		ld.done <- rep
	}()
	return ld
}

// waitAccepted waits (bounded) until n more batches than now got a 202
// and ended.
func (ld *failoverLoad) waitAccepted(t *testing.T, n int, within time.Duration) {
	t.Helper()
	ld.mu.Lock()
	want := ld.accepted + n
	ld.mu.Unlock()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		ld.mu.Lock()
		got, ch := ld.accepted, ld.changed
		ld.mu.Unlock()
		if got >= want {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("the load got %d of %d more 202s within %v", got-(want-n), n, within)
		}
	}
}

// stop ends the load (batches in flight are cut off: their traces end
// early) and returns the bench's report.
func (ld *failoverLoad) stop(t *testing.T) *bench.Report {
	t.Helper()
	ld.cancel()
	select {
	case rep := <-ld.done:
		if ld.err != nil {
			t.Fatal(ld.err)
		}
		return rep
	case <-time.After(60 * time.Second):
		t.Fatal("the bench did not stop within 60s")
		return nil
	}
}

func (ld *failoverLoad) traces() []bench.Trace {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	return slices.Clone(ld.all)
}

// failoverRun holds the probes' batches and the checks.
type failoverRun struct {
	t      *testing.T
	client *http.Client
	small  []byte

	mu     sync.Mutex
	probed []string // batch ids the probes got a 202 for
}

type probeResult struct {
	after time.Duration
	err   error
}

// probe uploads a small image to each node every 100 ms from now until
// one is accepted, and reports how long after killed that was.
func (fr *failoverRun) probe(urls []string, killed time.Time) []chan probeResult {
	var out []chan probeResult
	ct, body := multipartBody(fr.t, filePart("probe.jpg", fr.small))
	for _, u := range urls {
		ch := make(chan probeResult, 1)
		out = append(out, ch)
		go func() {
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			codes := map[int]int{}
			for time.Since(killed) < 60*time.Second {
				resp, err := fr.client.Post(u+"/api/images", ct, bytes.NewReader(body))
				if err == nil {
					raw, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					codes[resp.StatusCode]++
					if resp.StatusCode == http.StatusAccepted {
						var r uploadReply
						if err := json.Unmarshal(raw, &r); err != nil || r.BatchID == "" {
							ch <- probeResult{err: fmt.Errorf("202 %q: %v", raw, err)}
							return
						}
						fr.mu.Lock()
						fr.probed = append(fr.probed, r.BatchID)
						fr.mu.Unlock()
						ch <- probeResult{after: time.Since(killed)}
						return
					}
					if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
						ch <- probeResult{err: fmt.Errorf("upload after the kill: %d %s (want 202, or 503 with Retry-After)", resp.StatusCode, raw)}
						return
					}
				}
				<-tick.C
			}
			ch <- probeResult{err: fmt.Errorf("no upload accepted within 60s of the kill (replies %v)", codes)}
		}()
	}
	return out
}

// checkAll reads back every acknowledged batch once all are done and
// checks it against API.md's promise and against what the bench's stream
// showed of it.
func (fr *failoverRun) checkAll(urls []string, traces []bench.Trace, ids []string) {
	t := fr.t
	type acked struct {
		id    string
		trace *bench.Trace // nil for a probe's batch
	}
	var batches []acked
	images, cut, broken := 0, 0, 0
	for i := range traces {
		tr := &traces[i]
		if tr.BatchID == "" {
			continue
		}
		batches = append(batches, acked{tr.BatchID, tr})
		images += tr.Images
		if !tr.Done {
			cut++
		}
		for _, f := range tr.Failures {
			if strings.HasPrefix(f, "sse: stream ended before done") || strings.HasPrefix(f, "sse: transport") {
				broken++
			}
		}
	}
	fr.mu.Lock()
	for _, id := range fr.probed {
		batches = append(batches, acked{id: id})
		images++
	}
	fr.mu.Unlock()
	t.Logf("checking %d acknowledged batches (%d images, %d from the probes); %d bench streams cut by the end of the run, %d broke and were resumed",
		len(batches), images, len(fr.probed), cut, broken)

	// Every batch done, within a bound that grows with the work.
	deadline := time.Now().Add(2*time.Minute + time.Duration(images)*50*time.Millisecond)
	remaining := slices.Clone(batches)
	for len(remaining) > 0 {
		st, err := batchStatus(fr.client, urls[len(remaining)%len(urls)], remaining[0].id)
		if err == nil && st.State == "done" {
			remaining = remaining[1:]
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d acknowledged batches not done in time; first %s: %v %v", len(remaining), remaining[0].id, err, st)
		}
		tick := time.NewTimer(100 * time.Millisecond)
		<-tick.C
	}

	terminals := map[string]int{}
	for i, b := range batches {
		url := urls[i%len(urls)]
		evs, err := replayStream(fr.client, url+"/api/images/"+b.id+"/events")
		if err != nil {
			t.Errorf("batch %s: replay from %s: %v", b.id, ids[i%len(ids)], err)
			continue
		}
		o, fails := softCheckSequence(t, b.id, evs)
		if len(fails) > 0 {
			t.Errorf("batch %s breaks the sequence rules: %s; events %s", b.id, strings.Join(fails, "; "), names(evs))
			continue
		}
		for _, state := range o.terminal {
			terminals[state]++
		}
		if o.failed > 0 {
			t.Errorf("batch %s: %d images failed: %s", b.id, o.failed, names(evs))
		}
		if b.trace == nil {
			continue
		}
		if b.trace.Images != len(o.terminal) {
			t.Errorf("batch %s: %d images sent, %d ended", b.id, b.trace.Images, len(o.terminal))
		}
		seen := b.trace.Events
		if len(seen) > len(evs) || (b.trace.Done && len(seen) != len(evs)) {
			t.Errorf("batch %s: the bench's stream showed %d events, the log has %d: %s vs %s", b.id, len(seen), len(evs), names(seen), names(evs))
			continue
		}
		if d := diffEvents(seen, evs[:len(seen)]); d != "" {
			t.Errorf("batch %s: the bench's stream missed or repeated an event: %s", b.id, d)
		}
	}
	keys := make([]string, 0, len(terminals))
	for k := range terminals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s %d ", k, terminals[k])
	}
	t.Logf("every acknowledged image ended once: %s", b.String())
}

// TestSentinelTLS: `backlot serve` reaches Redis and its Sentinels on TLS
// only, each with a password, through rediss-sentinel:// with the servers'
// password before the @ and the Sentinels' in sentinel_password, and
// checks their certificates against a private CA named by SSL_CERT_FILE
// (Go's way to add one to the system roots); an image goes through.
func TestSentinelTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Redis, Sentinels and the binary")
	}
	sec := redistest.Secure{Password: "data-pw", SentinelPassword: "sentinel-pw", TLS: redistest.NewTLS(t)}
	primary := redistest.Start(t, redistest.WithSecure(sec))
	replica := redistest.Start(t, redistest.WithSecure(sec), redistest.WithReplicaOf(primary))
	replica.WaitSynced(t, 30*time.Second)
	ss := redistest.StartSentinels(t, primary, 3, redistest.SentinelConfig{Secure: sec})
	ss.Ready(t, primary.Addr, 1, 30*time.Second)
	url := "rediss-sentinel://:" + sec.Password + "@" + strings.Join(ss.Addrs, ",") + "/0?master=" + ss.Master +
		"&sentinel_password=" + sec.SentinelPassword
	p, err := startProcWrapped(t, []string{"env", "SSL_CERT_FILE=" + sec.TLS.CA}, t.TempDir(), nil, "--redis", url, "--node-id", "tls")
	if err != nil {
		t.Fatal(err)
	}
	r := upload(t, p.url, filePart("a.jpg", jpegBytes(t, 320, 240, 5)))
	if o := checkSequence(t, r.BatchID, openSSE(t, t.Context(), p.url+r.Events, "").collect(t, 60*time.Second)); o.completed != 1 {
		t.Fatalf("outcome %+v", o)
	}
}
