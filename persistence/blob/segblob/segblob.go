package segblob

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/maphash"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/sys/unix"

	"github.com/backlot/backlot/persistence/blob"
)

var (
	_ blob.Store        = (*Store)(nil)
	_ blob.Spacer       = (*Store)(nil)
	_ blob.NameSyncer   = (*Store)(nil)
	_ blob.CacheDropper = (*object)(nil)
)

// Defaults of Options.
const (
	DefaultSegmentSize = 64 << 20
	DefaultMaxInline   = 4 << 20
)

// Options configures Open.
type Options struct {
	// Fallback holds what the segments do not: objects larger than
	// MaxInline, and every object an earlier version wrote as a file.
	// Required; on a node, the fsblob.Store on the data directory.
	Fallback blob.Store

	// SegmentSize is the size of a new segment file: 0 is
	// DefaultSegmentSize. Segments already made keep theirs.
	SegmentSize int64

	// MaxInline is the largest object kept in a segment; a larger one
	// goes to Fallback. 0 is DefaultMaxInline; at most a quarter of
	// SegmentSize.
	MaxInline int64

	// Logger gets Pebble's errors and the store's own (a segment that
	// could not be made in the background). nil: slog.Default().
	Logger *slog.Logger
}

// Store keeps objects in segment files under its directory, and an index
// of them, key → where, in a Pebble database beside them (index/). One
// Store owns its directory at a time: Pebble's lock refuses a second.
type Store struct {
	dir       string
	db        *pebble.DB
	fb        blob.Store
	segSize   int64
	maxInline int64
	log       *slog.Logger

	// idx orders the index's writers: a commit or a Delete of one key
	// holds it for reading (and keys' lock of its key), DeletePrefix for
	// writing, so that each sees the entries it replaces or removes and
	// the segments' live counts stay exact.
	idx  sync.RWMutex
	keys [256]sync.Mutex
	seed maphash.Seed

	mu      sync.Mutex
	cond    sync.Cond // a spare made, or the store closed
	segs    map[uint32]*segment
	head    *segment   // where records are appended; nil until the first
	spare   []*segment // ready to become the head
	freed   []*segment // all dead, reusable once their deletions are durable
	nextID  uint32
	prepErr error // the last failure to make a segment
	closed  bool
	kick    chan struct{} // wakes the preparer
	stopped chan struct{} // closed when the preparer has returned
}

// Open opens the store in dir, making it if needed. It reads the whole
// index once, to learn which segments hold live records.
func Open(dir string, opts Options) (*Store, error) {
	if opts.Fallback == nil {
		return nil, errors.New("segblob: no Fallback store")
	}
	if opts.SegmentSize == 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	if opts.MaxInline == 0 {
		opts.MaxInline = min(DefaultMaxInline, opts.SegmentSize/4)
	}
	if opts.SegmentSize < 4*align || opts.SegmentSize%align != 0 || opts.MaxInline < 0 || opts.MaxInline > opts.SegmentSize/4 {
		return nil, fmt.Errorf("segblob: SegmentSize %d must be a multiple of %d, MaxInline %d at most a quarter of it", opts.SegmentSize, align, opts.MaxInline)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("segblob: %w", err)
	}
	db, err := pebble.Open(dir+"/index", &pebble.Options{
		FormatMajorVersion: pebble.FormatNewest,
		MemTableSize:       4 << 20,
		Logger:             logger{opts.Logger},
	})
	if err != nil {
		return nil, fmt.Errorf("segblob: open index %s: %w", dir, err)
	}
	s := &Store{dir: dir, db: db, fb: opts.Fallback, segSize: opts.SegmentSize, maxInline: opts.MaxInline, log: opts.Logger,
		seed: maphash.MakeSeed(), kick: make(chan struct{}, 1), stopped: make(chan struct{})}
	s.cond.L = &s.mu
	if err := s.load(); err != nil {
		db.Close()
		for _, g := range s.segs {
			g.f.Close()
		}
		return nil, fmt.Errorf("segblob: open %s: %w", dir, err)
	}
	go s.prepare()
	s.wake()
	return s, nil
}

