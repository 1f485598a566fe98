package s3blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/backlot/backlot/persistence/blob"
)

// Spool files are named spoolPrefix + random + spoolSuffix.
const (
	spoolPrefix = "backlot-s3-"
	spoolSuffix = ".spool"
)

// memLimit is how much of an object a Writer holds in memory; past it,
// what it holds goes to a spool file, and the rest after it. Most objects
// (results, and uploads of up to about 1 MiB: a 1920x1080 JPEG) then
// never touch the disk, and an open Writer holds at most this much.
const memLimit = 1 << 20

// bufs are Writers' memory, up to memLimit each.
var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// Create starts an object in memory, spooled to a temp file once over
// memLimit; Commit PUTs it. It asks the store nothing: with Exclusive,
// Commit's PUT carries If-None-Match: *, and a taken key fails then with
// blob.ErrExists (a HEAD here would cost a request for every upload,
// whose keys are new).
func (s *Store) Create(ctx context.Context, key string, opts blob.CreateOptions) (blob.Writer, error) {
	if err := check(ctx, "create", key, blob.ValidKey); err != nil {
		return nil, err
	}
	return &writer{s: s, ctx: ctx, key: key, buf: bufs.Get().(*[]byte), opts: opts}, nil
}

// writer holds the object in memory (buf), or once over memLimit in a
// spool file (f), until Commit. Confined to its caller's goroutine, as
// blob.Writer says.
type writer struct {
	s    *Store
	ctx  context.Context // Create's: bounds the Writer
	key  string
	buf  *[]byte  // the bytes while in memory; nil once spooled, committed or aborted
	f    *os.File // the spool once over memLimit; nil before, and once committed or aborted
	opts blob.CreateOptions
	n    int64
	err  error // the first failed Write's, which Commit returns
}

func (w *writer) closed() bool { return w.buf == nil && w.f == nil }

func (w *writer) Write(p []byte) (int, error) {
	if w.closed() {
		return 0, fmt.Errorf("write %s: %w", w.key, blob.ErrClosed)
	}
	if w.err != nil {
		return 0, w.err
	}
	if err := w.ctx.Err(); err != nil {
		w.err = fmt.Errorf("write %s: %w", w.key, err)
		return 0, w.err
	}
	if w.buf != nil && len(*w.buf)+len(p) <= memLimit {
		*w.buf = append(*w.buf, p...)
		w.n += int64(len(p))
		return len(p), nil
	}
	if w.buf != nil {
		if err := w.spill(); err != nil {
			w.err = err
			return 0, err
		}
	}
	n, err := w.f.Write(p)
	w.n += int64(n)
	if err != nil {
		w.err = fmt.Errorf("write %s: spool: %w", w.key, err)
		return n, w.err
	}
	return n, nil
}

// spill moves what the Writer holds in memory to a new spool file.
func (w *writer) spill() error {
	f, err := os.CreateTemp(w.s.spoolDir, spoolPrefix+"*"+spoolSuffix)
	if err != nil {
		return fmt.Errorf("write %s: spool: %w", w.key, err)
	}
	w.f = f
	_, err = f.Write(*w.buf)
	w.putBuf()
	if err != nil {
		return fmt.Errorf("write %s: spool: %w", w.key, err)
	}
	return nil
}

// putBuf gives the memory back to the pool.
func (w *writer) putBuf() {
	if w.buf == nil {
		return
	}
	b := w.buf
	w.buf = nil
	*b = (*b)[:0]
	bufs.Put(b)
}

// memBody reads a Writer's memory until shut; reads after fail.
type memBody struct {
	mu   sync.Mutex
	r    *bytes.Reader
	done bool
}

var errShut = errors.New("the PUT is over")

func (b *memBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return 0, errShut
	}
	return b.r.Read(p)
}

func (b *memBody) Seek(off int64, whence int) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return 0, errShut
	}
	return b.r.Seek(off, whence)
}

func (b *memBody) shut() {
	b.mu.Lock()
	b.done = true
	b.mu.Unlock()
}

// release drops what the Writer holds: its memory, its spool file.
func (w *writer) release() {
	w.putBuf()
	if w.f != nil {
		w.f.Close()
		os.Remove(w.f.Name())
		w.f = nil
	}
}

