package segblob

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/backlot/backlot/persistence/blob"
)

// bufs recycles Writers' buffers.
var bufs = sync.Pool{New: func() any { return new([]byte) }}

// Create starts a Writer that gathers the object in memory; one that
// outgrows MaxInline moves on to a Fallback Writer.
func (s *Store) Create(ctx context.Context, key string, opts blob.CreateOptions) (blob.Writer, error) {
	if err := check(ctx, "create", key, blob.ValidKey); err != nil {
		return nil, err
	}
	if !opts.UseReserve {
		if free, reserve, low := s.low(ctx); low {
			return nil, belowReserve("create", key, free, reserve)
		}
	}
	bp := bufs.Get().(*[]byte)
	// The record's header and key go first, filled in at Commit, so that
	// the record is written with one pwrite.
	*bp = append((*bp)[:0], make([]byte, headerLen+len(key))...)
	return &writer{s: s, ctx: ctx, key: key, opts: opts, buf: bp}, nil
}

func belowReserve(op, key string, free, reserve int64) error {
	return fmt.Errorf("%s %s: %w: %d bytes free, %d kept in reserve", op, key, blob.ErrInsufficientStorage, free, reserve)
}

// writer gathers an object in buf (after room for its record's header),
// or, past MaxInline, in a Fallback Writer.
type writer struct {
	s    *Store
	ctx  context.Context
	key  string
	opts blob.CreateOptions
	buf  *[]byte     // nil once moved to fb, committed or aborted
	fb   blob.Writer // the Fallback Writer, once the object outgrew MaxInline
	done bool        // committed or aborted
	err  error       // the first failed Write's
}

func (w *writer) Write(p []byte) (int, error) {
	switch {
	case w.done:
		return 0, fmt.Errorf("write %s: %w", w.key, blob.ErrClosed)
	case w.err != nil:
		return 0, w.err
	case w.fb != nil:
		n, err := w.fb.Write(p)
		if err != nil {
			w.err = err
		}
		return n, err
	}
	if err := w.ctx.Err(); err != nil {
		w.err = fmt.Errorf("write %s: %w", w.key, err)
		return 0, w.err
	}
	if int64(len(*w.buf)-headerLen-len(w.key)+len(p)) <= w.s.maxInline {
		*w.buf = append(*w.buf, p...)
		return len(p), nil
	}
	// Too big for a segment: Fallback takes it, with what came before.
	fb, err := w.s.fb.Create(w.ctx, w.key, w.opts)
	if err == nil {
		if _, err = fb.Write((*w.buf)[headerLen+len(w.key):]); err != nil {
			fb.Abort()
		}
	}
	w.release()
	if err != nil {
		w.err = err
		return 0, err
	}
	w.fb = fb
	return w.Write(p)
}

func (w *writer) release() {
	if w.buf != nil {
		if cap(*w.buf) <= 1<<20 { // keep the pool's buffers small
			bufs.Put(w.buf)
		}
		w.buf = nil
	}
}

// Abort drops what was written.
func (w *writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.release()
	if w.fb != nil {
		return w.fb.Abort()
	}
	return nil
}

// Commit appends the record to the head segment (with Durable, syncing
// it) and then writes its index entry (with Durable, synced); or commits
// the Fallback Writer and removes any entry under the key.
func (w *writer) Commit(ctx context.Context) (blob.Info, error) {
	if w.done {
		return blob.Info{}, fmt.Errorf("commit %s: %w", w.key, blob.ErrClosed)
	}
	w.done = true
	defer w.release()
	err := w.err
	if err == nil {
		if err = ctx.Err(); err == nil {
			err = w.ctx.Err()
		}
		if err != nil {
			err = fmt.Errorf("commit %s: %w", w.key, err)
		}
	}
	if err != nil {
		if w.fb != nil {
			w.fb.Abort()
		}
		return blob.Info{}, err
	}
	if w.fb != nil {
		return w.s.commitFallback(ctx, w.key, w.fb, w.opts)
	}
	if !w.opts.UseReserve {
		if free, reserve, low := w.s.low(ctx); low {
			return blob.Info{}, belowReserve("commit", w.key, free, reserve)
		}
	}
	return w.s.commit(ctx, w.key, *w.buf, w.opts)
}

