package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/backlot/backlot/persistence"
	bbolt "go.etcd.io/bbolt"
)

// Claims are not written to the file. A claimed job stays in pending, its
// key marked in s.claimed, until Ack deletes it or Requeue moves it to the
// back; a crash forgets the marks, so every job not acked is pending again
// at the next Open, which is what writing the claim (and moving it back at
// Open) would give, minus a durable commit per job.

// Claim marks the oldest pending job not claimed yet and returns it. With
// nothing to claim it waits until Create or Requeue adds work, ctx ends
// (ctx.Err()) or the store is closed (persistence.ErrClosed). Any number of
// goroutines may wait; each job goes to exactly one of them, because the
// search and the mark happen under one lock.
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

// claimOne marks the first pending job not claimed, if any.
func (s *Store) claimOne() (j persistence.Job, ok bool, err error) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	err = s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketPending).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if _, taken := s.claimed[string(k)]; taken {
				continue // at most one per claim slot: a short skip
			}
			if _, gone := s.acked[string(k)]; gone {
				continue
			}
			if err := json.Unmarshal(v, &j); err != nil {
				return fmt.Errorf("decode job %x: %w", k, err)
			}
			s.claimed[string(k)] = j
			ok = true
			return nil
		}
		return nil
	})
	if err != nil {
		return persistence.Job{}, false, s.fail("claim job", err)
	}
	return j, ok, nil
}

// keysOf returns the keys j is claimed under (one, unless a bug elsewhere
// enqueued it twice).
func (s *Store) keysOf(j persistence.Job) [][]byte {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	return s.keysLocked(j)
}

// keysLocked is keysOf for a caller holding s.qmu.
func (s *Store) keysLocked(j persistence.Job) [][]byte {
	var keys [][]byte
	for k, got := range s.claimed {
		if got == j {
			keys = append(keys, []byte(k))
		}
	}
	return keys
}

// unclaim drops the marks of keys, after the write that settled them.
func (s *Store) unclaim(keys [][]byte) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	for _, k := range keys {
		delete(s.claimed, string(k))
	}
}

// Ack removes the claimed job j for good. A job that is not claimed (acked
// already, or never claimed) is left alone and is not an error.
//
// Ack does not wait for its commit: j's key moves from s.claimed to
// s.acked (so nobody claims it again) and its delete goes with the next
// group commit, after which the mark is dropped. A crash before that commit redelivers j after the
// restart, which a claimer must tolerate anyway (see doc.go); a Close
// commits it. So an ack costs its caller no fsync.
func (s *Store) Ack(ctx context.Context, j persistence.Job) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	s.qmu.Lock()
	keys := s.keysLocked(j)
	for _, k := range keys { // from claimed to acked: no longer in flight, still not claimable
		delete(s.claimed, string(k))
		s.acked[string(k)] = struct{}{}
	}
	s.qmu.Unlock()
	if len(keys) == 0 {
		return nil
	}
	s.updateAsync(func(tx *bbolt.Tx) error {
		pending := tx.Bucket(bucketPending)
		for _, k := range keys {
			if err := pending.Delete(k); err != nil {
				return err
			}
		}
		return nil
	}, func(err error) {
		if err == nil {
			s.qmu.Lock()
			for _, k := range keys {
				delete(s.acked, string(k))
			}
			s.qmu.Unlock()
		}
		// On failure the mark stays: j is not handed out again by this
		// process, and the next Open redelivers it.
	})
	return nil
}

// Requeue moves the claimed job j to the end of the pending queue and wakes
// a claimer. A job that is not claimed is left alone and is not an error:
// enqueueing it anyway could hand out a job that is still pending, or one
// acked already, a second time.
func (s *Store) Requeue(ctx context.Context, j persistence.Job) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	keys := s.keysOf(j)
	if len(keys) == 0 {
		return nil
	}
	err := s.update(func(tx *bbolt.Tx) error {
		pending := tx.Bucket(bucketPending)
		for _, k := range keys {
			v := bytes.Clone(pending.Get(k))
			if v == nil {
				continue
			}
			if err := pending.Delete(k); err != nil {
				return err
			}
			n, err := pending.NextSequence()
			if err != nil {
				return err
			}
			if err := pending.Put(seqKey(n), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return s.fail(fmt.Sprintf("requeue job %s", j), err)
	}
	s.unclaim(keys) // the new keys were never marked
	s.notify()
	return nil
}

// notify wakes every waiting claimer; each then tries a claim of its own, and
// those that find nothing wait again on the fresh channel.
func (s *Store) notify() {
	s.mu.Lock()
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
}