// Commit PUTs the object in one request: S3 makes it visible whole when
// the PUT succeeds, and not at all when it fails.
func (w *writer) Commit(ctx context.Context) (blob.Info, error) {
	if w.closed() {
		return blob.Info{}, fmt.Errorf("commit %s: %w", w.key, blob.ErrClosed)
	}
	// The body: the memory, or the spool from its start. The transport
	// may still read a body after the PUT was answered (an early 412):
	// the memory is given back only once its reader is shut.
	defer w.release()
	var body io.ReadSeeker = w.f
	if w.buf != nil {
		mb := &memBody{r: bytes.NewReader(*w.buf)}
		defer mb.shut() // before release
		body = mb
	}
	if w.err != nil {
		return blob.Info{}, w.err
	}
	for _, c := range []context.Context{ctx, w.ctx} {
		if err := c.Err(); err != nil {
			return blob.Info{}, fmt.Errorf("commit %s: %w", w.key, err)
		}
	}
	// Either ctx ending stops the PUT.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(w.ctx, cancel)
	defer stop()

	if _, err := body.Seek(0, io.SeekStart); err != nil {
		return blob.Info{}, fmt.Errorf("commit %s: spool: %w", w.key, err)
	}
	ct := mime.TypeByExtension(path.Ext(w.key)) // results: image/jpeg, image/png, as a presigned GET serves them
	if ct == "" {
		ct = "application/octet-stream"
	}
	po := minio.PutObjectOptions{
		ContentType: ct,
		// One PUT whatever the size: atomic, and If-None-Match applies.
		DisableMultipart: true,
		// UNSIGNED-PAYLOAD, as minio-go sends over HTTPS anyway: over
		// plain HTTP it would otherwise sign every 64 KiB chunk with
		// SHA-256, and the server check each (measured on SeaweedFS at
		// 1920x1080: the larger part of both processes' CPU per image).
		// The headers stay signed; TLS, or TCP on a trusted network,
		// carries the bytes.
		DisableContentSha256: true,
	}
	if w.opts.Exclusive {
		po.SetMatchETagExcept("*")
	}
	name := w.s.name(w.key)
	wd := newWatchdog(ctx, w.s.idle)
	up, err := w.s.c.PutObject(wd.ctx, w.s.bucket, name, &watchedFile{watchedReader{r: body, w: wd, op: "commit", key: w.key}, body}, w.n, po)
	fired := wd.fired()
	wd.stop()
	if err != nil && fired {
		return blob.Info{}, fmt.Errorf("commit %s: %w: %w", w.key, blob.ErrUnavailable, errIdle)
	}
	if err != nil {
		if w.opts.Exclusive && preconditionFailed(err) {
			return blob.Info{}, fmt.Errorf("commit %s: %w", w.key, blob.ErrExists)
		}
		if e := w.ctx.Err(); e != nil && ctx.Err() != nil {
			return blob.Info{}, fmt.Errorf("commit %s: %w", w.key, e)
		}
		return blob.Info{}, wrap("commit", w.key, err)
	}
	// The PUT's answer has no modification time, and a HEAD for it would
	// cost a request per object that nobody reads: Commit's ModTime is
	// this node's clock (blob.Writer says so); Stat and List give the
	// store's.
	return blob.Info{Key: w.key, Size: w.n, ETag: strings.Trim(up.ETag, `"`), ModTime: timeNow()}, nil
}

// Abort drops the memory and the spool.
func (w *writer) Abort() error {
	w.putBuf()
	if w.f == nil {
		return nil
	}
	f := w.f
	w.f = nil
	f.Close()
	if err := os.Remove(f.Name()); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("abort %s: %w", w.key, err)
	}
	return nil
}

// SweepSpool removes the spool files older than grace that Writers left
// in the spool directory when their process died before Commit or Abort
// (the objects were never PUT): what the start-up sweep calls, as it
// calls fsblob's SweepTemp. It returns how many it removed.
func (s *Store) SweepSpool(ctx context.Context, grace time.Duration) (int, error) {
	ents, err := os.ReadDir(s.spoolDir)
	if err != nil {
		return 0, fmt.Errorf("sweep spool: %w", err)
	}
	cut := timeNow().Add(-grace)
	n := 0
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if !strings.HasPrefix(e.Name(), spoolPrefix) || !strings.HasSuffix(e.Name(), spoolSuffix) {
			continue
		}
		info, err := e.Info()
		if err != nil || (grace > 0 && info.ModTime().After(cut)) {
			continue
		}
		if err := os.Remove(filepath.Join(s.spoolDir, e.Name())); err == nil {
			n++
		}
	}
	return n, nil
}
