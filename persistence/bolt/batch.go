package bolt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/backlot/backlot/persistence"
	bbolt "go.etcd.io/bbolt"
)

// Create records b, its queued event as seq 1, one pending job per image in
// image order and b's entry in the unfinished index, in one durable
// transaction, then wakes a blocked claimer. persistence.ErrExists if the id
// is taken; then nothing is written.
func (s *Store) Create(ctx context.Context, b *persistence.Batch, queued persistence.Event) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	op := fmt.Sprintf("create batch %s", b.ID)
	rec, err := persistence.EncodeNew(b, queued)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	bv, ev, jobs := rec.Batch, rec.Queued, rec.Jobs
	id := []byte(b.ID)
	err = s.update(func(tx *bbolt.Tx) error {
		batches := tx.Bucket(bucketBatches)
		if batches.Get(id) != nil {
			return persistence.ErrExists
		}
		if err := batches.Put(id, bv); err != nil {
			return err
		}
		s.memo.Remember(b.ID, bv, b.Clone())
		log, err := tx.Bucket(bucketEvents).CreateBucket(id)
		if err != nil {
			return fmt.Errorf("event log: %w", err)
		}
		if err := log.Put(seqKey(queued.Seq), ev); err != nil {
			return err
		}
		pending := tx.Bucket(bucketPending)
		for _, j := range jobs {
			n, err := pending.NextSequence()
			if err != nil {
				return err
			}
			if err := pending.Put(seqKey(n), j); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketUnfinished).Put(id, []byte{})
	})
	if err != nil {
		return s.fail(op, err)
	}
	s.notify()
	return nil
}

// Batch returns the batch as last written. persistence.ErrNotFound if unknown.
func (s *Store) Batch(ctx context.Context, id string) (*persistence.Batch, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	var b *persistence.Batch
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		b, err = s.getBatch(tx, id)
		return err
	})
	if err != nil {
		return nil, s.fail(fmt.Sprintf("read batch %s", id), err)
	}
	return b, nil
}

// Events returns the batch's events with Seq > after, in order; an empty
// slice when after is at or beyond the last. persistence.ErrNotFound if the
// batch is unknown.
func (s *Store) Events(ctx context.Context, id string, after uint64) ([]persistence.Event, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	evs := []persistence.Event{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		log := tx.Bucket(bucketEvents).Bucket([]byte(id))
		if log == nil {
			return persistence.ErrNotFound
		}
		if after == math.MaxUint64 { // after+1 would wrap to the start
			return nil
		}
		c := log.Cursor()
		for k, v := c.Seek(seqKey(after + 1)); k != nil; k, v = c.Next() {
			var ev persistence.Event
			if err := json.Unmarshal(v, &ev); err != nil {
				return fmt.Errorf("decode event %x: %w", k, err)
			}
			evs = append(evs, ev)
		}
		return nil
	})
	if err != nil {
		return nil, s.fail(fmt.Sprintf("read events of batch %s after %d", id, after), err)
	}
	return evs, nil
}

// Append applies evs to the stored batch with Batch.Decide and stores the
// batch and the events it decided (done after the last terminal event) in
// one durable transaction; once done is among them the batch leaves the
// unfinished index. It returns the events with their
// sequence numbers and the batch after them. A broken rule returns an error
// wrapping persistence.ErrConflict (persistence.ErrNotFound for an unknown
// batch or image) and writes nothing. The caller's evs are not modified.
func (s *Store) Append(ctx context.Context, id string, evs ...persistence.Event) ([]persistence.Event, *persistence.Batch, error) {
	return s.append(ctx, id, nil, evs)
}

// append is Append; check, when not nil, runs inside the write once the
// batch is found and refuses it with its error (AppendFenced's fence).
func (s *Store) append(ctx context.Context, id string, check func(*bbolt.Tx) error, evs []persistence.Event) ([]persistence.Event, *persistence.Batch, error) {
	if err := s.begin(ctx); err != nil {
		return nil, nil, err
	}
	if len(evs) == 0 { // nothing to write: spare the commit and its fsync
		b, err := s.Batch(ctx, id)
		if err != nil {
			return nil, nil, err
		}
		return []persistence.Event{}, b, nil
	}
	var nb *persistence.Batch
	var out []persistence.Event
	err := s.update(func(tx *bbolt.Tx) error {
		b, err := s.getBatch(tx, id)
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(tx); err != nil {
				return err
			}
		}
		if nb, out, err = b.Decide(evs); err != nil { // fresh on every try
			return err
		}
		bv, err := json.Marshal(nb)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketBatches).Put([]byte(id), bv); err != nil {
			return err
		}
		s.memo.Remember(id, bv, nb.Clone())
		log := tx.Bucket(bucketEvents).Bucket([]byte(id))
		if log == nil {
			return errors.New("event log missing")
		}
		for i := range out {
			v, err := json.Marshal(&out[i])
			if err != nil {
				return err
			}
			if err := log.Put(seqKey(out[i].Seq), v); err != nil {
				return fmt.Errorf("event %d: %w", out[i].Seq, err)
			}
		}
		if nb.Done {
			if err := tx.Bucket(bucketDone).Put(doneKey(nb), []byte{}); err != nil {
				return err
			}
			return tx.Bucket(bucketUnfinished).Delete([]byte(id))
		}
		return nil
	})
	if err != nil {
		return nil, nil, s.fail(fmt.Sprintf("append to batch %s", id), err)
	}
	if nb.Done { // nothing is appended after done: its writer's token is no longer needed
		s.fences.Forget(id)
	}
	return out, nb, nil
}

// Unfinished lists the ids of batches whose done is not yet recorded, in
// byte order of their ids.
func (s *Store) Unfinished(ctx context.Context) ([]string, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	var ids []string
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketUnfinished).ForEach(func(k, _ []byte) error {
			ids = append(ids, string(k))
			return nil
		})
	})
	if err != nil {
		return nil, s.fail("list unfinished batches", err)
	}
	return ids, nil
}

// getBatch reads and decodes a batch inside tx: a batch of the caller's
// own, decoded afresh unless the memo holds these very bytes.
func (s *Store) getBatch(tx *bbolt.Tx, id string) (*persistence.Batch, error) {
	v := tx.Bucket(bucketBatches).Get([]byte(id))
	if v == nil {
		return nil, persistence.ErrNotFound
	}
	return s.memo.Decode(id, v) // v is not kept: it lives only as long as tx
}
