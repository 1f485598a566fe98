package s3blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/backlot/backlot/persistence/blob"
)

var timeNow = time.Now

// Reads of an object go in blocks of blockSize, the last cacheBlocks of
// them kept: decoders read headers a few bytes at a time, at offsets
// that jump about, and each GET costs a round trip. An open object holds
// at most cacheBlocks*blockSize bytes of memory, plus the sequential
// reader's buffer.
const (
	blockSize   = 256 << 10
	cacheBlocks = 4
	// headSize is the first GET of an object read only near its start:
	// a header probe (the upload's, the admission's, the resizer's) needs
	// a few KiB, and a whole block would cost the store a quarter MiB of
	// reading for each (measured on SeaweedFS: ~1.5 ms of its CPU per
	// 256 KiB GET, ~0.5 per 64 KiB).
	headSize = 64 << 10
)

// Open is a HEAD: the object's size and ETag. Every GET after it carries
// If-Match with that ETag, so that a replaced object fails to read
// rather than mixing versions; a deleted one fails with ErrNotFound.
//
// Reads outlive Open's ctx (a response body is sent after its handler
// returns): they keep its values but not its cancellation, and Close
// ends them.
func (s *Store) Open(ctx context.Context, key string) (blob.Object, error) {
	if err := check(ctx, "open", key, blob.ValidKey); err != nil {
		return nil, err
	}
	oi, err := s.c.StatObject(ctx, s.bucket, s.name(key), minio.StatObjectOptions{})
	if err != nil {
		return nil, wrap("open", key, err)
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	return &object{s: s, ctx: rctx, cancel: cancel, info: s.info(key, oi)}, nil
}

// object reads one version of an object by ranged GETs.
type object struct {
	s      *Store
	ctx    context.Context
	cancel context.CancelFunc
	info   blob.Info

	rmu  sync.Mutex // guards the sequential reader
	body io.ReadCloser
	pos  int64

	mu     sync.Mutex // guards the block cache
	blocks []block    // most recently used last
	head   []byte     // bytes [0, headSize) once read by a read within them
	closed bool
}

type block struct {
	idx int64
	b   []byte
}

func (o *object) Size() int64     { return o.info.Size }
func (o *object) Info() blob.Info { return o.info }

var errClosedObject = errors.New("object closed")

// get is a GET of bytes [off, off+n) of the version opened.
func (o *object) get(off, n int64) (io.ReadCloser, error) {
	var opts minio.GetObjectOptions
	if err := opts.SetMatchETag(o.info.ETag); err != nil {
		return nil, err
	}
	if err := opts.SetRange(off, off+n-1); err != nil {
		return nil, err
	}
	core := minio.Core{Client: o.s.c}
	wd := newWatchdog(o.ctx, o.s.idle)
	rc, _, _, err := core.GetObject(wd.ctx, o.s.bucket, o.s.name(o.info.Key), opts)
	if err != nil {
		wd.stop()
		if wd.fired() {
			return nil, wd.err("read", o.info.Key, err)
		}
		if preconditionFailed(err) {
			return nil, fmt.Errorf("read %s: replaced since it was opened: %w", o.info.Key, err)
		}
		return nil, wrap("read", o.info.Key, err)
	}
	return &watchedBody{watchedReader: watchedReader{r: rc, w: wd, op: "read", key: o.info.Key}, c: rc}, nil
}

// Read reads on from the last Read, through one GET from there to the end.
func (o *object) Read(p []byte) (int, error) {
	o.rmu.Lock()
	defer o.rmu.Unlock()
	if o.ctx.Err() != nil {
		return 0, fmt.Errorf("read %s: %w", o.info.Key, errClosedObject)
	}
	if o.pos >= o.info.Size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if o.body == nil {
		rc, err := o.get(o.pos, o.info.Size-o.pos)
		if err != nil {
			return 0, err
		}
		o.body = rc
	}
	n, err := o.body.Read(p)
	o.pos += int64(n)
	if err == io.EOF {
		o.body.Close()
		o.body = nil
		if o.pos < o.info.Size {
			return n, fmt.Errorf("read %s: %w: the body ended at %d of %d bytes", o.info.Key, blob.ErrUnavailable, o.pos, o.info.Size)
		}
		err = nil
		if n == 0 {
			err = io.EOF
		}
	} else if err != nil {
		o.body.Close()
		o.body = nil
		return n, wrap("read", o.info.Key, err)
	}
	return n, err
}

// ReadAt reads through the block cache, but for a read of a block or
// more (a decoder taking the whole file), which is one GET straight into
// p: the cache would cost a GET per block and a copy.
func (o *object) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read %s: negative offset %d", o.info.Key, off)
	}
	if len(p) >= blockSize && off < o.info.Size {
		return o.readDirect(p, off)
	}
	n := 0
	for n < len(p) {
		if off >= o.info.Size {
			return n, io.EOF
		}
		c, err := o.copyBlock(p[n:], off)
		if err != nil {
			return n, err
		}
		n += c
		off += int64(c)
	}
	return n, nil
}

