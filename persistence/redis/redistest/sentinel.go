package redistest

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// SentinelConfig is what the Sentinels of StartSentinels are told about
// their primary. The zero value is a 2-of-3 quorum that takes a primary
// for dead after a second of silence.
type SentinelConfig struct {
	Master          string        // the monitored name (default "backlot")
	Quorum          int           // Sentinels that must agree the primary is down (default a majority)
	DownAfter       time.Duration // down-after-milliseconds (default 1 s)
	FailoverTimeout time.Duration // failover-timeout (default 5 s)
	Secure          Secure        // the primary's password and TLS, and the Sentinels' own password
}

// Sentinels are `redis-server --sentinel` processes monitoring one primary,
// each on a free port of 127.0.0.1 in a directory of its own.
type Sentinels struct {
	Master string   // the name they monitor
	Addrs  []string // 127.0.0.1:port of each

	procs []*Server
	down  time.Duration
	sec   Secure
}

// StartSentinels starts n Sentinels monitoring primary and returns once
// each answers PING. They find each other and the primary's replicas
// through the primary within a few seconds: Ready waits for that.
func StartSentinels(t testing.TB, primary *Server, n int, c SentinelConfig) *Sentinels {
	t.Helper()
	if c.Master == "" {
		c.Master = "backlot"
	}
	if c.Quorum == 0 {
		c.Quorum = n/2 + 1
	}
	if c.DownAfter == 0 {
		c.DownAfter = time.Second
	}
	if c.FailoverTimeout == 0 {
		c.FailoverTimeout = 5 * time.Second
	}
	host, port, _ := net.SplitHostPort(primary.Addr)
	monitor := fmt.Sprintf("sentinel monitor %[1]s %[2]s %[3]s %[4]d\n"+
		"sentinel down-after-milliseconds %[1]s %[5]d\n"+
		"sentinel failover-timeout %[1]s %[6]d\n"+
		"sentinel parallel-syncs %[1]s 1\n",
		c.Master, host, port, c.Quorum, c.DownAfter.Milliseconds(), c.FailoverTimeout.Milliseconds())
	if c.Secure.Password != "" {
		monitor += fmt.Sprintf("sentinel auth-pass %s %s\n", c.Master, c.Secure.Password)
	}
	ss := &Sentinels{Master: c.Master, down: c.DownAfter, sec: c.Secure}
	bin := lookPath(t)
	for range n {
		s := &Server{bin: bin, sentinel: monitor, Dir: t.TempDir(), sec: c.Secure}
		t.Cleanup(func() { s.stop(t, syscall.SIGTERM) })
		s.listen(t, "redis-server --sentinel")
		ss.procs = append(ss.procs, s)
		ss.Addrs = append(ss.Addrs, s.Addr)
	}
	return ss
}

// URL is Backlot's URL of database db through these Sentinels:
// redis-sentinel://host:port,host:port,…/db?master=NAME.
func (ss *Sentinels) URL(db int) string {
	return fmt.Sprintf("redis-sentinel://%s/%d?master=%s", strings.Join(ss.Addrs, ","), db, ss.Master)
}

// Ready waits (bounded by within) until every Sentinel sees the primary
// at primary, up, with the other Sentinels and at least replicas replicas
// that are up: only then can they agree on a failover and promote one.
func (ss *Sentinels) Ready(t testing.TB, primary string, replicas int, within time.Duration) {
	t.Helper()
	var last string
	poll(t, within, func() bool {
		for _, addr := range ss.Addrs {
			ok, why := ss.readyAt(addr, primary, replicas)
			if !ok {
				last = fmt.Sprintf("sentinel %s: %s", addr, why)
				return false
			}
		}
		return true
	}, func() string { return "the Sentinels to be ready: " + last })
}

func (ss *Sentinels) readyAt(addr, primary string, replicas int) (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c := goredis.NewSentinelClient(ss.sec.options(addr, true))
	defer c.Close()
	m, err := c.Master(ctx, ss.Master).Result()
	if err != nil {
		return false, err.Error()
	}
	if got := net.JoinHostPort(m["ip"], m["port"]); got != primary {
		return false, "primary " + got
	}
	if strings.Contains(m["flags"], "down") || strings.Contains(m["flags"], "failover") {
		return false, "primary flags " + m["flags"]
	}
	if n, _ := strconv.Atoi(m["num-other-sentinels"]); n != len(ss.Addrs)-1 {
		return false, fmt.Sprintf("%d other sentinels known", n)
	}
	reps, err := c.Replicas(ctx, ss.Master).Result()
	if err != nil {
		return false, err.Error()
	}
	up := 0
	for _, r := range reps {
		if !strings.Contains(r["flags"], "down") && !strings.Contains(r["flags"], "disconnected") &&
			r["master-link-status"] == "ok" {
			up++
		}
	}
	if up < replicas {
		return false, fmt.Sprintf("%d of %d replicas up", up, replicas)
	}
	return true, ""
}

