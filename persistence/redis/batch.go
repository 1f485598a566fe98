package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/backlot/backlot/persistence"
	goredis "github.com/redis/go-redis/v9"
)

// maxTxTries bounds the optimistic WATCH/MULTI/EXEC loop. A failed EXEC
// means another node wrote the batch in between, and each round one writer
// wins, so a handful of tries is normal under contention; running out means
// a storm of writers, and the caller may retry later.
const maxTxTries = 50

// Create records b (SET), its queued event as the first entry of its log
// (RPUSH), one pending job per image in image order (RPUSH) and b's id in
// the unfinished set (SADD), in one MULTI/EXEC under a WATCH of the batch
// key, then returns. persistence.ErrExists if the id is taken; then nothing
// is written. It is as durable as Redis's appendfsync setting makes it (see
// the package doc).
func (s *Store) Create(ctx context.Context, b *persistence.Batch, queued persistence.Event) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	op := fmt.Sprintf("create batch %s", b.ID)
	rec, err := persistence.EncodeNew(b, queued)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	bv, ev := rec.Batch, rec.Queued
	jobs := make([]any, len(rec.Jobs))
	for i, j := range rec.Jobs {
		jobs[i] = j
	}
	bk, ek := s.k.batch(b.ID), s.k.events(b.ID)
	err = s.watch(ctx, func(tx *goredis.Tx) error {
		n, err := tx.Exists(ctx, bk).Result()
		if err != nil {
			return err
		}
		if n > 0 {
			return persistence.ErrExists
		}
		_, err = tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			p.Set(ctx, bk, bv, 0)
			p.Del(ctx, ek) // a log without its batch is debris; never let it precede event 1
			p.RPush(ctx, ek, ev)
			if len(jobs) > 0 {
				p.RPush(ctx, s.k.pending, jobs...)
			}
			p.SAdd(ctx, s.k.unfinished, b.ID)
			return nil
		})
		if err != nil {
			return err
		}
		return s.replicated(ctx, tx)
	}, bk)
	return s.fail(op, err)
}

