package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/backlot/backlot/persistence"
	bbolt "go.etcd.io/bbolt"
)

// Claim moves the oldest pending job to in flight and returns it. With
// nothing pending it waits until Create or Requeue adds work, ctx ends
// (ctx.Err()) or the store is closed (persistence.ErrClosed). Any number of
// goroutines may wait; each job goes to exactly one of them, because the
// move happens in a write transaction and bbolt runs one at a time.
func (s *Store) Claim(ctx context.Context) (persistence.Job, error) {
	for {
		if err := s.begin(ctx); err != nil {
			return persistence.Job{}, err
		}
		// Take the wake channel before looking: work added after the look
		// closes this very channel, so the wait below cannot miss it.
		s.mu.Lock()
		wake := s.wake
		s.mu.Unlock()

		j, ok, err := s.claimOne()
		if err != nil || ok {
			return j, err
		}
		select {
		case <-wake:
		case <-s.done:
			return persistence.Job{}, persistence.ErrClosed
		case <-ctx.Done():
			return persistence.Job{}, ctx.Err()
		}
	}
}

// claimOne moves the first pending job, if any, to in flight.
func (s *Store) claimOne() (j persistence.Job, ok bool, err error) {
	err = s.update(func(tx *bbolt.Tx) error {
		j, ok = persistence.Job{}, false // this may be a second run (see update)
		pending := tx.Bucket(bucketPending)
		k, v := pending.Cursor().First()
		if k == nil {
			return nil
		}
		if err := json.Unmarshal(v, &j); err != nil {
			return fmt.Errorf("decode job %x: %w", k, err)
		}
		// k and v belong to the page being changed; copy before Delete.
		k, v = bytes.Clone(k), bytes.Clone(v)
		if err := pending.Delete(k); err != nil {
			return err
		}
		ok = true
		return tx.Bucket(bucketInflight).Put(k, v)
	})
	if err != nil {
		return persistence.Job{}, false, s.fail("claim job", err)
	}
	return j, ok, nil
}

// Ack removes j from in flight for good. A job that is not in flight (acked
// already, or never claimed) is left alone and is not an error.
func (s *Store) Ack(ctx context.Context, j persistence.Job) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	err := s.update(func(tx *bbolt.Tx) error {
		inflight := tx.Bucket(bucketInflight)
		keys, err := findJob(inflight, j)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := inflight.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	return s.fail(fmt.Sprintf("ack job %s", j), err)
}

// Requeue moves j from in flight to the end of the pending queue and wakes a
// claimer. A job that is not in flight is left alone and is not an error:
// enqueueing it anyway could hand out a job that is still pending, or one
// acked already, a second time.
func (s *Store) Requeue(ctx context.Context, j persistence.Job) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	moved := false
	err := s.update(func(tx *bbolt.Tx) error {
		moved = false // this may be a second run (see update)
		inflight, pending := tx.Bucket(bucketInflight), tx.Bucket(bucketPending)
		keys, err := findJob(inflight, j)
		if err != nil {
			return err
		}
		for _, k := range keys {
			v := bytes.Clone(inflight.Get(k))
			if err := inflight.Delete(k); err != nil {
				return err
			}
			n, err := pending.NextSequence()
			if err != nil {
				return err
			}
			if err := pending.Put(seqKey(n), v); err != nil {
				return err
			}
			moved = true
		}
		return nil
	})
	if err != nil {
		return s.fail(fmt.Sprintf("requeue job %s", j), err)
	}
	if moved {
		s.notify()
	}
	return nil
}

// findJob returns the keys of the in-flight entries holding j. It scans the
// bucket: in flight holds at most one job per busy worker, so it stays small,
// and a secondary index would cost a write on every claim.
func findJob(inflight *bbolt.Bucket, j persistence.Job) ([][]byte, error) {
	var keys [][]byte
	err := inflight.ForEach(func(k, v []byte) error {
		var got persistence.Job
		if err := json.Unmarshal(v, &got); err != nil {
			return fmt.Errorf("decode job %x: %w", k, err)
		}
		if got == j {
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	})
	return keys, err
}

// notify wakes every waiting claimer; each then tries a claim of its own, and
// those that find nothing wait again on the fresh channel.
func (s *Store) notify() {
	s.mu.Lock()
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
}