// WaitFailover waits (bounded by within) until every Sentinel names a
// primary other than old and that server says it is one, and returns its
// address.
func (ss *Sentinels) WaitFailover(t testing.TB, old string, within time.Duration) string {
	t.Helper()
	var now, last string
	poll(t, within, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		now = ""
		for _, addr := range ss.Addrs {
			c := goredis.NewSentinelClient(ss.sec.options(addr, true))
			hp, err := c.GetMasterAddrByName(ctx, ss.Master).Result()
			c.Close()
			if err != nil {
				last = fmt.Sprintf("sentinel %s: %v", addr, err)
				return false
			}
			a := net.JoinHostPort(hp[0], hp[1])
			if a == old || (now != "" && a != now) {
				last = fmt.Sprintf("sentinel %s names %s", addr, a)
				return false
			}
			now = a
		}
		if role := ss.sec.role(now); role != "master" {
			last = fmt.Sprintf("%s says it is %q", now, role)
			return false
		}
		return true
	}, func() string { return "a failover away from " + old + ": " + last })
	return now
}

// role is what the server at addr says it is (ROLE): "master", "slave",
// or "" when it does not answer.
func (sec Secure) role(addr string) string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c := goredis.NewClient(sec.options(addr, false))
	defer c.Close()
	v, err := c.Do(ctx, "ROLE").Slice()
	if err != nil || len(v) == 0 {
		return ""
	}
	s, _ := v[0].(string)
	return s
}

// WaitSynced waits (bounded by within) until the replica's link to its
// primary is up, its initial sync is over and the primary counts it
// online (after the replica's first acknowledgement, up to a second after
// the sync): only then does WAIT on the primary count it.
func (s *Server) WaitSynced(t testing.TB, within time.Duration) {
	t.Helper()
	var last string
	poll(t, within, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		info, err := s.sec.infoReplication(ctx, s.Addr)
		if err != nil {
			last = err.Error()
			return false
		}
		last = info
		if !strings.Contains(info, "master_link_status:up") || !strings.Contains(info, "master_sync_in_progress:0") {
			return false
		}
		primary := net.JoinHostPort(field(info, "master_host"), field(info, "master_port"))
		pinfo, err := s.sec.infoReplication(ctx, primary)
		if err != nil {
			last = "primary " + primary + ": " + err.Error()
			return false
		}
		last = "primary " + primary + ":\n" + pinfo
		if !strings.Contains(pinfo, fmt.Sprintf("port=%d,state=online", s.port)) {
			return false
		}
		// Online is not yet acknowledging: right after its sync a replica
		// can take a moment before WAIT counts it. Ask WAIT itself, after
		// a write that touches no key (PUBLISH is replicated).
		all := int64(strings.Count(pinfo, "state=online"))
		c := goredis.NewClient(s.sec.options(primary, false))
		defer c.Close()
		var w *goredis.Cmd
		_, err = c.Pipelined(ctx, func(p goredis.Pipeliner) error {
			p.Publish(ctx, "redistest:probe", "sync")
			w = p.Do(ctx, "WAIT", all, 100)
			return nil
		})
		n, _ := w.Int64()
		last = fmt.Sprintf("WAIT after a write: %d replicas, %v", n, err)
		return err == nil && n >= all
	}, func() string { return s.Addr + " to sync with its primary; INFO replication:\n" + last })
}

func (sec Secure) infoReplication(ctx context.Context, addr string) (string, error) {
	c := goredis.NewClient(sec.options(addr, false))
	defer c.Close()
	return c.Info(ctx, "replication").Result()
}

// field is the value of name in an INFO reply, or "".
func field(info, name string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// poll checks cond every pollEvery until it holds, failing the test after
// within: a deadlock guard, not a speed assertion.
func poll(t testing.TB, within time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what())
		}
		<-tick.C
	}
}
