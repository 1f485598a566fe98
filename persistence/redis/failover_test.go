package redis_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/redis"
	"github.com/backlot/backlot/persistence/redis/redistest"
	goredis "github.com/redis/go-redis/v9"
)

// Failover tests: a primary, its replica and three Sentinels, or a replica
// that replicates through a proxy the test can stall.

// replicated is a primary, one replica and three Sentinels that see both.
type replicated struct {
	primary, replica *redistest.Server
	sentinels        *redistest.Sentinels
}

func startReplicated(t *testing.T, down time.Duration) *replicated {
	t.Helper()
	p := redistest.Start(t)
	r := redistest.Start(t, redistest.WithReplicaOf(p))
	r.WaitSynced(t, wait)
	ss := redistest.StartSentinels(t, p, 3, redistest.SentinelConfig{DownAfter: down})
	ss.Ready(t, p.Addr, 1, wait)
	return &replicated{primary: p, replica: r, sentinels: ss}
}

// sentinelURL is the Sentinels' URL with client timeouts of a second.
func (rp *replicated) sentinelURL() string {
	return rp.sentinels.URL(0) + "&dial_timeout=1s&read_timeout=2s&write_timeout=1s"
}

// TestStoreBehindSentinel runs the conformance suite through go-redis's
// failover client with every write waiting for the replica.
func TestStoreBehindSentinel(t *testing.T) {
	rp := startReplicated(t, time.Second)
	runSuite(t, redis.Options{URL: rp.sentinelURL(), NodeID: "node-a", WaitReplicas: 1, WaitTimeout: time.Second})
}