// load opens the segments and counts each one's live records from the
// index; entries whose segment is gone are dropped. Segments with none
// are spare.
func (s *Store) load() error {
	segs, err := openSegments(s.dir)
	if err != nil {
		return err
	}
	s.segs = segs
	var dangling [][]byte
	err = scan(s.db, nil, func(k []byte, e entry) error {
		g := segs[e.seg]
		if g == nil || e.off+e.room > g.size {
			dangling = append(dangling, bytes.Clone(k))
			return nil
		}
		g.live += e.room
		return nil
	})
	if err != nil {
		return err
	}
	b := s.db.NewBatch()
	for _, k := range dangling {
		b.Delete(k, nil)
	}
	// Synced: what was read is what the segments are reused on.
	if err := b.Commit(pebble.Sync); err != nil {
		return err
	}
	for id, g := range segs {
		s.nextID = max(s.nextID, id+1)
		if g.live == 0 {
			s.spare = append(s.spare, g)
		}
	}
	if len(dangling) > 0 {
		s.log.Warn("blob index: dropped entries whose segment is gone", "entries", len(dangling), "dir", s.dir)
	}
	return nil
}

// Close stops the store and closes its index and segments. Writers still
// open fail to commit.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return blob.ErrClosed
	}
	s.closed = true
	s.cond.Broadcast()
	s.mu.Unlock()
	close(s.kick)
	<-s.stopped
	s.idx.Lock() // no commit under way
	defer s.idx.Unlock()
	err := s.db.Close()
	for _, g := range s.segs {
		if cerr := g.f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

func (s *Store) keyLock(key string) *sync.Mutex {
	return &s.keys[maphash.String(s.seed, key)%uint64(len(s.keys))]
}

// entry is an object's place in the index.
type entry struct {
	seg   uint32
	off   int64 // the record's start in the segment
	room  int64 // the record's room there, padding included
	data  int64 // where the bytes start, from off
	size  int64
	crc   uint32 // CRC-32C of the bytes
	mtime int64  // Unix nanoseconds
}

const entryLen = 4 + 8 + 8 + 4 + 8 + 4 + 8

func (e entry) encode() []byte {
	b := make([]byte, entryLen)
	binary.LittleEndian.PutUint32(b[0:], e.seg)
	binary.LittleEndian.PutUint64(b[4:], uint64(e.off))
	binary.LittleEndian.PutUint64(b[12:], uint64(e.room))
	binary.LittleEndian.PutUint32(b[20:], uint32(e.data))
	binary.LittleEndian.PutUint64(b[24:], uint64(e.size))
	binary.LittleEndian.PutUint32(b[32:], e.crc)
	binary.LittleEndian.PutUint64(b[36:], uint64(e.mtime))
	return b
}

func decodeEntry(b []byte) (entry, error) {
	if len(b) != entryLen {
		return entry{}, fmt.Errorf("index entry of %d bytes, want %d", len(b), entryLen)
	}
	return entry{
		seg:   binary.LittleEndian.Uint32(b[0:]),
		off:   int64(binary.LittleEndian.Uint64(b[4:])),
		room:  int64(binary.LittleEndian.Uint64(b[12:])),
		data:  int64(binary.LittleEndian.Uint32(b[20:])),
		size:  int64(binary.LittleEndian.Uint64(b[24:])),
		crc:   binary.LittleEndian.Uint32(b[32:]),
		mtime: int64(binary.LittleEndian.Uint64(b[36:])),
	}, nil
}

func (e entry) info(key string) blob.Info {
	return blob.Info{Key: key, Size: e.size, ModTime: time.Unix(0, e.mtime),
		ETag: fmt.Sprintf("s%x-%x-%x-%x", e.seg, e.off, e.crc, e.mtime)}
}

// indexKey is key's key in the index: 'k' and the key. The byte leaves
// room for other records beside the objects.
func indexKey(key string) []byte { return append([]byte{'k'}, key...) }

// get reads key's entry; ok is false when the index has none.
func (s *Store) get(key string) (e entry, ok bool, err error) {
	v, closer, err := s.db.Get(indexKey(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return entry{}, false, nil
	}
	if err != nil {
		return entry{}, false, err
	}
	defer closer.Close()
	e, err = decodeEntry(v)
	return e, err == nil, err
}

// scan calls fn with every entry whose key (the object's) starts with
// prefix, in key order.
func scan(db *pebble.DB, prefix []byte, fn func(k []byte, e entry) error) error {
	lower := indexKey(string(prefix))
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		e, err := decodeEntry(it.Value())
		if err == nil {
			err = fn(it.Key(), e)
		}
		if err != nil {
			it.Close()
			return err
		}
	}
	return it.Close()
}

// prefixEnd is the first key after every key starting with p.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// check refuses a done ctx and an invalid key, in that order.
func check(ctx context.Context, op, key string, valid func(string) bool) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", op, key, err)
	}
	if !valid(key) {
		return fmt.Errorf("%s %q: %w", op, key, blob.ErrInvalidKey)
	}
	return nil
}

