package http

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"os"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/backlot/backlot/actors/resize"
	"github.com/backlot/backlot/persistence"
)

// upload handles POST /api/images and counts the outcome.
func (s *Server) upload(c *fiber.Ctx) error {
	n, err := s.doUpload(c)
	code := "accepted"
	if err != nil {
		code = codeOf(err)
	}
	s.met.Upload(code, n)
	return err
}

// doUpload streams each part to disk, judges each file by its bytes, then
// records the batch durably and answers 202. On any error the batch's
// directory is removed and nothing reaches the store.
func (s *Server) doUpload(c *fiber.Ctx) (int, error) {
	if !s.accepting.Load() {
		return 0, unavailable("shutting_down", "this node is shutting down; retry on another node or later")
	}
	mt, params, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return 0, apiError(fiber.StatusBadRequest, "not_multipart", "the body must be multipart/form-data with a boundary")
	}
	var body io.Reader = c.Context().RequestBodyStream()
	if body == nil {
		body = bytes.NewReader(c.Body())
	}
	if err := s.storeReachable(c.UserContext()); err != nil {
		discardRest(c, body) // fail before the body goes to disk for nothing
		return 0, err
	}
	if err := s.roomFor(c.UserContext(), 1); err != nil {
		discardRest(c, body)
		return 0, err
	}
	if n := c.Request().Header.ContentLength(); n > 0 && int64(n) > s.cfg.MaxBody {
		discardRest(c, body)
		return 0, apiError(fiber.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the request body (%d bytes) is over the limit of %d bytes", n, s.cfg.MaxBody))
	}
	declared := int64(c.Request().Header.ContentLength()) // < 0: chunked, not known
	if err := s.uploadRoom(max(declared, 0)); err != nil {
		discardRest(c, body)
		return 0, err
	}
	// Read the socket in large pieces: multipart's own buffer is 4 KiB, so
	// without this every read and every file write would be 4 KiB or less
	// (500 syscalls per MB).
	br := getIOBuf()
	defer putIOBuf(br)
	br.r.Reset(body)
	lr := &limitReader{r: br.r, n: s.cfg.MaxBody}

	batchID := uuid.NewString()
	dir := s.files.BatchDir(batchID)
	in := &incoming{s: s, batchID: batchID, dir: dir, form: map[string]string{}, buf: br.buf, body: lr, declared: declared}
	images, err := in.read(multipart.NewReader(lr, params["boundary"]))
	if err == nil {
		err = in.checkDisk() // what was written since the last look
	}
	if err == nil {
		err = s.record(c.UserContext(), batchID, images, &in.syncs, in.form)
	}
	if err != nil {
		_ = in.syncs.wait() // the files go below; let their fsyncs end first
		if rmErr := os.RemoveAll(dir); rmErr != nil {
			s.log.Error("remove rejected batch files", "batch_id", batchID, "err", rmErr)
		}
		if lr.over {
			err = apiError(fiber.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the request body is over the limit of %d bytes", s.cfg.MaxBody))
		}
		if full := noSpace(err); full != err {
			s.log.Error("disk full: upload rejected", "batch_id", batchID, "err", err)
			err = full
		} else if codeOf(err) == "insufficient_storage" {
			s.log.Warn("disk below its reserve: upload rejected", "batch_id", batchID, "err", err)
		}
		discardRest(c, lr.r)
		s.log.Info("upload rejected", "batch_id", batchID, "err", err)
		return 0, err
	}
	loc := "/api/images/" + batchID
	refs := make([]fiber.Map, len(images))
	for i, im := range images {
		refs[i] = fiber.Map{"id": im.ID, "name": im.Name}
	}
	s.log.Info("batch accepted", "batch_id", batchID, "images", len(images))
	c.Location(loc)
	return len(images), c.Status(fiber.StatusAccepted).JSON(fiber.Map{
		"batchId": batchID, "total": len(images), "images": refs,
		"status": loc, "events": loc + "/events",
	})
}

// storeReachable answers 503 at once when the store says it is down, so a
// client does not send a large body only to be refused at the end.
func (s *Server) storeReachable(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.log.Warn("upload refused: store unreachable", "err", err)
		return unavailable("store_unavailable", "the store is unreachable; retry later")
	}
	return nil
}

