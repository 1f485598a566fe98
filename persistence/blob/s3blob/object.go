package s3blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/backlot/backlot/persistence/blob"
)

var timeNow = time.Now

// Reads of an object go in blocks of blockSize, the last cacheBlocks of
// them kept: decoders read headers a few bytes at a time, at offsets
// that jump about, and each GET costs a round trip. An open object holds
// at most headSize+cacheBlocks*blockSize bytes of memory, plus the
// sequential reader's buffer.
const (
	blockSize   = 256 << 10
	cacheBlocks = 4
	// headSize is what Open GETs: the object's first bytes, which also
	// tell its size and ETag (no HEAD). It covers what the header probes
	// read (the upload's, the admission's and the resizer's: the format's
	// header, and resize's look for the Exif orientation in the first
	// 128 KiB of a JPEG), so that they cost no further request; a whole
	// block would cost the store more reading for each (measured on
	// SeaweedFS: ~1.5 ms of its CPU per 256 KiB GET, ~0.5 per 64 KiB).
	// An object no larger is read whole by Open (a result, a small
	// upload).
	headSize = 160 << 10
)

// Open GETs the object's first headSize bytes, with its size (from
// Content-Range) and ETag: one request, where a HEAD and then a GET of
// the header would be two. Every GET after it carries If-Match with that
// ETag, so that a replaced object fails to read rather than mixing
// versions; a deleted one fails with ErrNotFound.
//
// Reads outlive Open's ctx (a response body is sent after its handler
// returns): they keep its values but not its cancellation, and Close
// ends them.
func (s *Store) Open(ctx context.Context, key string) (blob.Object, error) {
	if err := check(ctx, "open", key, blob.ValidKey); err != nil {
		return nil, err
	}
	info, head, err := s.openHead(ctx, key)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	return &object{s: s, ctx: rctx, cancel: cancel, info: info, head: head}, nil
}

// openHead GETs bytes [0, headSize) of the object under key and returns
// its Info and those bytes (all of them when it is no larger). An empty
// object has no byte range to ask for (416): a HEAD tells its Info then.
func (s *Store) openHead(ctx context.Context, key string) (blob.Info, []byte, error) {
	var opts minio.GetObjectOptions
	if err := opts.SetRange(0, headSize-1); err != nil {
		return blob.Info{}, nil, err
	}
	core := minio.Core{Client: s.c}
	wd := newWatchdog(ctx, s.idle)
	defer wd.stop()
	rc, oi, h, err := core.GetObject(wd.ctx, s.bucket, s.name(key), opts)
	if err != nil {
		if wd.fired() {
			return blob.Info{}, nil, wd.err("open", key, err)
		}
		if r := minio.ToErrorResponse(err); r.StatusCode == http.StatusRequestedRangeNotSatisfiable || r.Code == "InvalidRange" {
			oi, err := s.c.StatObject(ctx, s.bucket, s.name(key), minio.StatObjectOptions{})
			if err != nil {
				return blob.Info{}, nil, wrap("open", key, err)
			}
			return s.info(key, oi), nil, nil
		}
		return blob.Info{}, nil, wrap("open", key, err)
	}
	defer rc.Close()
	info := s.info(key, oi)
	if cr := h.Get("Content-Range"); cr != "" {
		// "bytes 0-163839/481732": the object's size is after the '/'.
		i := strings.LastIndexByte(cr, '/')
		n, perr := strconv.ParseInt(cr[i+1:], 10, 64)
		if i < 0 || perr != nil || n < oi.Size {
			return blob.Info{}, nil, fmt.Errorf("open %s: the store answered a range with Content-Range %q", key, cr)
		}
		info.Size = n
	} // else a 200: the whole object, of Content-Length bytes
	want := min(oi.Size, headSize)
	head := make([]byte, want)
	r := &watchedReader{r: rc, w: wd, op: "open", key: key}
	if _, err := io.ReadFull(r, head); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return blob.Info{}, nil, fmt.Errorf("open %s: %w: a ranged GET gave fewer bytes than asked: %w", key, blob.ErrUnavailable, err)
		}
		return blob.Info{}, nil, wrap("open", key, err)
	}
	return info, head, nil
}

// object reads one version of an object by ranged GETs, its head (the
// first bytes, which Open read) from memory.
type object struct {
	s      *Store
	ctx    context.Context
	cancel context.CancelFunc
	info   blob.Info
	head   []byte // bytes [0, len(head)): all of them, or headSize

	rmu  sync.Mutex // guards the sequential reader
	body io.ReadCloser
	pos  int64

	mu     sync.Mutex // guards the block cache
	blocks []block    // most recently used last
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

// Read reads on from the last Read: from the head, then through one GET
// from there to the end.
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
	if o.pos < int64(len(o.head)) {
		n := copy(p, o.head[o.pos:])
		o.pos += int64(n)
		return n, nil
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

// ReadAt reads from the head what lies in it, and the rest through the
// block cache, but for a read of a block or more (a decoder taking the
// whole file), which is one GET straight into p: the cache would cost a
// GET per block and a copy.
func (o *object) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read %s: negative offset %d", o.info.Key, off)
	}
	o.mu.Lock()
	closed := o.closed
	o.mu.Unlock()
	if closed {
		return 0, fmt.Errorf("read %s: %w", o.info.Key, errClosedObject)
	}
	n := 0
	if off < int64(len(o.head)) {
		n = copy(p, o.head[off:])
		off += int64(n)
	}
	if n == len(p) {
		return n, nil
	}
	if off >= o.info.Size {
		return n, io.EOF
	}
	if len(p)-n >= blockSize {
		c, err := o.readDirect(p[n:], off)
		return n + c, err
	}
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

// copyBlock copies into p what the block holding off has from off on.
// The copy is made under the lock: another ReadAt may reuse the buffer.
func (o *object) copyBlock(p []byte, off int64) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	b, err := o.block(off / blockSize)
	if err != nil {
		return 0, err
	}
	return copy(p, b[off%blockSize:]), nil
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

// Close ends the reads and drops the head and the cache.
func (o *object) Close() error {
	o.cancel()
	o.rmu.Lock()
	if o.body != nil {
		o.body.Close()
		o.body = nil
	}
	o.rmu.Unlock()
	o.mu.Lock()
	o.closed, o.blocks = true, nil
	o.mu.Unlock()
	return nil
}
