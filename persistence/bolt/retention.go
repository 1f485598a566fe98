package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/backlot/backlot/persistence"
	bbolt "go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"
)

var _ persistence.Retainer = (*Store)(nil)

// doneKey orders the retention index by the time done was recorded.
func doneKey(b *persistence.Batch) []byte {
	k := make([]byte, 8, 8+len(b.ID))
	binary.BigEndian.PutUint64(k, uint64(b.DoneAt.UnixNano()))
	return append(k, b.ID...)
}

// Expired lists up to limit ids of batches done before t, oldest first.
func (s *Store) Expired(ctx context.Context, before time.Time, limit int) ([]string, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	var ids []string
	end := uint64(before.UnixNano())
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketDone).Cursor()
		for k, _ := c.First(); k != nil && len(ids) < limit; k, _ = c.Next() {
			if len(k) < 8 || binary.BigEndian.Uint64(k) >= end {
				break
			}
			ids = append(ids, string(k[8:]))
		}
		return nil
	})
	if err != nil {
		return nil, s.fail("list expired batches", err)
	}
	return ids, nil
}

// Delete removes a done batch, its event log and its index entry in one
// transaction.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	err := s.update(func(tx *bbolt.Tx) error {
		b, err := s.getBatch(tx, id)
		if err != nil {
			return err
		}
		if !b.Done {
			return fmt.Errorf("%w: batch %s is not done", persistence.ErrConflict, id)
		}
		if err := tx.Bucket(bucketDone).Delete(doneKey(b)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketEvents).DeleteBucket([]byte(id)); err != nil && !errors.Is(err, bberrors.ErrBucketNotFound) {
			return err
		}
		return tx.Bucket(bucketBatches).Delete([]byte(id))
	})
	if err == nil {
		s.memo.Forget(id)
		s.fences.Forget(id)
	}
	return s.fail(fmt.Sprintf("delete batch %s", id), err)
}