// Batch returns the batch as last written. persistence.ErrNotFound if unknown.
func (s *Store) Batch(ctx context.Context, id string) (*persistence.Batch, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	op := fmt.Sprintf("read batch %s", id)
	v, err := s.rdb.Get(ctx, s.k.batch(id)).Bytes()
	if err != nil {
		return nil, s.fail(op, err)
	}
	b, err := s.decodeBatch(id, v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return b, nil
}

// Events returns the batch's events with Seq > after, in order: the log
// list from index after (seq n is at index n-1). An empty slice when after
// is at or beyond the last; persistence.ErrNotFound if the batch is unknown.
func (s *Store) Events(ctx context.Context, id string, after uint64) ([]persistence.Event, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	op := fmt.Sprintf("read events of batch %s after %d", id, after)
	var exists *goredis.IntCmd
	var tail *goredis.StringSliceCmd
	_, err := s.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		exists = p.Exists(ctx, s.k.batch(id))
		if after <= math.MaxInt64 { // LRANGE takes a signed index; beyond it there is nothing
			tail = p.LRange(ctx, s.k.events(id), int64(after), -1)
		}
		return nil
	})
	if err != nil {
		return nil, s.fail(op, err)
	}
	if exists.Val() == 0 {
		return nil, fmt.Errorf("%s: %w", op, persistence.ErrNotFound)
	}
	evs := []persistence.Event{}
	if tail == nil {
		return evs, nil
	}
	for i, v := range tail.Val() {
		var ev persistence.Event
		if err := json.Unmarshal([]byte(v), &ev); err != nil {
			return nil, fmt.Errorf("%s: decode event %d: %w: %w", op, after+uint64(i)+1, errCorrupt, err)
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// Append applies evs with Batch.Decide to the batch as stored and writes
// the new batch (SET) and the events (RPUSH) in one MULTI/EXEC, which runs
// only if the batch key is unchanged since it was read (WATCH); otherwise it
// reads again and retries. Every writer of a log also writes its batch key,
// so watching that one key is enough: two nodes racing never produce a gap,
// a repeated seq or a second terminal event. Once done is among evs the
// batch leaves the unfinished set and enters the retention index (P:done)
// in the same transaction.
//
// A broken rule returns an error wrapping persistence.ErrConflict
// (persistence.ErrNotFound for an unknown batch or image) and writes
// nothing. An error wrapping persistence.ErrUnavailable leaves the outcome
// unknown: the EXEC may have run before the connection failed. The caller's
// evs are not modified.
func (s *Store) Append(ctx context.Context, id string, evs ...persistence.Event) ([]persistence.Event, *persistence.Batch, error) {
	return s.append(ctx, id, nil, evs)
}

// append is Append, and AppendFenced when token is not nil: then the fence
// key is WATCHed too and compared with *token inside the same transaction.
func (s *Store) append(ctx context.Context, id string, token *uint64, evs []persistence.Event) ([]persistence.Event, *persistence.Batch, error) {
	if err := s.begin(ctx); err != nil {
		return nil, nil, err
	}
	if len(evs) == 0 { // nothing to write
		b, err := s.Batch(ctx, id)
		if err != nil {
			return nil, nil, err
		}
		return []persistence.Event{}, b, nil
	}
	op := fmt.Sprintf("append to batch %s", id)
	mu := s.batchLock(id)
	mu.Lock()
	defer mu.Unlock()

	bk, ek, fk := s.k.batch(id), s.k.events(id), s.k.fence(id)
	watched := []string{bk}
	if token != nil {
		watched = append(watched, fk)
	}
	var out []persistence.Event
	var nb *persistence.Batch
	err := s.watch(ctx, func(tx *goredis.Tx) error {
		var get, fence *goredis.StringCmd
		var n *goredis.IntCmd
		_, err := tx.Pipelined(ctx, func(p goredis.Pipeliner) error {
			get = p.Get(ctx, bk)
			n = p.LLen(ctx, ek)
			if token != nil {
				fence = p.Get(ctx, fk)
			}
			return nil
		})
		if err != nil && !errors.Is(err, goredis.Nil) {
			return err
		}
		if err := get.Err(); err != nil {
			return err // goredis.Nil: an unknown batch
		}
		if token != nil {
			if err := checkFence(fence, *token); err != nil {
				return err
			}
		}
		b, err := s.decodeBatch(id, []byte(get.Val()))
		if err != nil {
			return err
		}
		if uint64(n.Val()) != b.LastSeq {
			return fmt.Errorf("%w: batch %s has LastSeq %d but its log holds %d events", errCorrupt, id, b.LastSeq, n.Val())
		}
		if nb, out, err = b.Decide(evs); err != nil { // fresh on every try
			return err
		}
		bv, err := json.Marshal(nb)
		if err != nil {
			return err
		}
		s.memo.Remember(id, bv, nb.Clone()) // used only if these bytes are what EXEC stores
		vals := make([]any, len(out))
		for i := range out {
			if vals[i], err = json.Marshal(&out[i]); err != nil {
				return err
			}
		}
		_, err = tx.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			p.Set(ctx, bk, bv, goredis.KeepTTL)
			p.RPush(ctx, ek, vals...)
			if nb.Done {
				p.SRem(ctx, s.k.unfinished, id)
				p.ZAdd(ctx, s.k.done, goredis.Z{Score: doneScore(nb, time.Now()), Member: id})
			}
			return nil
		})
		if err != nil {
			return err
		}
		return s.replicated(ctx, tx)
	}, watched...)
	if err != nil {
		return nil, nil, s.fail(op, err)
	}
	return out, nb, nil
}

// Unfinished lists the ids of batches whose done is not yet recorded, sorted.
func (s *Store) Unfinished(ctx context.Context) ([]string, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	ids, err := s.rdb.SMembers(ctx, s.k.unfinished).Result()
	if err != nil {
		return nil, s.fail("list unfinished batches", err)
	}
	slices.Sort(ids)
	return ids, nil
}

// watch runs fn under a WATCH of keys until its EXEC goes through, fn fails,
// or maxTxTries EXECs in a row found a watched key changed (then an error
// wrapping persistence.ErrUnavailable: contention, not a broken rule).
// Each round one writer wins, but the same writer can keep losing to
// others (seen in CI: 50 losses in a row with six writers on two nodes), so
// after a lost round it waits a short random time, growing with the
// losses, before it reads again: contention backoff, which spreads the
// writers out so that every one gets its turn.
func (s *Store) watch(ctx context.Context, fn func(*goredis.Tx) error, keys ...string) error {
	for try := range maxTxTries {
		if err := s.begin(ctx); err != nil {
			return err
		}
		err := s.rdb.Watch(ctx, fn, keys...)
		if !errors.Is(err, goredis.TxFailedErr) {
			return err
		}
		backoff := time.Duration(rand.Int64N(int64(min(try+1, 20)) * int64(100*time.Microsecond)))
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	return fmt.Errorf("%w: %d transactions in a row lost the race for %v", persistence.ErrUnavailable, maxTxTries, keys)
}

// decodeBatch decodes id's stored JSON v, through the memo.
func (s *Store) decodeBatch(id string, v []byte) (*persistence.Batch, error) {
	b, err := s.memo.Decode(id, v)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	return b, nil
}
