package pebble

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/backlot/backlot/persistence"
	"github.com/cockroachdb/pebble/v2"
)

var _ persistence.Retainer = (*Store)(nil)

// idLocks gives each batch id a mutex of its own while anybody holds it:
// a batch's writes (Create, Append, Delete) read, decide and commit under
// it, so two writers of one batch never decide on the same stored state,
// while writers of different batches commit at once and share a WAL sync.
type idLocks struct {
	mu sync.Mutex
	m  map[string]*idLock
}

type idLock struct {
	sync.Mutex
	users int // guarded by idLocks.mu
}

func (l *idLocks) lock(id string) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*idLock{}
	}
	e := l.m[id]
	if e == nil {
		e = idLockPool.Get().(*idLock)
		l.m[id] = e
	}
	e.users++
	l.mu.Unlock()
	e.Lock()
}

func (l *idLocks) unlock(id string) {
	l.mu.Lock()
	e := l.m[id]
	e.users--
	last := e.users == 0
	if last {
		delete(l.m, id)
	}
	l.mu.Unlock()
	e.Unlock()
	if last { // nobody else has e: it was out of the map with no user
		idLockPool.Put(e)
	}
}

// idLockPool recycles the idLocks of batches nobody writes any more: a
// batch's lock is taken a few times in its life, by one writer at a time.
var idLockPool = sync.Pool{New: func() any { return new(idLock) }}

// Create records b, its queued event as seq 1, one pending job per image in
// image order and b's entry in the unfinished index, in one synced commit,
// then wakes a blocked claimer. persistence.ErrExists if the id is taken;
// then nothing is written.
func (s *Store) Create(ctx context.Context, b *persistence.Batch, queued persistence.Event) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.end()
	fail := func(err error) error { return fmt.Errorf("create batch %s: %w", b.ID, err) }
	if !persistence.ValidID(b.ID) { // the keys hold ids of one length: see doc.go
		return fmt.Errorf("create batch %q: not a batch id", b.ID)
	}
	rec, err := persistence.EncodeNew(b, queued)
	if err != nil {
		return fail(err)
	}
	s.locks.lock(b.ID)
	defer s.locks.unlock(b.ID)
	switch _, err := s.get(batchKey(b.ID)); {
	case err == nil:
		return fail(persistence.ErrExists)
	case !errors.Is(err, persistence.ErrNotFound):
		return fail(err)
	}
	wb := s.db.NewBatch()
	defer wb.Close()
	set(wb, batchKey(b.ID), rec.Batch)
	set(wb, eventKey(b.ID, queued.Seq), rec.Queued)
	jobs := make([]job, len(rec.Jobs))
	for i, raw := range rec.Jobs {
		jobs[i] = job{seq: s.q.next(), raw: raw, j: persistence.Job{BatchID: b.ID, ImageID: b.Images[i].ID}}
		set(wb, pendingKey(jobs[i].seq), raw)
	}
	set(wb, unfinishedKey(b.ID), nil)
	if err := wb.Commit(pebble.Sync); err != nil {
		return fail(err)
	}
	s.memo.Remember(b.ID, rec.Batch, b.Clone())
	s.q.push(jobs...)
	s.notify()
	return nil
}

// set is Batch.Set, which fails only on a closed or read-only batch.
func set(wb *pebble.Batch, k, v []byte) {
	if err := wb.Set(k, v, nil); err != nil {
		panic(err)
	}
}

// get returns a copy of the value under k, or persistence.ErrNotFound.
func (s *Store) get(k []byte) ([]byte, error) {
	v, closer, err := s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, persistence.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return append([]byte(nil), v...), nil
}

// Batch returns the batch as last written. persistence.ErrNotFound if unknown.
func (s *Store) Batch(ctx context.Context, id string) (*persistence.Batch, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.end()
	b, err := s.readBatch(id)
	if err != nil {
		return nil, fmt.Errorf("read batch %s: %w", id, err)
	}
	return b, nil
}

// readBatch is getBatch for a reader, which must not see a write before
// it is synced (Pebble shows a commit to readers before its sync
// returns): a batch in progress is the memo's, which a writer updates
// once its commit is synced; another is read under the batch's lock,
// after any write under way.
func (s *Store) readBatch(id string) (*persistence.Batch, error) {
	if !persistence.ValidID(id) {
		return nil, persistence.ErrNotFound
	}
	if b, ok := s.memo.Current(id); ok {
		return b, nil
	}
	s.locks.lock(id)
	defer s.locks.unlock(id)
	b, err := s.getBatch(id)
	if err != nil {
		return nil, err
	}
	return b.Clone(), nil
}