// roomFor answers 503 queue_full when n more images would put the queue
// over MaxQueued. (Two uploads checking at once may pass it by one batch:
// the bound is for backpressure, not an exact quota.)
func (s *Server) roomFor(ctx context.Context, n int) error {
	if s.cfg.MaxQueued <= 0 {
		return nil
	}
	pending, inflight, err := s.store.QueueDepth(ctx)
	if err != nil {
		if errors.Is(err, persistence.ErrUnavailable) {
			return unavailable("store_unavailable", "the store is unreachable; retry later")
		}
		return fmt.Errorf("queue depth: %w", err)
	}
	if pending+inflight+n > s.cfg.MaxQueued {
		e := unavailable("queue_full", fmt.Sprintf("the queue is full (%d images waiting or running, limit %d); retry later", pending+inflight, s.cfg.MaxQueued))
		e.RetryAfter = 10
		return e
	}
	return nil
}

// diskLow reports whether writing n more bytes would leave the data
// directory's file system with less than MinFreeDisk free, and what is
// free now. A file system that cannot tell its free space is given the
// benefit of the doubt: a real ENOSPC still ends as 507 (noSpace).
func (s *Server) diskLow(n int64) (free int64, low bool) {
	if s.cfg.MinFreeDisk <= 0 {
		return 0, false
	}
	free, ok := freeBytes(s.files.Root)
	return free, ok && free-n < s.cfg.MinFreeDisk
}

// diskRoom is readiness's look at the disk: 503 insufficient_storage
// while less than MinFreeDisk is free (n bytes more to come; /readyz asks
// with 0). A node that is not ready answers 503 whatever the cause; an
// upload refused for the disk gets 507 (uploadRoom).
func (s *Server) diskRoom(n int64) error {
	free, low := s.diskLow(n)
	if !low {
		return nil
	}
	return unavailable("insufficient_storage", fmt.Sprintf(
		"the server's disk is nearly full (%d bytes free, %d kept in reserve)", free, s.cfg.MinFreeDisk))
}

// uploadRoom answers API.md's 507 insufficient_storage (with Retry-After)
// before a byte of the body is read when its declared length n (0 when
// not declared, as for a chunked body) would eat into MinFreeDisk. The
// free space is looked at again while the body is written
// (incoming.checkDisk), which is what bounds a chunked body.
func (s *Server) uploadRoom(n int64) error {
	free, low := s.diskLow(n)
	if !low {
		return nil
	}
	return insufficientStorage(fmt.Sprintf(
		"the server's disk is nearly full (%d bytes free, %d kept in reserve, this upload %d bytes); retry later or on another node",
		free, s.cfg.MinFreeDisk, n))
}

// discardRest reads a bounded rest of a rejected body, so a client that is
// still sending sees the answer rather than a reset, and closes the
// connection after the answer.
func discardRest(c *fiber.Ctx, body io.Reader) {
	_, _ = io.CopyN(io.Discard, body, 8<<20)
	c.Set(fiber.HeaderConnection, "close")
}

// admit refuses (413 image_too_large) an image that no attempt could
// decode with opts within the decode memory's ceiling (resize.Admit): in
// bytes, not pixels, as its header declares them.
func (s *Server) admit(batchID string, images []persistence.Image, opts persistence.Options) error {
	b := s.cfg.ResizeLimits.Budget
	if b == nil {
		return nil
	}
	for _, im := range images {
		err := resize.Admit(s.files.Source(batchID, im.ID), opts, s.cfg.MaxPixels, b.Ceiling())
		switch {
		case errors.Is(err, resize.ErrTooMuchMemory):
			return fileError(fiber.StatusRequestEntityTooLarge, "image_too_large", resize.Message(err), im.Name)
		case err != nil:
			return fmt.Errorf("admit upload: %w", err)
		}
	}
	return nil
}