// TestWaitHoldsBackUnreplicated: the replica replicates through a proxy;
// while the proxy holds the stream back, a store waiting for one replica
// refuses Create, Append, AppendFenced, Fence and Delete with
// ErrUnavailable within its wait timeout, while a store that does not wait
// acknowledges its Create. The primary then dies with what the proxy held,
// the replica is promoted: what the waiting store acknowledged is there,
// the batch the other store acknowledged is gone. That loss is what WAIT
// is for.
func TestWaitHoldsBackUnreplicated(t *testing.T) {
	p := redistest.Start(t)
	px := startProxy(t, p.Addr)
	r := redistest.Start(t, redistest.WithReplicaOf(&redistest.Server{Addr: px.addr}))
	r.WaitSynced(t, wait)
	const timeout = 200 * time.Millisecond
	waiting := mustOpen(t, p, redis.Options{Prefix: "w", NodeID: "a", WaitReplicas: 1, WaitTimeout: timeout})
	careless := mustOpen(t, p, redis.Options{Prefix: "w", NodeID: "b"})
	ctx := t.Context()

	kept := create(t, waiting, 2) // replicated
	done := create(t, waiting, 1)
	tok, err := waiting.Fence(ctx, kept.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := waiting.AppendFenced(ctx, kept.ID, tok, processing(kept, 0)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := waiting.Append(ctx, done.ID, processing(done, 0), completed(done, 0)); err != nil {
		t.Fatal(err)
	}

	px.stall()
	fresh, queued := newBatch(t, 1)
	for _, c := range []struct {
		name string
		call func() error
	}{
		{"Create", func() error { return waiting.Create(ctx, fresh, queued) }},
		{"Append", func() error { _, _, err := waiting.Append(ctx, kept.ID, processing(kept, 1)); return err }},
		{"AppendFenced", func() error { _, _, err := waiting.AppendFenced(ctx, kept.ID, tok, completed(kept, 0)); return err }},
		{"Fence", func() error { _, err := waiting.Fence(ctx, kept.ID); return err }},
		{"Delete", func() error { return waiting.Delete(ctx, done.ID) }},
	} {
		start := time.Now()
		err := c.call()
		if !errors.Is(err, persistence.ErrUnavailable) {
			t.Fatalf("%s while the replica lags = %v, want ErrUnavailable", c.name, err)
		}
		if took := time.Since(start); took < timeout {
			t.Errorf("%s refused after %v, before the wait timeout %v", c.name, took, timeout)
		}
		t.Logf("%s: %v", c.name, err)
	}
	lost := create(t, careless, 1) // acknowledged without a replica
	tok2, err := careless.Fence(ctx, kept.ID)
	if err != nil {
		t.Fatal(err)
	}

	p.Kill(t)
	px.cut() // what it held dies with the primary's machine
	promote(t, r)
	s := mustOpen(t, r, redis.Options{Prefix: "w", NodeID: "c"})
	if _, err := s.Batch(ctx, lost.ID); !errors.Is(err, persistence.ErrNotFound) {
		t.Errorf("the batch acknowledged without WAIT: %v; want it lost in the failover (ErrNotFound)", err)
	}
	b, err := s.Batch(ctx, kept.ID)
	if err != nil || b.LastSeq != 2 {
		t.Fatalf("the batch acknowledged with WAIT: %+v, %v; want it with its processing event (LastSeq 2)", b, err)
	}
	if _, err := s.Batch(ctx, done.ID); err != nil {
		t.Errorf("the done batch: %v", err)
	}
	next, err := s.Fence(ctx, kept.ID)
	if err != nil || next <= tok {
		t.Fatalf("Fence on the promoted replica = %d, %v; want above %d, the last token handed out with WAIT", next, err, tok)
	}
	t.Logf("tokens: %d with WAIT, %d without (lost), %d after the failover", tok, tok2, next)
}

// promote makes a replica a primary, as Sentinel does.
func promote(t *testing.T, r *redistest.Server) {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: r.Addr})
	defer c.Close()
	if err := c.Do(t.Context(), "REPLICAOF", "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
}

// TestOrphansSwept: a job in this node's processing list that no claim of
// this process holds (a failed Ack or Requeue, a claim whose reply was
// lost, a write a failover lost) goes back to pending at the second sweep
// that finds it; claimed jobs stay.
func TestOrphansSwept(t *testing.T) {
	srv := redistest.Start(t)
	s := mustOpen(t, srv, redis.Options{Prefix: "orph", NodeID: "a"})
	b := create(t, s, 3)
	held := claim(t, s)
	rdb := rawClient(t, srv)
	heldRaw, err := rdb.LIndex(t.Context(), "orph:processing:a", 0).Result()
	if err != nil {
		t.Fatal(err)
	}
	// Two more jobs moved into this node's list behind its back, as a
	// claim whose reply never arrived would leave them.
	for range 2 {
		if err := rdb.LMove(t.Context(), "orph:pending", "orph:processing:a", "LEFT", "RIGHT").Err(); err != nil {
			t.Fatal(err)
		}
	}
	depth(t, s, 0, 3)
	if n, err := s.SweepNow(t.Context()); err != nil || n != 0 {
		t.Fatalf("first sweep moved %d, %v; want 0 (a claim's reply may still be on its way)", n, err)
	}
	if n, err := s.SweepNow(t.Context()); err != nil || n != 2 {
		t.Fatalf("second sweep moved %d, %v; want the 2 orphans", n, err)
	}
	depth(t, s, 2, 1)
	if n, _ := s.SweepNow(t.Context()); n != 0 {
		t.Fatalf("third sweep moved %d", n)
	}
	// A claimed job whose Ack fails (Redis away) is an orphan once Redis
	// is back: redelivered, not stuck while this node lives.
	srv.Stop(t)
	if err := s.Ack(t.Context(), held); !errors.Is(err, persistence.ErrUnavailable) {
		t.Fatalf("Ack with Redis down = %v", err)
	}
	srv.Restart(t) // no AOF: empty. Put the job back where the failed Ack left it.
	if err := rdb.RPush(t.Context(), "orph:processing:a", heldRaw).Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the store to answer again", func() (bool, error) { return s.Ping(t.Context()) == nil, nil })
	s.SweepNow(t.Context())
	if n, err := s.SweepNow(t.Context()); err != nil || n != 1 {
		t.Fatalf("sweeps after the failed Ack moved %d, %v; want 1", n, err)
	}
	if j := claim(t, s); j != held || j != jobOf(b, 0) {
		t.Fatalf("claimed %v, want the job whose Ack failed, %v", j, held)
	}
}

// TestSentinelFailoverKeepsWrites: writers create, fence and append
// through the Sentinels while the primary is SIGKILLed. Once the replica
// is promoted and the old primary is back as its replica, the writers go
// on, and everything the store acknowledged is on the new primary: every
// batch, every event with its seq, and every batch's fence at or above the
// highest token handed out (a new Fence gives a greater one).
func TestSentinelFailoverKeepsWrites(t *testing.T) {
	rp := startReplicated(t, time.Second)
	s := mustOpen(t, rp.primary, redis.Options{URL: rp.sentinelURL(), Prefix: "fo", NodeID: "a", WaitReplicas: 1})

	type acked struct {
		mu     sync.Mutex
		token  uint64
		events []persistence.Event // as acknowledged
	}
	var mu sync.Mutex
	batches := map[string]*acked{}
	var okWrites, failedWrites atomic.Int64
	ctx, stop := context.WithCancel(t.Context())
	pause := func() { // after a failure: the primary may be away
		failedWrites.Add(1)
		tm := time.NewTimer(10 * time.Millisecond)
		defer tm.Stop()
		select {
		case <-tm.C:
		case <-ctx.Done():
		}
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				b, q := newBatch(t, 3)
				if err := s.Create(ctx, b, q); err != nil {
					pause() // maybe written: a batch nobody was told of
					continue
				}
				q.Seq = 1
				a := &acked{events: []persistence.Event{q}}
				mu.Lock()
				batches[b.ID] = a
				mu.Unlock()
				for i := 0; i < 3 && ctx.Err() == nil; {
					tok, err := s.Fence(ctx, b.ID)
					if err != nil {
						pause()
						continue
					}
					a.mu.Lock()
					a.token = max(a.token, tok)
					a.mu.Unlock()
					evs, _, err := s.AppendFenced(ctx, b.ID, tok, processing(b, i), completed(b, i))
					switch {
					case err == nil:
						okWrites.Add(1)
						a.mu.Lock()
						a.events = append(a.events, evs...)
						a.mu.Unlock()
						i++
					case errors.Is(err, persistence.ErrConflict):
						i++ // a try that failed was written after all: completed twice is refused
					default:
						pause() // maybe written; try again
					}
				}
			}
		})
	}
	progress := func(n int64, what string) {
		t.Helper()
		from := okWrites.Load()
		eventually(t, what, func() (bool, error) { return okWrites.Load() >= from+n, nil })
	}
	progress(50, "writes before the kill")
	old := rp.primary.Addr
	killed := time.Now()
	rp.primary.Kill(t)
	now := rp.sentinels.WaitFailover(t, old, wait)
	promoted := time.Since(killed)
	rp.primary.RestartAsReplicaOf(t, now)
	rp.primary.WaitSynced(t, wait)
	progress(1, "a write after the failover")
	resumed := time.Since(killed)
	progress(50, "writes after the failover")
	stop()
	wg.Wait()
	t.Logf("promoted %v after the kill, writes acknowledged again after %v; %d writes acknowledged, %d failed",
		promoted.Round(time.Millisecond), resumed.Round(time.Millisecond), okWrites.Load(), failedWrites.Load())

	check := mustOpen(t, rp.replica, redis.Options{URL: rp.sentinelURL(), Prefix: "fo", NodeID: "check"})
	for id, a := range batches {
		got, err := check.Events(t.Context(), id, 0)
		if err != nil {
			t.Errorf("batch %s acknowledged, then: %v", id, err)
			continue
		}
		for _, ev := range a.events {
			if ev.Seq > uint64(len(got)) {
				t.Errorf("batch %s: event %d (%s) was acknowledged; the new primary has %d events", id, ev.Seq, ev.Type, len(got))
				break
			}
			if g := got[ev.Seq-1]; g.Type != ev.Type || g.ImageID != ev.ImageID {
				t.Errorf("batch %s event %d: acknowledged %s %s, now %s %s", id, ev.Seq, ev.Type, ev.ImageID, g.Type, g.ImageID)
			}
		}
		if a.token > 0 {
			tok, err := check.Fence(t.Context(), id)
			if err != nil || tok <= a.token {
				t.Errorf("batch %s: Fence after the failover = %d, %v; tokens up to %d were handed out", id, tok, err, a.token)
			}
		}
	}
}

