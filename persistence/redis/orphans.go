package redis

import (
	"context"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// minSweepGap is the least time between two looks for orphans: a job
// counts as one only when two looks in a row found it unclaimed, so a
// claim whose reply was still on its way at the first look is never taken
// for one.
const minSweepGap = time.Second

// moveOne moves one copy of a job from a processing list (KEYS[1]) to the
// front of pending (KEYS[2]), only if it is there.
var moveOne = goredis.NewScript(`
local n = redis.call('LREM', KEYS[1], 1, ARGV[1])
if n > 0 then redis.call('LPUSH', KEYS[2], ARGV[1]) end
return n
`)

// hold records a job this process claimed (its stored JSON).
func (s *Store) hold(v string) {
	s.claimsMu.Lock()
	s.claims[v]++
	s.claimsMu.Unlock()
}

// unhold records that a claim was settled (acked, requeued, handed back),
// whether or not the write reached Redis: if it did not, the job is an
// orphan for sweepOrphans to requeue.
func (s *Store) unhold(v string) {
	s.claimsMu.Lock()
	if n := s.claims[v]; n <= 1 {
		delete(s.claims, v)
	} else {
		s.claims[v] = n - 1
	}
	s.claimsMu.Unlock()
}

// sweeper looks for orphans every sweepGap until ctx ends. Runs in its own
// goroutine; failing is confined to it (the next look tries again).
func (s *Store) sweeper(ctx context.Context) {
	t := time.NewTicker(s.sweepGap)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.SweepNow(ctx); err != nil && ctx.Err() == nil && !s.closed.Load() {
			s.log.Debug("looking for orphaned jobs failed", "err", err)
		}
	}
}

// SweepNow requeues, at the front of pending, the jobs in this node's
// processing list that this process holds no claim to and that the
// previous look found unclaimed too, and returns how many it moved.
//
// A live node's list can hold such orphans: an Ack or Requeue that failed
// while Redis was away (the caller logs it and moves on), a claim whose
// reply was lost with its connection, or an Ack or Requeue that a
// failover lost (the queue's moves are not WAITed: see doc.go). Without
// this they would wait for the node's restart, since a live node's lease
// never expires; with it they are redelivered within two sweeps, and the
// log settles a job whose image is already terminal.
//
// Tests call it to avoid waiting on the ticker.
func (s *Store) SweepNow(ctx context.Context) (int, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	vals, err := s.rdb.LRange(ctx, s.k.processing, 0, -1).Result()
	if err != nil {
		return 0, s.fail("look for orphaned jobs", err)
	}
	count := make(map[string]int, len(vals))
	for _, v := range vals {
		count[v]++
	}
	var move []string
	next := map[string]int{}
	s.claimsMu.Lock()
	for v, n := range count {
		extra := n - s.claims[v]
		if extra <= 0 {
			continue
		}
		k := min(extra, s.suspects[v])
		for range k {
			move = append(move, v)
		}
		if extra > k {
			next[v] = extra - k
		}
	}
	s.suspects = next
	s.claimsMu.Unlock()
	moved := 0
	for _, v := range move {
		n, err := moveOne.Run(ctx, s.rdb, []string{s.k.processing, s.k.pending}, v).Int()
		if err != nil {
			return moved, s.fail("requeue an orphaned job", err)
		}
		moved += n
	}
	if moved > 0 {
		s.log.Warn("requeued jobs this node's processing list held but no claim of this process did (an ack or requeue that failed or was lost, or a claim's lost reply)", "jobs", moved)
	}
	return moved, nil
}