// getBatch returns the batch for a caller holding the batch's lock, to
// read only (it may be the memo's own): the memo's, or read and decoded. The memo holds what this process last committed of each
// unfinished batch (it is the directory's only writer, and every write
// of a batch Remembers it under the batch's lock), so a writer under the
// lock, or a reader, reads nothing for a batch in progress.
func (s *Store) getBatch(id string) (*persistence.Batch, error) {
	if b, ok := s.memo.Shared(id); ok {
		return b, nil
	}
	v, err := s.get(batchKey(id))
	if err != nil {
		return nil, err
	}
	return s.memo.Decode(id, v)
}

// Events returns the batch's events with Seq > after, in order; an empty
// slice when after is at or beyond the last. persistence.ErrNotFound if the
// batch is unknown.
func (s *Store) Events(ctx context.Context, id string, after uint64) ([]persistence.Event, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.end()
	fail := func(err error) error { return fmt.Errorf("read events of batch %s after %d: %w", id, after, err) }
	if !persistence.ValidID(id) {
		return nil, fail(persistence.ErrNotFound)
	}
	// Under the batch's lock: no event of a write whose sync is under way
	// (a crash could lose it and give its seq to another event).
	s.locks.lock(id)
	defer s.locks.unlock(id)
	if !s.memo.Holds(id) { // else a batch in progress: it exists
		if _, err := s.get(batchKey(id)); err != nil {
			return nil, fail(err)
		}
	}
	evs := []persistence.Event{}
	if after == math.MaxUint64 { // after+1 would wrap to the start
		return evs, nil
	}
	err := scan(s.db, eventPrefix(id), eventKey(id, after+1), func(k, v []byte) error {
		var ev persistence.Event
		if err := json.Unmarshal(v, &ev); err != nil {
			return fmt.Errorf("decode event %x: %w", k, err)
		}
		evs = append(evs, ev)
		return nil
	})
	if err != nil {
		return nil, fail(err)
	}
	return evs, nil
}

// Append applies evs to the stored batch with Batch.Decide and stores the
// batch and the events it decided (done after the last terminal event) in
// one synced commit; once done is among them the batch leaves the
// unfinished index. It returns the events with their sequence numbers and
// the batch after them. A broken rule returns an error wrapping
// persistence.ErrConflict (persistence.ErrNotFound for an unknown batch or
// image) and writes nothing. The caller's evs are not modified.
func (s *Store) Append(ctx context.Context, id string, evs ...persistence.Event) ([]persistence.Event, *persistence.Batch, error) {
	return s.append(ctx, id, nil, evs)
}

// append is Append; check, when not nil, runs under the batch's lock once
// the batch is found and refuses the write with its error (AppendFenced).
func (s *Store) append(ctx context.Context, id string, check func() error, evs []persistence.Event) ([]persistence.Event, *persistence.Batch, error) {
	if err := s.begin(ctx); err != nil {
		return nil, nil, err
	}
	defer s.end()
	fail := func(err error) error { return fmt.Errorf("append to batch %s: %w", id, err) }
	if !persistence.ValidID(id) {
		return nil, nil, fail(persistence.ErrNotFound)
	}
	s.locks.lock(id)
	defer s.locks.unlock(id)
	b, err := s.getBatch(id)
	if err == nil && check != nil {
		err = check()
	}
	if err != nil {
		return nil, nil, fail(err)
	}
	if len(evs) == 0 { // nothing to write: spare the commit and its sync
		return []persistence.Event{}, b.Clone(), nil
	}
	nb, out, err := b.Decide(evs)
	if err != nil {
		return nil, nil, fail(err)
	}
	bv, err := json.Marshal(nb)
	if err != nil {
		return nil, nil, fail(err)
	}
	wb := s.db.NewBatch()
	defer wb.Close()
	set(wb, batchKey(id), bv)
	for i := range out {
		v, err := json.Marshal(&out[i])
		if err != nil {
			return nil, nil, fail(err)
		}
		set(wb, eventKey(id, out[i].Seq), v)
	}
	if nb.Done {
		set(wb, doneKey(nb), nil)
		if err := wb.Delete(unfinishedKey(id), nil); err != nil {
			panic(err)
		}
	}
	if err := wb.Commit(pebble.Sync); err != nil {
		return nil, nil, fail(err)
	}
	s.memo.Remember(id, bv, nb.Clone())
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
	defer s.end()
	var ids []string
	err := scan(s.db, []byte{kindUnfinished}, nil, func(k, _ []byte) error {
		ids = append(ids, string(k[1:]))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list unfinished batches: %w", err)
	}
	return ids, nil
}

// errStop ends a scan early, without an error.
var errStop = errors.New("stop")

// scan calls fn with each key (and value) of db that starts with prefix,
// from from on when not nil, in order, until fn returns an error: that
// error, or nil for errStop. k and v are only valid during the call.
func scan(db *pebble.DB, prefix, from []byte, fn func(k, v []byte) error) error {
	lower := prefix
	if from != nil {
		lower = from
	}
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return err
	}
	for ok := it.First(); ok && err == nil; ok = it.Next() {
		err = fn(it.Key(), it.Value())
	}
	if cerr := it.Close(); err == nil || errors.Is(err, errStop) {
		err = cerr
	}
	return err
}

