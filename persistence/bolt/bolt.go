package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/backlot/backlot/persistence"
	bbolt "go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"
)

// Bucket names; see doc.go for what each holds.
var (
	bucketBatches    = []byte("batches")
	bucketEvents     = []byte("events")
	bucketPending    = []byte("pending")
	bucketInflight   = []byte("inflight")
	bucketUnfinished = []byte("unfinished")
	bucketDone       = []byte("done") // doneAt (8-byte big-endian unix nanos) + id → empty: retention index
)

// lockTimeout bounds how long Open waits for the file lock. Another process
// holding the file is an operator mistake, and it is better to say so at once
// than to hang start-up.
const lockTimeout = time.Second

// Compile-time checks: the contract and the optional interfaces.
var (
	_ persistence.Store      = (*Store)(nil)
	_ persistence.Pinger     = (*Store)(nil)
	_ persistence.QueueStats = (*Store)(nil)
)

// Store is a persistence.Store in one bbolt file. It is safe for concurrent
// use. Create it with Open; Close it once.
type Store struct {
	db *bbolt.DB // immutable after Open; safe for concurrent use

	closed atomic.Bool   // set once by Close
	done   chan struct{} // closed by Close: wakes blocked claimers

	mu   sync.Mutex    // guards wake
	wake chan struct{} // closed and replaced each time work is added

	qmu     sync.Mutex                 // guards claimed; held across claimOne's read
	claimed map[string]persistence.Job // pending key → job, claimed and not settled (queue.go)
	acked   map[string]struct{}        // pending keys acked, their delete not yet committed

	fences persistence.LocalFences // the writers' tokens, in memory (Fence)

	memo persistence.BatchMemo // decoded unfinished batches

	writes   chan *write   // to commitLoop; buffered (maxGroup)
	commits  atomic.Int64  // transactions committed by commitLoop, for tests
	quit     chan struct{} // closed by Close: commitLoop returns
	loopDone chan struct{} // closed when commitLoop has returned
}

// Open opens or creates the store in the file at path. Jobs that were in
// flight when the file was last closed (or the process died) go back to the
// front of the pending queue. If another process holds the file, Open fails
// after about a second with an error saying so.
func Open(path string) (*Store, error) {
	// NoFreelistSync: the free-page list is not written on every commit
	// (one page less per commit) but rebuilt by scanning at Open, which
	// takes milliseconds at this store's size.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: lockTimeout, NoFreelistSync: true})
	if errors.Is(err, bberrors.ErrTimeout) {
		return nil, fmt.Errorf("open store %s: the file is locked by another process (waited %s): %w", path, lockTimeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := db.Update(setup); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &Store{db: db, done: make(chan struct{}), wake: make(chan struct{}), claimed: map[string]persistence.Job{}, acked: map[string]struct{}{},
		writes: make(chan *write, maxGroup), quit: make(chan struct{}), loopDone: make(chan struct{})}
	go s.commitLoop()
	return s, nil
}

// setup creates the buckets and redelivers jobs a store file of an earlier
// version had recorded as in flight (claims are no longer written; see
// queue.go), keeping their keys so that they are claimed before anything
// queued after them.
func setup(tx *bbolt.Tx) error {
	for _, name := range [][]byte{bucketBatches, bucketEvents, bucketPending, bucketInflight, bucketUnfinished, bucketDone} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	pending, inflight := tx.Bucket(bucketPending), tx.Bucket(bucketInflight)
	var keys [][]byte
	err := inflight.ForEach(func(k, v []byte) error {
		keys = append(keys, k)
		return pending.Put(k, v)
	})
	if err != nil {
		return fmt.Errorf("redeliver in-flight jobs: %w", err)
	}
	for _, k := range keys {
		if err := inflight.Delete(k); err != nil {
			return fmt.Errorf("redeliver in-flight jobs: %w", err)
		}
	}
	return nil
}

// Close closes the file and wakes every blocked Claim, which returns
// persistence.ErrClosed, as does every later call, Close included.
// It waits for transactions under way to finish.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return persistence.ErrClosed
	}
	close(s.done)
	close(s.quit)
	<-s.loopDone // the commit under way ends first
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// Ping reports whether the store can run a transaction.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	return s.fail("ping", s.db.View(func(*bbolt.Tx) error { return nil }))
}

// QueueDepth counts the pending (not claimed) and in-flight (claimed, not
// settled) jobs. It walks the queue's pages, so it costs time in
// proportion to the queue: fine for a metrics scrape, not for a hot path.
func (s *Store) QueueDepth(ctx context.Context) (pending, inflight int, err error) {
	if err := s.begin(ctx); err != nil {
		return 0, 0, err
	}
	s.qmu.Lock()
	defer s.qmu.Unlock()
	err = s.db.View(func(tx *bbolt.Tx) error {
		pending = tx.Bucket(bucketPending).Stats().KeyN
		return nil
	})
	inflight = len(s.claimed)
	return max(0, pending-inflight-len(s.acked)), inflight, s.fail("count queue", err)
}

// begin is the guard at the top of every method: a closed store or an
// ended ctx stops the call before it touches the file.
func (s *Store) begin(ctx context.Context) error {
	if s.closed.Load() {
		return persistence.ErrClosed
	}
	return ctx.Err()
}

// fail wraps err with what was being done, turning bbolt's "not open" (a
// Close that won the race against the guard in begin) into ErrClosed so
// callers need test only our sentinels.
func (s *Store) fail(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, bberrors.ErrDatabaseNotOpen):
		return fmt.Errorf("%s: %w", op, persistence.ErrClosed)
	default:
		return fmt.Errorf("%s: %w", op, err)
	}
}

// seqKey encodes n as a big-endian key so byte order is numeric order.
func seqKey(n uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), n) }
