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
// at most headSize+cacheBlocks*blockSize bytes of memory, plus the
// sequential reader's buffer.
const (
	blockSize   = 256 << 10
	cacheBlocks = 4
	// headSize is what Open reads of its GET before it returns: the
	// object's first bytes, which cover what the header probes read (the
	// format's header, and resize's look for the Exif orientation in the
	// first 128 KiB of a JPEG), so that they cost no further request. An
	// object no larger is read whole by Open (a result, a small upload).
	headSize = 160 << 10
)

// Open is one GET of the whole object: its answer tells the size and
// ETag (no HEAD), Open reads the first headSize bytes of it, and the rest
// of the answer is kept for a read that goes on from there (a decoder
// taking the whole file, a download): so a resize reads its source in
// one request, a download of a result too. A read elsewhere drops it and
// GETs what it needs; every GET after Open carries If-Match with the
// ETag, so that a replaced object fails to read rather than mixing
// versions, and a deleted one fails with ErrNotFound.
//
// Reads outlive Open's ctx (a response body is sent after its handler
// returns): they keep its values but not its cancellation, and Close
// ends them.
func (s *Store) Open(ctx context.Context, key string) (blob.Object, error) {
	if err := check(ctx, "open", key, blob.ValidKey); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	o := &object{s: s, ctx: rctx, cancel: cancel}
	// Open's ctx ending stops the GET while Open waits on it.
	stop := context.AfterFunc(ctx, cancel)
	err := o.openHead(key)
	if !stop() && err == nil {
		err = fmt.Errorf("open %s: %w", key, ctx.Err())
	}
	if err != nil {
		o.Close()
		return nil, err
	}
	return o, nil
}

// openHead GETs the object under key, reads its head and keeps the rest
// of the answer (o.cont) when there is more.
func (o *object) openHead(key string) error {
	body, oi, err := o.fetch("open", key, minio.GetObjectOptions{})
	if err != nil {
		return err
	}
	if oi.Size < 0 {
		body.Close()
		return fmt.Errorf("open %s: the store answered a GET without Content-Length", key)
	}
	o.info = o.s.info(key, oi)
	head := make([]byte, min(oi.Size, headSize))
	if _, err := io.ReadFull(body, head); err != nil {
		body.Close()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("open %s: %w: the GET gave fewer bytes than its length: %w", key, blob.ErrUnavailable, err)
		}
		return wrap("open", key, err)
	}
	o.head = head
	if int64(len(head)) < oi.Size {
		o.park(body, int64(len(head)))
	} else {
		body.Close()
	}
	return nil
}