// proxy forwards TCP connections to target; stall holds back what target
// sends, cut closes every connection without forwarding what it held.
type proxy struct {
	addr   string
	target string
	ln     net.Listener

	mu      sync.Mutex
	stalled bool
	resume  chan struct{}
	conns   []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	px := &proxy{addr: ln.Addr().String(), target: target, ln: ln, resume: make(chan struct{})}
	t.Cleanup(func() { ln.Close(); px.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			px.mu.Lock()
			px.conns = append(px.conns, c, up)
			px.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go px.down(c, up)
		}
	}()
	return px
}

// down copies from the target to the client, waiting while stalled.
func (px *proxy) down(c, up net.Conn) {
	defer c.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := up.Read(buf)
		if n > 0 {
			px.mu.Lock()
			stalled, resume := px.stalled, px.resume
			px.mu.Unlock()
			if stalled {
				<-resume
			}
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (px *proxy) stall() {
	px.mu.Lock()
	px.stalled = true
	px.mu.Unlock()
}

func (px *proxy) cut() {
	px.mu.Lock()
	defer px.mu.Unlock()
	for _, c := range px.conns {
		c.Close()
	}
	px.conns = nil
	if px.stalled {
		px.stalled = false
		close(px.resume) // the copiers find their connections closed
		px.resume = make(chan struct{})
	}
}

// TestSentinelTLSAndPasswords: Redis and its Sentinels on TLS only, with a
// password each; the store reaches them with rediss-sentinel://, the
// servers' password before the @ and the Sentinels' in sentinel_password,
// with skip_verify=true (cmd/backlot's TestSentinelTLS checks certificates
// against a private CA given by SSL_CERT_FILE). A wrong password of either
// kind, plain TCP, or a certificate nobody vouches for is an error at Open
// that names neither password.
func TestSentinelTLSAndPasswords(t *testing.T) {
	sec := redistest.Secure{Password: "data-s3cret", SentinelPassword: "sentinel-s3cret", TLS: redistest.NewTLS(t)}
	p := redistest.Start(t, redistest.WithSecure(sec))
	r := redistest.Start(t, redistest.WithSecure(sec), redistest.WithReplicaOf(p))
	r.WaitSynced(t, wait)
	ss := redistest.StartSentinels(t, p, 3, redistest.SentinelConfig{Secure: sec})
	ss.Ready(t, p.Addr, 1, wait)
	hosts := strings.Join(ss.Addrs, ",")
	url := func(pw, spw string) string {
		return "rediss-sentinel://:" + pw + "@" + hosts + "/0?master=" + ss.Master + "&sentinel_password=" + spw +
			"&skip_verify=true&dial_timeout=1s"
	}
	s := mustOpen(t, p, redis.Options{URL: url(sec.Password, sec.SentinelPassword), Prefix: "tls", NodeID: "a", WaitReplicas: 1})
	b := create(t, s, 1)
	j := claim(t, s)
	tok, err := s.Fence(t.Context(), b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AppendFenced(t.Context(), b.ID, tok, processing(b, 0), completed(b, 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(t.Context(), j); err != nil {
		t.Fatal(err)
	}
	for name, u := range map[string]string{
		"wrong server password":   url("nope", sec.SentinelPassword),
		"wrong sentinel password": url(sec.Password, "nope"),
		"plain TCP":               strings.Replace(strings.Replace(url(sec.Password, sec.SentinelPassword), "rediss-", "redis-", 1), "&skip_verify=true", "", 1),
		"unverified certificate":  strings.Replace(url(sec.Password, sec.SentinelPassword), "&skip_verify=true", "", 1),
	} {
		ctx, cancel := context.WithTimeout(t.Context(), wait)
		_, err := redis.Open(ctx, redis.Options{URL: u, Prefix: "tls", NodeID: "b"})
		cancel()
		if err == nil {
			t.Errorf("%s: Open succeeded", name)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: the error names a password: %v", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
}
