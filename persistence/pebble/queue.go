package pebble

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/backlot/backlot/persistence"
	"github.com/cockroachdb/pebble/v2"
)

// The queue lives in the database as 'p' seq → Job, from Create until
// Ack deletes it, and in memory as the same jobs in seq order, so that a
// Claim reads nothing from disk and never walks the tombstones acked jobs
// leave at the head of the queue until a compaction drops them.
//
// Claims are not written, as in the bbolt store: a claimed job moves from
// pending to claimed in memory only. A crash forgets the marks, and Open
// loads every job not acked as pending again, in seq order, so a job
// claimed when the process died is redelivered first.

// job is a pending job: its key's seq, its stored JSON and its value.
type job struct {
	seq uint64
	raw []byte
	j   persistence.Job
}

// queue is the in-memory side of the pending queue. Safe for concurrent
// use; the zero value is empty.
type queue struct {
	mu      sync.Mutex
	last    uint64         // the last seq given (next)
	pending []job          // not claimed, increasing seq
	claimed map[uint64]job // claimed, not settled
}

// load fills q from db at Open: every stored job is pending.
func (q *queue) load(db *pebble.DB) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.claimed = map[uint64]job{}
	return scan(db, []byte{kindPending}, nil, func(k, v []byte) error {
		if len(k) != 9 {
			return fmt.Errorf("queue key %x: not a sequence number", k)
		}
		jb := job{seq: binary.BigEndian.Uint64(k[1:]), raw: append([]byte(nil), v...)}
		if err := json.Unmarshal(jb.raw, &jb.j); err != nil {
			return fmt.Errorf("decode job %x: %w", k, err)
		}
		q.pending = append(q.pending, jb)
		q.last = jb.seq
		return nil
	})
}

// next gives the next seq: greater than every one stored or given.
func (q *queue) next() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.last++
	return q.last
}

// push adds committed jobs as pending, keeping seq order (concurrent
// commits may land out of the order their seqs were given).
func (q *queue) push(jobs ...job) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, jb := range jobs {
		i := len(q.pending)
		for i > 0 && q.pending[i-1].seq > jb.seq {
			i--
		}
		q.pending = slices.Insert(q.pending, i, jb)
	}
}

// claim moves the first pending job to claimed.
func (q *queue) claim() (job, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) == 0 {
		return job{}, false
	}
	jb := q.pending[0]
	q.pending[0] = job{}
	q.pending = q.pending[1:]
	if len(q.pending) == 0 {
		q.pending = nil // let the array go
	}
	q.claimed[jb.seq] = jb
	return jb, true
}

// claimedAs returns the claimed jobs that are j (one, unless a bug
// elsewhere enqueued it twice), removing them from the claimed set.
func (q *queue) claimedAs(j persistence.Job) []job {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []job
	for seq, jb := range q.claimed {
		if jb.j == j {
			out = append(out, jb)
			delete(q.claimed, seq)
		}
	}
	return out
}

func (q *queue) depth() (pending, inflight int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending), len(q.claimed)
}

// Claim takes the oldest pending job and marks it claimed. With nothing to
// claim it waits until Create or Requeue adds work, ctx ends (ctx.Err())
// or the store is closed (persistence.ErrClosed). Any number of
// goroutines may wait; each job goes to exactly one of them.
func (s *Store) Claim(ctx context.Context) (persistence.Job, error) {
	for {
		if s.closed.Load() {
			return persistence.Job{}, persistence.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return persistence.Job{}, err
		}
		// Take the wake channel before looking: work added after the look
		// closes this very channel, so the wait below cannot miss it.
		s.mu.Lock()
		wake := s.wake
		s.mu.Unlock()
		if jb, ok := s.q.claim(); ok {
			return jb.j, nil
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

// Ack removes the claimed job j for good. A job that is not claimed (acked
// already, or never claimed) is left alone and is not an error.
//
// Ack does not wait for a sync: its delete is written to the log unsynced
// and becomes durable with the next synced commit. A crash before that
// redelivers j after the restart, which a claimer must tolerate anyway (a
// second terminal event is refused with persistence.ErrConflict).
func (s *Store) Ack(ctx context.Context, j persistence.Job) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.end()
	jobs := s.q.claimedAs(j)
	if len(jobs) == 0 {
		return nil
	}
	wb := s.db.NewBatch()
	defer wb.Close()
	for _, jb := range jobs {
		if err := wb.Delete(pendingKey(jb.seq), nil); err != nil {
			panic(err)
		}
	}
	if err := wb.Commit(pebble.NoSync); err != nil {
		// Not handed out again by this process; the next Open redelivers it.
		return fmt.Errorf("ack job %s: %w", j, err)
	}
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
	defer s.end()
	// Taken from the claimed set at once, so that a second Requeue of j
	// racing this one (two timers of a pool) finds nothing to move: a job
	// is never pending twice. Should the commit fail (Pebble treats that
	// as fatal), j is neither claimed nor pending until the next Open.
	old := s.q.claimedAs(j)
	if len(old) == 0 {
		return nil
	}
	wb := s.db.NewBatch()
	defer wb.Close()
	moved := make([]job, len(old))
	for i, jb := range old {
		moved[i] = job{seq: s.q.next(), raw: jb.raw, j: jb.j}
		if err := wb.Delete(pendingKey(jb.seq), nil); err != nil {
			panic(err)
		}
		set(wb, pendingKey(moved[i].seq), jb.raw)
	}
	if err := wb.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("requeue job %s: %w", j, err)
	}
	s.q.push(moved...)
	s.notify()
	return nil
}
