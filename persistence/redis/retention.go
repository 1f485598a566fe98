package redis

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/backlot/backlot/persistence"
	goredis "github.com/redis/go-redis/v9"
)

var _ persistence.Retainer = (*Store)(nil)

// doneScore is the retention index's score for b: when its done was
// recorded, in Unix microseconds, which a float64 score holds exactly
// until the year 2255 (nanoseconds would not fit its 53 bits). A done event
// without a time (callers are meant to set Event.At) counts from now, the
// moment it is recorded, rather than from year 1, which would expire it at
// the next sweep.
func doneScore(b *persistence.Batch, now time.Time) float64 {
	at := b.DoneAt
	if at.IsZero() {
		at = now
	}
	return float64(at.UnixMicro())
}

// Expired lists up to limit ids of batches whose done was recorded before
// t, oldest first (ties by id): ZRANGE P:done -inf (t BYSCORE LIMIT 0 limit.
func (s *Store) Expired(ctx context.Context, before time.Time, limit int) ([]string, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	ids, err := s.rdb.ZRangeArgs(ctx, goredis.ZRangeArgs{
		Key:     s.k.done,
		Start:   "-inf",
		Stop:    "(" + strconv.FormatInt(before.UnixMicro(), 10), // strictly before
		ByScore: true,
		Count:   int64(limit),
	}).Result()
	if err != nil {
		return nil, s.fail("list expired batches", err)
	}
	return ids, nil
}

// Delete removes a done batch, its event log and its retention entry in one
// MULTI/EXEC, under a WATCH of the batch key read to check it is done.
// persistence.ErrNotFound if unknown; an error wrapping
// persistence.ErrConflict if the batch is not done, and then nothing changes.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	bk := s.k.batch(id)
	err := s.watch(ctx, func(tx *goredis.Tx) error {
		v, err := tx.Get(ctx, bk).Bytes()
		if err != nil {
			return err
		}
		b, err := s.decodeBatch(id, v)
		if err != nil {
			return err
		}
		if !b.Done {
			return fmt.Errorf("%w: batch %s is not done", persistence.ErrConflict, id)
		}
		_, err = tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			p.Del(ctx, bk, s.k.events(id), s.k.fence(id))
			p.ZRem(ctx, s.k.done, id)
			return nil
		})
		if err != nil {
			return err
		}
		return s.replicated(ctx, tx)
	}, bk)
	if err == nil {
		s.memo.Forget(id)
	}
	return s.fail(fmt.Sprintf("delete batch %s", id), err)
}