// record parses the options and, once the images' files and the batch
// directories are fsynced and the store holds the batch with its first
// event and its jobs, returns nil.
func (s *Server) record(ctx context.Context, batchID string, images []persistence.Image, syncs *syncer, form map[string]string) error {
	if len(images) == 0 {
		return apiError(fiber.StatusBadRequest, "no_images", `the request has no "images" file part`)
	}
	opts, err := persistence.ParseOptions(func(k string) string { return form[k] })
	if err != nil {
		var oe *persistence.OptionError
		if errors.As(err, &oe) {
			e := apiError(fiber.StatusBadRequest, "invalid_parameter", oe.Error())
			e.Extra = map[string]any{"param": oe.Param}
			return e
		}
		return err
	}
	if err := s.admit(batchID, images, opts); err != nil {
		return err
	}
	syncs.add(s.files.BatchDir(batchID))
	syncs.add(s.files.BatchDir(""))
	if err := s.roomFor(ctx, len(images)); err != nil {
		return err
	}
	b, first, err := persistence.NewBatch(batchID, time.Now(), opts, images)
	if err != nil {
		return err
	}
	// The store's commit and the files' fsyncs run at once: the 202 waits
	// for both, so what it acknowledges is durable, but for the longer of
	// the two rather than their sum. A crash between them can leave a
	// batch whose files were not yet durable; its client got no 202 (and
	// no id), and its images fail as unreadable, never as lost work.
	created := make(chan error, 1)
	go func() { created <- s.store.Create(ctx, b, first) }()
	syncErr := syncs.wait()
	if err := <-created; err != nil {
		if errors.Is(err, persistence.ErrUnavailable) {
			return unavailable("store_unavailable", "the store is unreachable; retry later")
		}
		return fmt.Errorf("create batch: %w", err)
	}
	if syncErr != nil {
		// Recorded, but its files may not be durable: the client hears
		// of a failure and uploads again; this batch runs on unnoticed.
		return syncErr
	}
	return nil
}

// incoming is one upload being read.
type incoming struct {
	s       *Server
	batchID string
	dir     string
	form    map[string]string
	images  []persistence.Image
	syncs   syncer // the images' files being fsynced
	buf     []byte // the chunk files are written in (the upload's ioBuf)
	parts   int

	body     *limitReader // the request body, which counts what is read of it
	declared int64        // the body's Content-Length; < 0 when not declared
	unsized  int64        // bytes written to files since the free space was last looked at
}

// diskCheckEvery is how many bytes of files an upload writes between two
// looks at the free space (a statfs, about a microsecond): a chunked body
// eats at most this much into MinFreeDisk before it is refused.
const diskCheckEvery = 1 << 20

// wrote counts n bytes written to the upload's files and, every
// diskCheckEvery bytes, looks at the free space.
func (in *incoming) wrote(n int) error {
	in.unsized += int64(n)
	if in.unsized < diskCheckEvery {
		return nil
	}
	return in.checkDisk()
}

// checkDisk answers 507 insufficient_storage when the free space, less
// what the body still declares to come, is below MinFreeDisk: the disk
// crossed the floor while this upload was written (other uploads, results
// and the store write to it too, and a chunked body declares nothing).
func (in *incoming) checkDisk() error {
	s := in.s
	in.unsized = 0
	var rest int64
	if in.declared > 0 {
		rest = max(in.declared-(s.cfg.MaxBody-in.body.n), 0)
	}
	free, low := s.diskLow(rest)
	if !low {
		return nil
	}
	return insufficientStorage(fmt.Sprintf(
		"the server's disk is below its reserve (%d bytes free, %d kept in reserve, %d bytes of the upload still to come): it went below while the upload was written, and nothing of the upload was kept; retry later or on another node",
		free, s.cfg.MinFreeDisk, rest))
}

// watched is an upload file whose writes are counted (incoming.wrote): a
// write past the free-space floor fails with its 507.
type watched struct {
	f  *os.File
	in *incoming
}

func (w watched) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		return n, err
	}
	return n, w.in.wrote(n)
}

// maxFieldBytes bounds a text field (width, fit, …): they are tiny.
const maxFieldBytes = 1 << 10

func (in *incoming) read(mr *multipart.Reader) ([]persistence.Image, error) {
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			if in.parts == 0 {
				return nil, apiError(fiber.StatusBadRequest, "bad_multipart", "the multipart body holds no parts (is the boundary right?)")
			}
			return in.images, nil
		}
		in.parts++
		if err != nil {
			return nil, badMultipart(err)
		}
		switch name := p.FormName(); {
		case name == "images":
			if err := in.file(p); err != nil {
				return nil, err
			}
		case isOption(name):
			if _, dup := in.form[name]; dup {
				e := apiError(fiber.StatusBadRequest, "duplicate_field", fmt.Sprintf("parameter %q is given more than once", name))
				e.Extra = map[string]any{"param": name}
				return nil, e
			}
			v, err := io.ReadAll(io.LimitReader(p, maxFieldBytes+1))
			if err != nil {
				return nil, badMultipart(err)
			}
			if len(v) > maxFieldBytes {
				return nil, apiError(fiber.StatusBadRequest, "invalid_parameter", fmt.Sprintf("parameter %q is too long", name))
			}
			in.form[name] = string(v)
		default: // unknown parts are skipped, as HTML forms may send extra fields
			if _, err := io.Copy(io.Discard, p); err != nil {
				return nil, badMultipart(err)
			}
		}
	}
}