// object reads one version of an object: its head (the first bytes,
// which Open read) from memory, the bytes after it from the rest of
// Open's GET when a read goes on from there, others by ranged GETs.
type object struct {
	s      *Store
	ctx    context.Context
	cancel context.CancelFunc
	info   blob.Info
	head   []byte // bytes [0, len(head)): all of them, or headSize

	cmu     sync.Mutex   // guards the kept answer
	cont    *watchedBody // the rest of a GET, positioned at contPos; nil when none
	contPos int64
	ended   bool // closed: nothing is kept any more

	rmu      sync.Mutex // guards the sequential reader
	body     io.ReadCloser
	bodyCont bool // body is a kept answer (take), which may have died while kept
	pos      int64

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

// park keeps the rest of a GET, positioned at pos, for a read that goes
// on from there; its watchdog waits meanwhile (nothing is asked of it).
func (o *object) park(c *watchedBody, pos int64) {
	o.cmu.Lock()
	defer o.cmu.Unlock()
	if o.ended || o.cont != nil {
		c.Close()
		return
	}
	c.w.pause()
	o.cont, o.contPos = c, pos
}

// take returns the kept answer when it is positioned at off, its
// watchdog watching again; nil when there is none, or it is elsewhere
// (then it is dropped: reads that jump about use ranged GETs).
func (o *object) take(off int64) *watchedBody {
	o.cmu.Lock()
	defer o.cmu.Unlock()
	c := o.cont
	if c == nil {
		return nil
	}
	o.cont = nil
	if o.contPos != off {
		c.Close()
		return nil
	}
	c.w.resume()
	return c
}

// get is a GET of bytes [off, off+n) of the version opened.
func (o *object) get(off, n int64) (io.ReadCloser, error) {
	var opts minio.GetObjectOptions
	if err := opts.SetMatchETag(o.info.ETag); err != nil {
		return nil, err
	}
	if err := opts.SetRange(off, off+n-1); err != nil {
		return nil, err
	}
	body, _, err := o.fetch("read", o.info.Key, opts)
	if err != nil {
		return nil, err // not a nil *watchedBody in a non-nil interface
	}
	return body, nil
}

// fetch is one GET of the object under key with opts, its body watched
// for idleness under o's ctx; op names the call in its errors.
func (o *object) fetch(op, key string, opts minio.GetObjectOptions) (*watchedBody, minio.ObjectInfo, error) {
	core := minio.Core{Client: o.s.c}
	wd := newWatchdog(o.ctx, o.s.idle)
	rc, oi, _, err := core.GetObject(wd.ctx, o.s.bucket, o.s.name(key), opts)
	if err != nil {
		wd.stop()
		if wd.fired() {
			return nil, oi, wd.err(op, key, err)
		}
		if preconditionFailed(err) { // only a GET with If-Match: a read after Open
			return nil, oi, fmt.Errorf("%s %s: replaced since it was opened: %w", op, key, err)
		}
		return nil, oi, wrap(op, key, err)
	}
	return &watchedBody{watchedReader: watchedReader{r: rc, w: wd, op: "read", key: key}, c: rc}, oi, nil
}

// Read reads on from the last Read: from the head, then from the rest of
// Open's GET (or, when that is gone, one GET from there to the end).
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
	for {
		if o.body == nil {
			if c := o.take(o.pos); c != nil {
				o.body, o.bodyCont = c, true
			} else {
				rc, err := o.get(o.pos, o.info.Size-o.pos)
				if err != nil {
					return 0, err
				}
				o.body, o.bodyCont = rc, false
			}
		}
		n, err := o.body.Read(p)
		o.pos += int64(n)
		if err == nil {
			return n, nil
		}
		cont := o.bodyCont
		fired := o.bodyCont && o.body.(*watchedBody).w.fired()
		o.body.Close()
		o.body = nil
		if err == io.EOF && o.pos >= o.info.Size {
			if n == 0 {
				return 0, io.EOF
			}
			return n, nil
		}
		if cont && !fired {
			// The kept answer died while kept (the server closed an idle
			// connection): GET the rest instead.
			if n > 0 {
				return n, nil
			}
			continue
		}
		if err == io.EOF {
			return n, fmt.Errorf("read %s: %w: the body ended at %d of %d bytes", o.info.Key, blob.ErrUnavailable, o.pos, o.info.Size)
		}
		return n, wrap("read", o.info.Key, err)
	}
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

// readDirect reads p at off from the rest of Open's GET when it is
// there, else by one ranged GET, to the object's end at most (then
// io.EOF, as io.ReaderAt says).
func (o *object) readDirect(p []byte, off int64) (int, error) {
	want := min(int64(len(p)), o.info.Size-off)
	var got int64
	if c := o.take(off); c != nil {
		n, err := io.ReadFull(c, p[:want])
		got = int64(n)
		switch {
		case err == nil && off+want < o.info.Size:
			o.park(c, off+want)
		case err == nil:
			c.Close()
		default:
			fired := c.w.fired()
			c.Close()
			if fired {
				return n, fmt.Errorf("read %s: %w: %w", o.info.Key, blob.ErrUnavailable, errIdle)
			}
			// The kept answer died while kept: GET the rest.
		}
	}
	if got < want {
		rc, err := o.get(off+got, want-got)
		if err != nil {
			return int(got), err
		}
		defer rc.Close()
		n, err := io.ReadFull(rc, p[got:want])
		got += int64(n)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return int(got), fmt.Errorf("read %s: %w: a ranged GET gave fewer bytes than asked: %w", o.info.Key, blob.ErrUnavailable, err)
			}
			return int(got), wrap("read", o.info.Key, err)
		}
	}
	if want < int64(len(p)) {
		return int(got), io.EOF
	}
	return int(got), nil
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

// Close ends the reads and drops what is kept.
func (o *object) Close() error {
	o.cancel()
	o.cmu.Lock()
	o.ended = true
	if o.cont != nil {
		o.cont.Close()
		o.cont = nil
	}
	o.cmu.Unlock()
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
