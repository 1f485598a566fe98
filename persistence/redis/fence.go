package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/backlot/backlot/persistence"
	goredis "github.com/redis/go-redis/v9"
)

// fenceScript increments a batch's fence counter, P:fence:{id}, only if
// the batch exists (KEYS[1] its batch key, KEYS[2] its fence key; one hash
// tag, so one slot). Nil for an unknown batch.
var fenceScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return redis.call('INCR', KEYS[2])
`)

// Fence makes the caller the batch's writer: INCR of P:fence:{id}, so
// every token is greater than the ones given before. The counter lives as
// long as the batch (Delete removes it). persistence.ErrNotFound for an
// unknown batch. With Options.WaitReplicas the token is returned only once
// that many replicas hold it; otherwise an error wrapping
// persistence.ErrUnavailable (the counter may have moved on the primary,
// which only skips a token).
func (s *Store) Fence(ctx context.Context, id string) (uint64, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	// One connection for the INCR and its WAIT: a token no replica holds
	// is never handed out, so a promoted replica cannot give it again.
	conn := s.rdb.Conn()
	defer conn.Close()
	n, err := fenceScript.Run(ctx, conn, []string{s.k.batch(id), s.k.fence(id)}).Int64()
	if err == nil {
		err = s.replicated(ctx, conn)
	}
	if err != nil {
		return 0, s.fail(fmt.Sprintf("fence batch %s", id), err)
	}
	return uint64(n), nil
}

// AppendFenced is Append with the fence key WATCHed beside the batch key
// and read in the same round: the MULTI/EXEC runs only if the fence is
// still token, so a Fence that lands between the read and the EXEC fails
// the EXEC, and the retry sees the newer token and refuses with
// persistence.ErrFenced.
//
// With no events it writes nothing and only checks: the batch, or
// ErrFenced. (One pipelined read of the batch and its fence; no WATCH, as
// nothing is written.)
func (s *Store) AppendFenced(ctx context.Context, id string, token uint64, evs ...persistence.Event) ([]persistence.Event, *persistence.Batch, error) {
	if len(evs) > 0 {
		return s.append(ctx, id, &token, evs)
	}
	if err := s.begin(ctx); err != nil {
		return nil, nil, err
	}
	op := fmt.Sprintf("check the fence of batch %s", id)
	var get, fence *goredis.StringCmd
	_, err := s.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		get = p.Get(ctx, s.k.batch(id))
		fence = p.Get(ctx, s.k.fence(id))
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) {
		return nil, nil, s.fail(op, err)
	}
	if err := get.Err(); err != nil {
		return nil, nil, s.fail(op, err)
	}
	if err := checkFence(fence, token); err != nil {
		return nil, nil, s.fail(op, err)
	}
	b, err := s.decodeBatch(id, []byte(get.Val()))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	return []persistence.Event{}, b, nil
}

// checkFence compares the fence read under WATCH with the writer's token.
func checkFence(fence *goredis.StringCmd, token uint64) error {
	cur := uint64(0) // never fenced
	if v, err := fence.Result(); err == nil {
		if cur, err = strconv.ParseUint(v, 10, 64); err != nil {
			return fmt.Errorf("%w: fence %q: %w", errCorrupt, v, err)
		}
	} else if !errors.Is(err, goredis.Nil) {
		return err
	}
	if cur != token {
		return fmt.Errorf("token %d, latest %d: %w", token, cur, persistence.ErrFenced)
	}
	return nil
}