// Fence makes the caller the batch's writer: it returns a token greater
// than every one given for the batch since the store was opened.
//
// Tokens live in memory (persistence.LocalFences): the directory is locked
// by one process, which holds every writer of its batches, and a restart
// ends them all. Fence takes the batch's lock, so it returns after any
// append under way, fenced with the token before, has been committed:
// the new writer reads it.
func (s *Store) Fence(ctx context.Context, id string) (uint64, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	defer s.end()
	if !persistence.ValidID(id) {
		return 0, fmt.Errorf("fence batch %s: %w", id, persistence.ErrNotFound)
	}
	s.locks.lock(id)
	defer s.locks.unlock(id)
	b, err := s.getBatch(id)
	if err != nil {
		return 0, fmt.Errorf("fence batch %s: %w", id, err)
	}
	return s.fences.Next(id, b.Done), nil
}

// AppendFenced is Append, run only while token is the batch's latest. The
// check runs under the batch's lock, with the write after it, so a writer
// fenced off writes nothing more. With no events it only checks, returning
// the batch as stored.
func (s *Store) AppendFenced(ctx context.Context, id string, token uint64, evs ...persistence.Event) ([]persistence.Event, *persistence.Batch, error) {
	return s.append(ctx, id, func() error { return s.fences.Check(id, token) }, evs)
}

// Expired lists up to limit ids of batches done before t, oldest first.
func (s *Store) Expired(ctx context.Context, before time.Time, limit int) ([]string, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.end()
	var ids []string
	end := uint64(before.UnixNano())
	err := scan(s.db, []byte{kindDone}, nil, func(k, _ []byte) error {
		if len(ids) >= limit || len(k) < 9 || binary.BigEndian.Uint64(k[1:]) >= end {
			return errStop
		}
		ids = append(ids, string(k[9:]))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list expired batches: %w", err)
	}
	return ids, nil
}

// Delete removes a done batch, its event log and its index entry in one
// synced commit.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.end()
	fail := func(err error) error { return fmt.Errorf("delete batch %s: %w", id, err) }
	if !persistence.ValidID(id) {
		return fail(persistence.ErrNotFound)
	}
	s.locks.lock(id)
	defer s.locks.unlock(id)
	b, err := s.getBatch(id)
	if err != nil {
		return fail(err)
	}
	if !b.Done {
		return fail(fmt.Errorf("%w: batch %s is not done", persistence.ErrConflict, id))
	}
	wb := s.db.NewBatch()
	defer wb.Close()
	for _, err := range []error{
		wb.Delete(doneKey(b), nil),
		wb.DeleteRange(eventPrefix(id), prefixEnd(eventPrefix(id)), nil),
		wb.Delete(batchKey(id), nil),
	} {
		if err != nil {
			panic(err)
		}
	}
	if err := wb.Commit(pebble.Sync); err != nil {
		return fail(err)
	}
	s.memo.Forget(id)
	s.fences.Forget(id)
	return nil
}
