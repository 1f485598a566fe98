package redis

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// moveAll is the Lua loop both scripts below end with: every job of the
// processing list KEYS[2] goes to the front of pending KEYS[3], keeping its
// order (LMOVE RIGHT LEFT, last first), so jobs a node had in flight are
// claimed before anything queued after them, as bolt does on reopen.
const moveAll = `
local n = 0
while redis.call('LMOVE', KEYS[2], KEYS[3], 'RIGHT', 'LEFT') do n = n + 1 end
`

// register takes this node's lease, lists the node, and takes back what it
// had in flight: KEYS lease, processing, pending, nodes; ARGV lease value,
// TTL in ms, node id. The lease goes first so that no reaper, which checks
// it atomically, moves the list concurrently.
var register = goredis.NewScript(`
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[4], ARGV[3])
` + moveAll + `
return n
`)

// reap requeues a dead node's jobs: KEYS as register's, ARGV node id. A
// node whose lease key exists is alive and left alone. A dead node with
// nothing left in flight is dropped from the node set, so the set does not
// grow with every pod ever started; it joins again with its next heartbeat.
var reap = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
` + moveAll + `
redis.call('SREM', KEYS[4], ARGV[1])
return n
`)

// register runs the register script for this node and returns how many jobs
// went back to pending.
func (s *Store) register(ctx context.Context) (int, error) {
	return register.Run(ctx, s.rdb,
		[]string{s.k.lease, s.k.processing, s.k.pending, s.k.nodes},
		s.leaseVal, s.ttl.Milliseconds(), s.node).Int()
}

// leaseValue tells an operator reading the key which process holds it.
func leaseValue() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("host=%s pid=%d since=%s", host, os.Getpid(), time.Now().UTC().Format(time.RFC3339))
}

// heartbeat renews the lease every TTL/3 until ctx ends, so two renewals
// can fail before other nodes see this one as dead. Runs in its own
// goroutine; failing is confined to it.
func (s *Store) heartbeat(ctx context.Context) {
	t := time.NewTicker(s.ttl / 3)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		lapsed, err := s.renew(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing {
				s.log.Warn("lease renewal failing; other nodes requeue this node's jobs if it lasts", "lease_ttl", s.ttl, "err", err)
			}
			failing = true
		case err == nil && failing:
			s.log.Info("lease renewed again")
			failing = false
		}
		if lapsed {
			s.log.Warn("this node's lease had expired: other nodes may have requeued its in-flight jobs, which may now run twice", "lease_ttl", s.ttl)
		}
	}
}

// renew sets the lease again and puts the node back in the node set (a
// reaper drops dead nodes from it). lapsed reports that the lease key was
// gone, i.e. other nodes took this node for dead.
func (s *Store) renew(ctx context.Context) (lapsed bool, err error) {
	var old *goredis.StatusCmd
	_, err = s.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		old = p.SetArgs(ctx, s.k.lease, s.leaseVal, goredis.SetArgs{TTL: s.ttl, Get: true})
		p.SAdd(ctx, s.k.nodes, s.node)
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return false, err
	}
	return errors.Is(old.Err(), goredis.Nil), nil
}

// reaper looks for dead nodes every TTL/2 until ctx ends. Runs in its own
// goroutine; failing is confined to it.
func (s *Store) reaper(ctx context.Context) {
	t := time.NewTicker(s.ttl / 2)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, err := s.ReapNow(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !s.closed.Load():
			if !failing {
				s.log.Warn("reaper failing", "err", err)
			}
			failing = true
		case err == nil && failing:
			s.log.Info("reaper working again")
			failing = false
		}
	}
}

// ReapNow requeues, at the front of the pending queue, the in-flight jobs of
// every other node whose lease has expired, and returns how many it moved.
// The reaper calls it every LeaseTTL/2; tests call it to wait on a lease
// expiry without waiting on the ticker. Each node is checked and emptied in
// one script, so a node renewing its lease meanwhile is never robbed.
func (s *Store) ReapNow(ctx context.Context) (int, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	nodes, err := s.rdb.SMembers(ctx, s.k.nodes).Result()
	if err != nil {
		return 0, s.fail("reap expired leases", err)
	}
	total := 0
	for _, node := range nodes {
		if node == s.node {
			continue // alive by definition; a lapsed lease of ours is renewed, not reaped
		}
		n, err := reap.Run(ctx, s.rdb,
			[]string{leaseKey(s.k.prefix, node), processingKey(s.k.prefix, node), s.k.pending, s.k.nodes},
			node).Int()
		if err != nil {
			return total, s.fail(fmt.Sprintf("reap node %s", node), err)
		}
		if n > 0 {
			s.log.Warn("requeued the in-flight jobs of a node whose lease expired", "dead_node_id", node, "jobs", n)
		}
		total += n
	}
	return total, nil
}