// Open reads the object's bytes into memory and checks them against the
// index's CRC: the Object reads that version whatever happens to the
// segment later. A key the index lacks is looked up in Fallback.
func (s *Store) Open(ctx context.Context, key string) (blob.Object, error) {
	if err := check(ctx, "open", key, blob.ValidKey); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		e, ok, err := s.get(key)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", key, err)
		}
		if !ok {
			return s.fb.Open(ctx, key)
		}
		o, err := s.read(key, e)
		if err == nil || attempt == 1 {
			return o, err
		}
		// The record changed under the read: replaced or deleted, and
		// its segment reused. Look again.
		if e2, ok2, _ := s.get(key); ok2 && e2 == e {
			return nil, err
		}
	}
}

// read reads e's bytes and checks them.
func (s *Store) read(key string, e entry) (*object, error) {
	s.mu.Lock()
	g := s.segs[e.seg]
	s.mu.Unlock()
	if g == nil {
		return nil, fmt.Errorf("open %s: %w: segment %d is gone", key, blob.ErrNotFound, e.seg)
	}
	b := make([]byte, e.size)
	if _, err := g.f.ReadAt(b, e.off+e.data); err != nil {
		return nil, fmt.Errorf("open %s: read segment %d: %w", key, e.seg, err)
	}
	if crc32.Checksum(b, castagnoli) != e.crc {
		// An object committed without Durable and cut by a power cut
		// before Sync: its bytes are lost, as an unsynced file's are.
		return nil, fmt.Errorf("open %s: %w: its bytes in segment %d at %d do not match their checksum", key, blob.ErrNotFound, e.seg, e.off)
	}
	return &object{Reader: bytes.NewReader(b), info: e.info(key), g: g, off: e.off, room: e.room}, nil
}

// Stat describes the object from the index, or Fallback's.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	if err := check(ctx, "stat", key, blob.ValidKey); err != nil {
		return blob.Info{}, err
	}
	e, ok, err := s.get(key)
	if err != nil {
		return blob.Info{}, fmt.Errorf("stat %s: %w", key, err)
	}
	if !ok {
		return s.fb.Stat(ctx, key)
	}
	return e.info(key), nil
}

// Sync makes the object's bytes and its index entry durable.
func (s *Store) Sync(ctx context.Context, key string) error {
	if err := s.SyncData(ctx, key); err != nil {
		return err
	}
	if err := s.syncIndex(); err != nil {
		return fmt.Errorf("sync %s: %w", key, err)
	}
	return nil
}

// SyncData makes the object's bytes durable: an fdatasync of its
// segment, shared with every other caller waiting (blob.NameSyncer).
func (s *Store) SyncData(ctx context.Context, key string) error {
	if err := check(ctx, "sync", key, blob.ValidKey); err != nil {
		return err
	}
	e, ok, err := s.get(key)
	if err != nil {
		return fmt.Errorf("sync %s: %w", key, err)
	}
	if !ok {
		if ns, ok := s.fb.(blob.NameSyncer); ok {
			return ns.SyncData(ctx, key)
		}
		return s.fb.Sync(ctx, key)
	}
	s.mu.Lock()
	g := s.segs[e.seg]
	s.mu.Unlock()
	if err := g.sync(); err != nil {
		return fmt.Errorf("sync %s: %w", key, err)
	}
	return nil
}

// SyncNames makes every index entry written before it durable, and
// Fallback's names under prefix (blob.NameSyncer).
func (s *Store) SyncNames(ctx context.Context, prefix string) error {
	if err := check(ctx, "sync", prefix, blob.ValidDeletePrefix); err != nil {
		return err
	}
	if err := s.syncIndex(); err != nil {
		return fmt.Errorf("sync %s: %w", prefix, err)
	}
	if ns, ok := s.fb.(blob.NameSyncer); ok {
		if err := ns.SyncNames(ctx, prefix); err != nil && !errors.Is(err, blob.ErrNotFound) {
			return err
		}
	}
	return nil
}

// syncIndex makes every index write before it durable: Pebble syncs its
// log, once for all the callers that arrive together.
func (s *Store) syncIndex() error {
	return s.db.LogData(nil, pebble.Sync)
}