func isOption(name string) bool {
	switch name {
	case "width", "height", "fit", "format", "quality":
		return true
	}
	return false
}

func badMultipart(err error) error {
	var le *limitError
	if errors.As(err, &le) {
		return err
	}
	return apiError(fiber.StatusBadRequest, "bad_multipart", "the multipart body could not be read: "+err.Error())
}

// file streams one image part to <dir>/<imageId>.src, judging it by its
// first bytes as they arrive and by its header once written.
func (in *incoming) file(p *multipart.Part) error {
	s := in.s
	name := clientName(p)
	if len(in.images) >= s.cfg.MaxFiles {
		return apiError(fiber.StatusRequestEntityTooLarge, "too_many_files", fmt.Sprintf("a batch holds at most %d files", s.cfg.MaxFiles))
	}
	if len(in.images) == 0 {
		if err := os.MkdirAll(in.dir, 0o755); err != nil {
			return fmt.Errorf("create batch dir: %w", err)
		}
	}
	head := make([]byte, 16)
	n, err := io.ReadFull(p, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return badMultipart(err)
	}
	head = head[:n]
	if _, ok := resize.Sniff(head); !ok {
		return fileError(fiber.StatusUnsupportedMediaType, "unsupported_image", "not a supported image (JPEG, PNG, GIF, WebP, BMP or TIFF), judged by its bytes", name)
	}
	id := uuid.NewString()
	path := s.files.Source(in.batchID, id)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("create upload file: %w", err)
	}
	written, err := copyFile(f, head, p, s.cfg.MaxFileSize, in.buf, watched{f, in})
	if err != nil {
		_ = f.Close()
		if errors.Is(err, errFileTooLarge) {
			return fileError(fiber.StatusRequestEntityTooLarge, "file_too_large", fmt.Sprintf("the file is over the limit of %d bytes", s.cfg.MaxFileSize), name)
		}
		return err
	}
	in.syncs.addFile(f) // fsynced and closed in the background, while the next part arrives
	info, err := resize.Probe(path, s.cfg.MaxPixels)
	switch {
	case errors.Is(err, resize.ErrTooManyPixels):
		return fileError(fiber.StatusRequestEntityTooLarge, "too_many_pixels", fmt.Sprintf("the image declares more than %d pixels", s.cfg.MaxPixels), name)
	case errors.Is(err, resize.ErrUnsupported):
		return fileError(fiber.StatusUnsupportedMediaType, "unsupported_image", "not a supported image: its header does not decode ("+err.Error()+")", name)
	case err != nil:
		return fmt.Errorf("probe upload (%d bytes): %w", written, err)
	}
	in.images = append(in.images, persistence.Image{ID: id, Name: name, Format: info.Format})
	return nil
}

var errFileTooLarge = errors.New("file too large")

// copyFile writes head to f and then the rest of r through w (f, or f
// watched for the free space) in chunks of buf's size, failing once more
// than max bytes arrive.
func copyFile(f *os.File, head []byte, r io.Reader, max int64, buf []byte, w io.Writer) (int64, error) {
	if _, err := f.Write(head); err != nil {
		return 0, fmt.Errorf("write upload file: %w", err)
	}
	rest := max - int64(len(head))
	n, err := copyLarge(w, io.LimitReader(r, rest+1), buf)
	total := int64(len(head)) + n
	if err != nil {
		var le *limitError
		var we *writeError
		switch {
		case errors.As(err, &le):
			return total, err
		case errors.As(err, &we):
			// The server's fault (a full disk, or one below its floor,
			// among others), not the body's.
			return total, fmt.Errorf("write upload file: %w", we.err)
		}
		return total, badMultipart(err)
	}
	if n > rest {
		return total, errFileTooLarge
	}
	return total, nil
}

// ioBufSize is the size of an upload's socket read buffer and of the
// chunks its files are written in.
const ioBufSize = 256 << 10

