package pebble

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/backlot/backlot/persistence"
	"github.com/cockroachdb/pebble/v2"
)

// Compile-time checks: the contract and the optional interfaces.
var (
	_ persistence.Store      = (*Store)(nil)
	_ persistence.Pinger     = (*Store)(nil)
	_ persistence.QueueStats = (*Store)(nil)
)

// Store is a persistence.Store in one Pebble directory. It is safe for
// concurrent use. Create it with Open; Close it once.
type Store struct {
	db *pebble.DB // immutable after Open; safe for concurrent use

	closed atomic.Bool   // set once by Close
	done   chan struct{} // closed by Close: wakes blocked claimers
	// ops is held for reading by every call while it uses db, and for
	// writing by Close, which so waits for the calls under way.
	ops sync.RWMutex

	locks idLocks // one writer of a batch at a time (batch.go)

	mu   sync.Mutex    // guards wake
	wake chan struct{} // closed and replaced each time work is added

	q queue // the pending jobs, in memory (queue.go)

	fences persistence.LocalFences // the writers' tokens, in memory (Fence)

	memo persistence.BatchMemo // decoded unfinished batches
}

// memTableSize is the size of a memtable, Pebble's default: a log file
// is recycled (synced without touching the file system's metadata) once
// its memtable is flushed.
const memTableSize = 4 << 20

// LogRoom is the disk space the store's log takes once it is written to:
// Pebble preallocates each log file at 110 % of a memtable. Tests that
// run a node on a small disk count it in.
const LogRoom = memTableSize * 11 / 10

// Options configures Open.
type Options struct {
	// Logger gets Pebble's errors (a failed background flush or
	// compaction); its routine messages are dropped. nil: slog.Default().
	Logger *slog.Logger
}

// Open opens or creates the store in the directory dir. Jobs that were in
// flight when the store was last closed (or the process died) are pending
// again, in the order they were queued. Another process holding dir is
// refused at once with an error saying so.
func Open(dir string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	db, err := pebble.Open(dir, &pebble.Options{
		FormatMajorVersion: pebble.FormatNewest,
		MemTableSize:       memTableSize,
		Logger:             logger{opts.Logger},
	})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	s := &Store{db: db, done: make(chan struct{}), wake: make(chan struct{})}
	if err := s.q.load(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	return s, nil
}

// Close waits for the calls under way, closes the directory and wakes
// every blocked Claim, which returns persistence.ErrClosed, as does every
// later call, Close included.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return persistence.ErrClosed
	}
	close(s.done)
	s.ops.Lock()
	defer s.ops.Unlock()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// begin is the guard at the top of every method that uses the database:
// a closed store or an ended ctx stops the call before it touches it.
// When it returns nil the caller holds s.ops for reading and calls end.
func (s *Store) begin(ctx context.Context) error {
	s.ops.RLock()
	if s.closed.Load() {
		s.ops.RUnlock()
		return persistence.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		s.ops.RUnlock()
		return err
	}
	return nil
}

func (s *Store) end() { s.ops.RUnlock() }

// Ping reports whether the store can read.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.end()
	_, closer, err := s.db.Get(pingKey)
	if err == nil {
		closer.Close()
	}
	if err != nil && !errors.Is(err, pebble.ErrNotFound) {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// QueueDepth counts the pending (not claimed) and in-flight (claimed, not
// settled) jobs, from memory.
func (s *Store) QueueDepth(ctx context.Context) (pending, inflight int, err error) {
	if err := s.begin(ctx); err != nil {
		return 0, 0, err
	}
	defer s.end()
	pending, inflight = s.q.depth()
	return pending, inflight, nil
}

// notify wakes every waiting claimer; each then tries a claim of its own, and
// those that find nothing wait again on the fresh channel.
func (s *Store) notify() {
	s.mu.Lock()
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
}

// Keys. Every key starts with one byte naming its kind; ids are the
// 36-byte UUIDs persistence.ValidID allows, sequence numbers and times
// 8-byte big-endian integers, so byte order is numeric order.
//
//	'b' id            → Batch (JSON)
//	'e' id seq        → Event (JSON): the batch's log, 1, 2, 3 …
//	'p' seq           → Job (JSON): the pending queue, FIFO by seq, until acked
//	'u' id            → empty: batches whose done is not recorded
//	'd' doneAt id     → empty: finished batches by the time of their done
//	'm' name          → the store's own facts (movedFromKey)
const (
	kindBatch      = 'b'
	kindEvent      = 'e'
	kindPending    = 'p'
	kindUnfinished = 'u'
	kindDone       = 'd'
)

var (
	pingKey      = []byte{0}
	movedFromKey = []byte("mmoved-from") // 'm': the store's own facts; this one, the bbolt file it was moved from (datadir.go)
)

func batchKey(id string) []byte      { return append([]byte{kindBatch}, id...) }
func unfinishedKey(id string) []byte { return append([]byte{kindUnfinished}, id...) }
func eventPrefix(id string) []byte   { return append([]byte{kindEvent}, id...) }

func eventKey(id string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(eventPrefix(id), seq)
}

func pendingKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{kindPending}, seq)
}

func doneKey(b *persistence.Batch) []byte {
	k := binary.BigEndian.AppendUint64([]byte{kindDone}, uint64(b.DoneAt.UnixNano()))
	return append(k, b.ID...)
}

// prefixEnd is the first key after every key that starts with p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil // p is all 0xff: no end
}

// logger hands Pebble's errors to slog and drops its routine messages.
type logger struct{ l *slog.Logger }

func (logger) Infof(string, ...any) {}
func (l logger) Errorf(format string, args ...any) {
	l.l.Error("store: "+fmt.Sprintf(format, args...), "component", "pebble")
}
func (l logger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("store: "+format, args...))
}

var discard = slog.New(slog.DiscardHandler)