// readDirect reads p at off by one ranged GET, to the object's end at
// most (then io.EOF, as io.ReaderAt says).
func (o *object) readDirect(p []byte, off int64) (int, error) {
	o.mu.Lock()
	closed := o.closed
	o.mu.Unlock()
	if closed {
		return 0, fmt.Errorf("read %s: %w", o.info.Key, errClosedObject)
	}
	want := min(int64(len(p)), o.info.Size-off)
	rc, err := o.get(off, want)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	n, err := io.ReadFull(rc, p[:want])
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return n, fmt.Errorf("read %s: %w: a ranged GET gave fewer bytes than asked: %w", o.info.Key, blob.ErrUnavailable, err)
		}
		return n, wrap("read", o.info.Key, err)
	}
	if want < int64(len(p)) {
		return n, io.EOF
	}
	return n, nil
}

// copyBlock copies into p what the block holding off has from off on
// (the head when the read lies within it and block 0 is not cached).
// The copy is made under the lock: another ReadAt may reuse the buffer.
func (o *object) copyBlock(p []byte, off int64) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if off+int64(len(p)) <= headSize && o.info.Size > headSize && !o.cached(0) {
		h, err := o.readHead()
		if err != nil {
			return 0, err
		}
		return copy(p, h[off:]), nil
	}
	b, err := o.block(off / blockSize)
	if err != nil {
		return 0, err
	}
	return copy(p, b[off%blockSize:]), nil
}

// cached reports whether block idx is in the cache; o.mu is held.
func (o *object) cached(idx int64) bool {
	for _, b := range o.blocks {
		if b.idx == idx {
			return true
		}
	}
	return false
}

// readHead returns the object's first headSize bytes, by a GET the first
// time; o.mu is held.
func (o *object) readHead() ([]byte, error) {
	if o.closed {
		return nil, fmt.Errorf("read %s: %w", o.info.Key, errClosedObject)
	}
	if o.head != nil {
		return o.head, nil
	}
	rc, err := o.get(0, headSize)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	h := make([]byte, headSize)
	if _, err := io.ReadFull(rc, h); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("read %s: %w: a ranged GET gave fewer bytes than asked: %w", o.info.Key, blob.ErrUnavailable, err)
		}
		return nil, wrap("read", o.info.Key, err)
	}
	o.head = h
	return h, nil
}

// block returns block idx, from the cache or by a GET; o.mu is held.
func (o *object) block(idx int64) ([]byte, error) {
	if o.closed {
		return nil, fmt.Errorf("read %s: %w", o.info.Key, errClosedObject)
	}
	for i, b := range o.blocks {
		if b.idx == idx {
			o.blocks = append(append(o.blocks[:i:i], o.blocks[i+1:]...), b)
			return b.b, nil
		}
	}
	off := idx * blockSize
	n := min(blockSize, o.info.Size-off)
	rc, err := o.get(off, n)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var buf []byte
	if len(o.blocks) == cacheBlocks {
		buf = o.blocks[0].b[:n]
		o.blocks = o.blocks[1:]
	} else {
		buf = make([]byte, n, blockSize)
	}
	if _, err := io.ReadFull(rc, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("read %s: %w: a ranged GET gave fewer bytes than asked: %w", o.info.Key, blob.ErrUnavailable, err)
		}
		return nil, wrap("read", o.info.Key, err)
	}
	o.blocks = append(o.blocks, block{idx: idx, b: buf})
	return buf, nil
}

// Close ends the reads and drops the cache.
func (o *object) Close() error {
	o.cancel()
	o.rmu.Lock()
	if o.body != nil {
		o.body.Close()
		o.body = nil
	}
	o.rmu.Unlock()
	o.mu.Lock()
	o.closed, o.blocks, o.head = true, nil, nil
	o.mu.Unlock()
	return nil
}