// ioBuf is one upload's pair of buffers, pooled: the socket's reader and
// copyLarge's chunk.
type ioBuf struct {
	r   *bufio.Reader
	buf []byte
}

var ioBufs = sync.Pool{New: func() any {
	return &ioBuf{r: bufio.NewReaderSize(nil, ioBufSize), buf: make([]byte, ioBufSize)}
}}

func getIOBuf() *ioBuf { return ioBufs.Get().(*ioBuf) }

func putIOBuf(b *ioBuf) {
	b.r.Reset(nil) // drop the request's reader
	ioBufs.Put(b)
}

// writeError is copyLarge's writer failing, told apart from its reader
// failing: the one is the server's disk, the other the client's body.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// copyLarge copies r to w in writes of up to len(buf) bytes, filling buf
// before each write, where io.Copy would write whatever each small read
// returned. It ends at r's io.EOF; any other error of r (a truncated
// multipart body's io.ErrUnexpectedEOF among them) is returned as it is,
// an error of w as a *writeError.
func copyLarge(w io.Writer, r io.Reader, buf []byte) (int64, error) {
	var total int64
	for {
		n := 0
		var rerr error
		for n < len(buf) && rerr == nil {
			var m int
			m, rerr = r.Read(buf[n:])
			n += m
		}
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, &writeError{werr}
			}
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// clientName is the filename the client gave, for echoing only: as sent
// (not passed through filepath.Base), with control characters and bidi
// controls dropped (shownRune) and at most 255 runes.
func clientName(p *multipart.Part) string {
	name := p.FileName()
	if _, params, err := mime.ParseMediaType(p.Header.Get("Content-Disposition")); err == nil {
		if raw, ok := params["filename"]; ok {
			name = raw
		}
	}
	name = strings.Map(func(r rune) rune {
		if !shownRune(r) {
			return -1
		}
		return r
	}, name)
	if r := []rune(name); len(r) > 255 {
		name = string(r[:255])
	}
	return name
}

// shownRune reports whether a filename keeps r: not a control character
// (Unicode's Cc: C0, DEL, C1) nor a bidi control (the marks U+061C,
// U+200E and U+200F, the embeddings and overrides U+202A–U+202E, the
// isolates U+2066–U+2069), which would make a name shown in a page or a
// terminal read otherwise than it is ("cat\u202Egnp.exe" shown as
// "catexe.png").
func shownRune(r rune) bool {
	switch {
	case unicode.IsControl(r),
		r == '\u061c', r == '\u200e', r == '\u200f',
		'\u202a' <= r && r <= '\u202e',
		'\u2066' <= r && r <= '\u2069':
		return false
	}
	return true
}

// limitReader fails reads past n bytes, marking the body as over the limit.
type limitReader struct {
	r    io.Reader
	n    int64
	over bool
}

type limitError struct{}

func (*limitError) Error() string { return "request body over the limit" }

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// At the limit: only the end of the body is still fine.
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n == 0 && err != nil {
			return 0, err
		}
		l.over = true
		return 0, &limitError{}
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// syncParallel bounds the fsyncs one upload runs at once.
const syncParallel = 8

// syncer fsyncs an upload's files and directories in the background, each
// as soon as it is written, several at a time: each fsync mostly waits for
// the disk, which takes them together, and meanwhile the next part of the
// body arrives. So the upload waits, once its body is in, about as long as
// for its last file's fsync rather than for the sum of them (measured on
// 2 x 75 KB uploads under load: upload p50 1 ms lower than one after
// another). The zero value is ready to use.
type syncer struct {
	g     errgroup.Group
	limit sync.Once
}

// add starts fsyncing the file or directory at path.
func (s *syncer) add(path string) {
	s.start(func() error {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("sync %s: %w", path, err)
		}
		return syncClose(f)
	})
}

// addFile starts fsyncing f, which it then closes.
func (s *syncer) addFile(f *os.File) { s.start(func() error { return syncClose(f) }) }

// start runs do in the background, first waiting while syncParallel are
// running.
func (s *syncer) start(do func() error) {
	s.limit.Do(func() { s.g.SetLimit(syncParallel) })
	s.g.Go(do)
}

// wait returns once every fsync added has ended, with the first error.
func (s *syncer) wait() error { return s.g.Wait() }

// syncClose fsyncs and closes f.
func syncClose(f *os.File) error {
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", f.Name(), err)
	}
	return nil
}
