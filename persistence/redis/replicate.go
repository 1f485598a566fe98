package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/backlot/backlot/persistence"
	goredis "github.com/redis/go-redis/v9"
)

// waiter is a connection that has just written: a *goredis.Tx inside
// watch, or a *goredis.Conn. WAIT counts the replicas that acknowledged
// everything that connection wrote, so it must be the same one.
type waiter interface {
	Wait(ctx context.Context, numSlaves int, timeout time.Duration) *goredis.IntCmd
}

// replicated waits until Options.WaitReplicas replicas hold what c wrote
// (WAIT n timeout, on c), and fails with an error wrapping
// persistence.ErrUnavailable if fewer did within Options.WaitTimeout. The
// write itself has happened on the primary either way: the caller treats
// the failure as it treats any ErrUnavailable after a write, "maybe
// written" (doc.go, "Failover").
func (s *Store) replicated(ctx context.Context, c waiter) error {
	if s.waitN == 0 {
		return nil
	}
	n, err := c.Wait(ctx, s.waitN, s.waitFor).Result()
	if err != nil {
		return err
	}
	if int(n) < s.waitN {
		return fmt.Errorf("%w: written on the primary, but %d of the %d replicas asked for acknowledged it within %s",
			persistence.ErrUnavailable, n, s.waitN, s.waitFor)
	}
	return nil
}

// checkReplicas warns at Open about a setup that loses writes in a
// failover (Sentinel without WAIT) or cannot take any (fewer replicas
// connected than WAIT asks for). A Redis that refuses INFO is not checked.
func (s *Store) checkReplicas(ctx context.Context, sentinel bool) {
	if sentinel && s.waitN == 0 {
		s.log.Warn("behind Sentinel without WAIT: a failover can lose writes Backlot acknowledged (set the replicas to wait for)")
	}
	if s.waitN == 0 {
		return
	}
	info, err := s.rdb.Info(ctx, "replication").Result()
	if err != nil {
		return
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "connected_slaves:"); ok {
			if n, err := strconv.Atoi(v); err == nil && n < s.waitN {
				s.log.Warn("fewer replicas connected than each write waits for: writes fail (503) until enough are",
					"connected_replicas", n, "wait_replicas", s.waitN)
			}
		}
	}
}