// commit writes rec (room for the header and key, then the bytes) as
// key's record and points the index at it.
func (s *Store) commit(ctx context.Context, key string, rec []byte, opts blob.CreateOptions) (blob.Info, error) {
	s.idx.RLock()
	defer s.idx.RUnlock()
	l := s.keyLock(key)
	l.Lock()
	defer l.Unlock()
	old, had, err := s.get(key)
	if err != nil {
		return blob.Info{}, fmt.Errorf("commit %s: %w", key, err)
	}
	if opts.Exclusive {
		if had {
			return blob.Info{}, fmt.Errorf("commit %s: %w", key, blob.ErrExists)
		}
		if _, err := s.fb.Stat(ctx, key); err == nil {
			return blob.Info{}, fmt.Errorf("commit %s: %w", key, blob.ErrExists)
		} else if !errors.Is(err, blob.ErrNotFound) {
			return blob.Info{}, fmt.Errorf("commit %s: %w", key, err)
		}
	}
	data := rec[headerLen+len(key):]
	crc := crc32.Checksum(data, castagnoli)
	putHeader(rec, key, int64(len(data)), crc)
	room := recordLen(len(key), int64(len(data)))
	g, off, err := s.reserve(room)
	if err != nil {
		return blob.Info{}, fmt.Errorf("commit %s: %w", key, err)
	}
	e := entry{seg: g.id, off: off, room: room, data: int64(headerLen + len(key)), size: int64(len(data)), crc: crc, mtime: time.Now().UnixNano()}
	_, err = g.f.WriteAt(rec, off)
	if err == nil && opts.Durable {
		err = g.sync()
	}
	if err == nil {
		sync := pebble.NoSync
		if opts.Durable {
			sync = pebble.Sync
		}
		err = s.db.Set(indexKey(key), e.encode(), sync)
	}
	s.mu.Lock()
	g.writing--
	if err == nil {
		g.live += room
	}
	s.maybeFree(g)
	s.mu.Unlock()
	if err != nil {
		return blob.Info{}, fmt.Errorf("commit %s: %w", key, noSpace(err))
	}
	if had {
		s.dead(old)
	}
	return e.info(key), nil
}

// commitFallback commits a Fallback Writer, then removes any index entry
// under its key, which would hide it.
func (s *Store) commitFallback(ctx context.Context, key string, fw blob.Writer, opts blob.CreateOptions) (blob.Info, error) {
	s.idx.RLock()
	defer s.idx.RUnlock()
	l := s.keyLock(key)
	l.Lock()
	defer l.Unlock()
	old, had, err := s.get(key)
	if err == nil && had && opts.Exclusive {
		err = fmt.Errorf("commit %s: %w", key, blob.ErrExists)
	}
	if err != nil {
		fw.Abort()
		return blob.Info{}, err
	}
	info, err := fw.Commit(ctx)
	if err != nil || !had {
		return info, err
	}
	if err := s.db.Delete(indexKey(key), pebble.Sync); err != nil {
		return blob.Info{}, fmt.Errorf("commit %s: %w", key, err)
	}
	s.dead(old)
	return info, nil
}

// reserve takes room bytes at the head segment's end, moving to a spare
// segment when the head is full (waiting for one to be made when none
// is ready).
func (s *Store) reserve(room int64) (*segment, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.head == nil || s.head.end+room > s.head.size {
		if s.closed {
			return nil, 0, blob.ErrClosed
		}
		if len(s.spare) > 0 {
			old := s.head
			s.head = s.spare[len(s.spare)-1]
			s.spare = s.spare[:len(s.spare)-1]
			s.head.end, s.head.live = 0, 0
			if old != nil {
				s.maybeFree(old)
			}
			if len(s.spare) == 0 {
				s.wakeLocked()
			}
			continue
		}
		if err := s.prepErr; err != nil {
			s.prepErr = nil
			s.wakeLocked()
			return nil, 0, err
		}
		s.wakeLocked()
		s.cond.Wait()
	}
	off := s.head.end
	s.head.end += room
	s.head.writing++
	return s.head, off, nil
}

// wake asks the preparer to look at the spares.
func (s *Store) wake() {
	s.mu.Lock()
	s.wakeLocked()
	s.mu.Unlock()
}

func (s *Store) wakeLocked() {
	if s.closed {
		return
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// prepare keeps a spare segment ready: it turns freed segments into
// spares once their deletions are durable (so that no entry a crash
// brings back points into a reused segment), and makes a new one when
// there is none.
func (s *Store) prepare() {
	defer close(s.stopped)
	for range s.kick {
		s.mu.Lock()
		freed := s.freed
		s.freed = nil
		need := len(s.spare) == 0 && len(freed) == 0
		id := s.nextID
		if need {
			s.nextID++
		}
		s.mu.Unlock()
		var err error
		if len(freed) > 0 {
			if err = s.syncIndex(); err != nil {
				s.log.Error("blob store: sync the index before reusing segments", "err", err)
			}
		}
		var made *segment
		if need {
			if made, err = makeSegment(s.dir, id, s.segSize); err != nil {
				s.log.Error("blob store: make a segment", "err", err)
			}
		}
		s.mu.Lock()
		if len(freed) > 0 && err == nil {
			s.spare = append(s.spare, freed...)
		} else {
			s.freed = append(s.freed, freed...)
		}
		if made != nil {
			s.segs[made.id] = made
			s.spare = append(s.spare, made)
			if s.closed {
				made.f.Close()
				delete(s.segs, made.id)
			}
		}
		s.prepErr = err
		s.cond.Broadcast()
		s.mu.Unlock()
	}
}