// Delete removes the object's entry, and Fallback's object.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := check(ctx, "delete", key, blob.ValidKey); err != nil {
		return err
	}
	s.idx.RLock()
	l := s.keyLock(key)
	l.Lock()
	e, ok, err := s.get(key)
	if err == nil && ok {
		if err = s.db.Delete(indexKey(key), pebble.NoSync); err == nil {
			s.dead(e)
		}
	}
	l.Unlock()
	s.idx.RUnlock()
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return s.fb.Delete(ctx, key)
}

// DeletePrefix removes the entries under prefix, and Fallback's objects.
func (s *Store) DeletePrefix(ctx context.Context, prefix string) error {
	if err := check(ctx, "delete prefix", prefix, blob.ValidDeletePrefix); err != nil {
		return err
	}
	s.idx.Lock()
	var gone []entry
	b := s.db.NewBatch()
	err := scan(s.db, []byte(prefix), func(k []byte, e entry) error {
		gone = append(gone, e)
		return b.Delete(k, nil)
	})
	if err == nil && len(gone) > 0 {
		err = b.Commit(pebble.NoSync)
	}
	if err == nil {
		for _, e := range gone {
			s.dead(e)
		}
	}
	s.idx.Unlock()
	b.Close()
	if err != nil {
		return fmt.Errorf("delete prefix %s: %w", prefix, err)
	}
	return s.fb.DeletePrefix(ctx, prefix)
}

// dead counts a record the index no longer points to; its segment, all
// dead and not the head, is freed.
func (s *Store) dead(e entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.segs[e.seg]
	if g == nil {
		return
	}
	g.live -= e.room
	s.maybeFree(g)
}

// maybeFree frees g when nothing in it is live or being written and it
// is not the head. Under s.mu.
func (s *Store) maybeFree(g *segment) {
	if g.live == 0 && g.writing == 0 && g != s.head {
		s.freed = append(s.freed, g)
		g.live = -1 // freed: counted once
		s.wakeLocked()
	}
}

// List lists the index's objects under prefix and Fallback's, merged in
// key order (the index's when both hold a key). Fallback's are gathered
// first: after the move from files they are few.
func (s *Store) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	if err := check(ctx, "list", prefix, blob.ValidPrefix); err != nil {
		return err
	}
	var old []blob.Info
	if err := s.fb.List(ctx, prefix, func(i blob.Info) error { old = append(old, i); return nil }); err != nil {
		return err
	}
	err := scan(s.db, []byte(prefix), func(k []byte, e entry) error {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		key := string(k[1:])
		for len(old) > 0 && old[0].Key <= key {
			if old[0].Key < key {
				if err := fn(old[0]); err != nil {
					return err
				}
			}
			old = old[1:]
		}
		return fn(e.info(key))
	})
	if err != nil {
		return err
	}
	for _, i := range old {
		if err := fn(i); err != nil {
			return err
		}
	}
	return nil
}

// Space is Fallback's: the segments are on the same disk.
func (s *Store) Space(ctx context.Context) (free, reserve int64, ok bool) {
	if sp, ok := s.fb.(blob.Spacer); ok {
		return sp.Space(ctx)
	}
	return 0, 0, false
}

// low reports whether the free space is below the reserve.
func (s *Store) low(ctx context.Context) (free, reserve int64, low bool) {
	free, reserve, ok := s.Space(ctx)
	return free, reserve, ok && reserve > 0 && free < reserve
}

// object is an open object's bytes, read whole at Open.
type object struct {
	*bytes.Reader
	info blob.Info
	g    *segment
	off  int64
	room int64
}

func (o *object) Close() error    { return nil }
func (o *object) Info() blob.Info { return o.info }

// DropCache advises the kernel that the record's pages will not be read
// again (posix_fadvise DONTNEED on its range of the segment).
func (o *object) DropCache() {
	_ = unix.Fadvise(int(o.g.f.Fd()), o.off, o.room, unix.FADV_DONTNEED)
}

// logger hands Pebble's errors to slog and drops its routine messages.
type logger struct{ l *slog.Logger }

func (logger) Infof(string, ...any) {}
func (l logger) Errorf(format string, args ...any) {
	l.l.Error("blob index: "+fmt.Sprintf(format, args...), "component", "pebble")
}
func (l logger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("blob index: "+format, args...))
}
