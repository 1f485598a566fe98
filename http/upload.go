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
	nethttp "net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/backlot/backlot/actors/resize"
	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/blob"
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

// doUpload streams each part to the blob store, judges each file by its
// bytes, then records the batch durably and answers 202. On any error the
// batch's objects are deleted and nothing reaches the store.
func (s *Server) doUpload(c *fiber.Ctx) (int, error) {
	start := time.Now()
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
	if err := s.uploadRoom(c.UserContext(), max(declared, 0)); err != nil {
		discardRest(c, body)
		return 0, err
	}
	// Read the socket in large pieces: multipart's own buffer is 4 KiB, so
	// without this every read and every file write would be 4 KiB or less
	// (500 syscalls per MB).
	br := getIOBuf()
	defer putIOBuf(br)
	br.r.Reset(body)
	lr := newBody(br.r, s.cfg.MaxBody)

	batchID := uuid.NewString()
	in := &incoming{s: s, ctx: c.UserContext(), batchID: batchID, form: map[string]string{}, buf: br.buf, body: lr, declared: declared,
		prefix: prefix{b: br.prefix[:0]}}
	images, err := in.read(multipart.NewReader(lr, params["boundary"]))
	if err == nil {
		err = in.checkDisk() // what was written since the last look
	}
	if err == nil {
		in.syncNames()
	}
	var times uploadTimes
	times.read = time.Since(start)
	if err == nil {
		err = s.record(c.UserContext(), batchID, images, in.admitted, &in.syncs, in.form, &times)
	}
	if err != nil {
		// Every Writer is ended (incoming.file aborts its own); the
		// objects go below, so let their syncs end first.
		_ = in.syncs.wait()
		s.removeRejected(context.WithoutCancel(c.UserContext()), batchID)
		if lr.over {
			err = apiError(fiber.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the request body is over the limit of %d bytes", s.cfg.MaxBody))
		}
		var e *Error
		if codeOf(err) == "insufficient_storage" {
			if errors.As(err, &e) { // checkDisk's
				s.log.Warn("disk below its reserve: upload rejected", "batch_id", batchID, "err", err)
			} else { // the disk full under the blob store or the store: asAPIError's 507
				s.log.Error("disk full: upload rejected", "batch_id", batchID, "err", err)
			}
		}
		discardRest(c, br.r)
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
	c.Set("Server-Timing", times.header(time.Since(start)))
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

// diskLow reports whether writing n more bytes would leave the blob
// store's disk with less than the reserve the store keeps, with what is
// free now and the reserve. Only a store that watches a disk of ours
// (blob.Spacer: fsblob) is looked at; one that cannot tell its free space,
// or keeps no reserve, is given the benefit of the doubt: a real ENOSPC
// still ends as 507 (the store's blob.ErrInsufficientStorage).
func (s *Server) diskLow(ctx context.Context, n int64) (free, reserve int64, low bool) {
	sp, ok := s.blobs.(blob.Spacer)
	if !ok {
		return 0, 0, false
	}
	free, reserve, ok = sp.Space(ctx)
	return free, reserve, ok && reserve > 0 && free-n < reserve
}

// diskRoom is readiness's look at the disk: 503 insufficient_storage
// while less than the reserve is free. A node that is not ready answers
// 503 whatever the cause; an upload refused for the disk gets 507
// (uploadRoom).
func (s *Server) diskRoom(ctx context.Context) error {
	free, reserve, low := s.diskLow(ctx, 0)
	if !low {
		return nil
	}
	return unavailable("insufficient_storage", fmt.Sprintf(
		"the server's disk is nearly full (%d bytes free, %d kept in reserve)", free, reserve))
}

// uploadRoom answers API.md's 507 insufficient_storage (with Retry-After)
// before a byte of the body is read when its declared length n (0 when
// not declared, as for a chunked body) would eat into the reserve. The
// free space is looked at again while the body is written
// (incoming.checkDisk, and the store's Writer), which is what bounds a
// chunked body.
func (s *Server) uploadRoom(ctx context.Context, n int64) error {
	free, reserve, low := s.diskLow(ctx, n)
	if !low {
		return nil
	}
	return insufficientStorage(fmt.Sprintf(
		"the server's disk is nearly full (%d bytes free, %d kept in reserve, this upload %d bytes); retry later or on another node",
		free, reserve, n))
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
// bytes, not pixels, as its header declares them. An image judged as it
// arrived (admitted[i], incoming.admitKept) with the options of form is
// not read again; the others are read back from the blob store.
func (s *Server) admit(ctx context.Context, batchID string, images []persistence.Image, admitted []admission, form map[string]string, opts persistence.Options) error {
	b := s.cfg.ResizeLimits.Budget
	if b == nil {
		return nil
	}
	key := formKey(form)
	for i, im := range images {
		var err error
		if i < len(admitted) && admitted[i].ok && admitted[i].form == key {
			err = admitted[i].err
		} else {
			obj, oerr := s.blobs.Open(ctx, blob.SourceKey(batchID, im.ID))
			if oerr != nil {
				return fmt.Errorf("admit upload: %w", oerr)
			}
			err = resize.Admit(obj, opts, s.cfg.MaxPixels, b.Ceiling())
			obj.Close()
		}
		switch {
		case errors.Is(err, resize.ErrTooMuchMemory):
			return fileError(fiber.StatusRequestEntityTooLarge, "image_too_large", resize.Message(err), im.Name)
		case err != nil:
			return fmt.Errorf("admit upload: %w", err)
		}
	}
	return nil
}

// uploadTimes is where an accepted upload's time went, for its 202's
// Server-Timing header (W3C Server Timing; the bench reads it): reading
// and storing the parts, then waiting for their syncs and for the store's
// commit, which run at once.
type uploadTimes struct{ read, sync, commit time.Duration }

func (t uploadTimes) header(total time.Duration) string {
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 3, 64) }
	return "read;dur=" + ms(t.read) + ", sync;dur=" + ms(t.sync) + ", commit;dur=" + ms(t.commit) + ", total;dur=" + ms(total)
}

// record parses the options and, once the images' objects are durable
// (their Syncs, started as each was written, have returned) and the store
// holds the batch with its first event and its jobs, returns nil; t gets
// the waits for the syncs and the commit.
func (s *Server) record(ctx context.Context, batchID string, images []persistence.Image, admitted []admission, syncs *syncer, form map[string]string, t *uploadTimes) error {
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
	for _, v := range opts.Outputs() {
		if err := resize.CanEncode(v.Format); err != nil {
			param := "format"
			if len(opts.Variants) > 0 {
				param = "variants"
			}
			e := apiError(fiber.StatusBadRequest, "invalid_parameter", fmt.Sprintf("parameter %q: %s", param, resize.Message(err)))
			e.Extra = map[string]any{"param": param}
			return e
		}
	}
	if err := s.admit(ctx, batchID, images, admitted, form, opts); err != nil {
		return err
	}
	if err := s.roomFor(ctx, len(images)); err != nil {
		return err
	}
	b, first, err := persistence.NewBatch(batchID, time.Now(), opts, images)
	if err != nil {
		return err
	}
	// The store's commit and the objects' syncs run at once: the 202 waits
	// for both, so what it acknowledges is durable, but for the longer of
	// the two rather than their sum. A crash between them can leave a
	// batch whose files were not yet durable; its client got no 202 (and
	// no id), and its images fail as unreadable, never as lost work.
	created := make(chan error, 1)
	began := time.Now()
	go func() {
		err := s.store.Create(ctx, b, first)
		t.commit = time.Since(began) // read below, after the receive
		created <- err
	}()
	syncErr := syncs.wait()
	t.sync = time.Since(began)
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
	ctx     context.Context // the request's
	batchID string
	form    map[string]string
	images  []persistence.Image
	// admitted[i] is images[i]'s admission judged from its kept first
	// bytes as it arrived (admitKept), when they sufficed.
	admitted []admission
	syncs    syncer // the images' objects being synced
	buf      []byte // the chunk files are written in (the upload's ioBuf)
	parts    int

	prefix   prefix      // the first bytes of the file being written, for its probe
	body     *bodyReader // the request body, which counts what is read of it
	declared int64       // the body's Content-Length; < 0 when not declared
	unsized  int64       // bytes written to files since the free space was last looked at
}

// diskCheckEvery is how many bytes of files an upload writes between two
// looks at the free space (a statfs, about a microsecond): a chunked body
// eats at most this much into the reserve before it is refused. (The
// store's Writer looks as often, at each file alone, without counting
// what the body still declares.)
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
// what the body still declares to come, is below the reserve: the disk
// crossed the floor while this upload was written (other uploads, results
// and the store write to it too, and a chunked body declares nothing).
func (in *incoming) checkDisk() error {
	s := in.s
	in.unsized = 0
	var rest int64
	if in.declared > 0 {
		rest = max(in.declared-in.body.read, 0)
	}
	free, reserve, low := s.diskLow(in.ctx, rest)
	if !low {
		return nil
	}
	return insufficientStorage(fmt.Sprintf(
		"the server's disk is below its reserve (%d bytes free, %d kept in reserve, %d bytes of the upload still to come): it went below while the upload was written, and nothing of the upload was kept; retry later or on another node",
		free, reserve, rest))
}

// roomError is err, a failure of the blob store under the upload, unless
// the store refused for want of room while the disk is below its reserve:
// then checkDisk's 507, which tells what is free and kept. A full disk
// without a reserve passes as it is: the one error mapping (errors.go)
// answers it with 507.
func (in *incoming) roomError(err error) error {
	if errors.Is(err, blob.ErrInsufficientStorage) {
		if e := in.checkDisk(); e != nil {
			return e
		}
	}
	return err
}

// watched is an upload's Writer whose writes are counted (incoming.wrote):
// a write past the free-space floor fails with its 507.
type watched struct {
	w  io.Writer
	in *incoming
}

func (w watched) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if err != nil {
		return n, err
	}
	return n, w.in.wrote(n)
}

// maxFieldBytes bounds a text field (width, fit, …): they are tiny;
// variants, at most 8 objects of six short keys, gets more.
const (
	maxFieldBytes    = 1 << 10
	maxVariantsBytes = 8 << 10
)

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
			limit := int64(maxFieldBytes)
			if name == "variants" {
				limit = maxVariantsBytes
			}
			v, err := io.ReadAll(io.LimitReader(p, limit+1))
			if err != nil {
				return nil, badMultipart(err)
			}
			if int64(len(v)) > limit {
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
	case "width", "height", "fit", "format", "quality", "variants":
		return true
	}
	return false
}

func badMultipart(err error) error {
	var le *nethttp.MaxBytesError
	if errors.As(err, &le) {
		return err
	}
	return apiError(fiber.StatusBadRequest, "bad_multipart", "the multipart body could not be read: "+err.Error())
}

// file streams one image part to the blob store under its SourceKey,
// judging it by its first bytes as they arrive and by its header once
// committed. The object is made durable in the background (syncs) while
// the next part arrives.
func (in *incoming) file(p *multipart.Part) error {
	s := in.s
	name := clientName(p)
	if len(in.images) >= s.cfg.MaxFiles {
		return apiError(fiber.StatusRequestEntityTooLarge, "too_many_files", fmt.Sprintf("a batch holds at most %d files", s.cfg.MaxFiles))
	}
	head := make([]byte, resize.SniffLen)
	n, err := io.ReadFull(p, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return badMultipart(err)
	}
	head = head[:n]
	if _, ok := resize.Sniff(head); !ok {
		return fileError(fiber.StatusUnsupportedMediaType, "unsupported_image", "not a supported image (JPEG, PNG, GIF, WebP, BMP, TIFF, HEIC/HEIF or AVIF), judged by its bytes", name)
	}
	id := uuid.NewString()
	key := blob.SourceKey(in.batchID, id)
	w, err := s.blobs.Create(in.ctx, key, blob.CreateOptions{Exclusive: true})
	if err != nil {
		return in.roomError(fmt.Errorf("create upload file: %w", err))
	}
	defer w.Abort() // after Commit it does nothing
	in.prefix.reset(head)
	written, err := copyFile(w, head, p, s.cfg.MaxFileSize, in.buf, io.MultiWriter(watched{w, in}, &in.prefix))
	if err != nil {
		if errors.Is(err, errFileTooLarge) {
			return fileError(fiber.StatusRequestEntityTooLarge, "file_too_large", fmt.Sprintf("the file is over the limit of %d bytes", s.cfg.MaxFileSize), name)
		}
		return in.roomError(err)
	}
	if _, err := w.Commit(in.ctx); err != nil {
		return in.roomError(fmt.Errorf("commit upload file: %w", err))
	}
	// Durable in the background, while the next part arrives; the 202
	// waits for it (record). A store that can sync the names apart gets
	// one sync of the batch's names once every file is in (syncNames).
	if ns, ok := s.blobs.(blob.NameSyncer); ok {
		in.syncs.start(func() error { return ns.SyncData(in.ctx, key) })
	} else {
		in.syncs.start(func() error { return s.blobs.Sync(in.ctx, key) })
	}
	info, err := in.probe(key, written)
	switch {
	case errors.Is(err, resize.ErrTooManyPixels):
		return fileError(fiber.StatusRequestEntityTooLarge, "too_many_pixels", fmt.Sprintf("the image declares more than %d pixels", s.cfg.MaxPixels), name)
	case errors.Is(err, resize.ErrNoDecoder):
		return fileError(fiber.StatusUnsupportedMediaType, "unsupported_image", strings.TrimPrefix(err.Error(), resize.ErrNoDecoder.Error()+": "), name)
	case errors.Is(err, resize.ErrUnsupported):
		return fileError(fiber.StatusUnsupportedMediaType, "unsupported_image", "not a supported image: its header does not decode ("+err.Error()+")", name)
	case err != nil:
		return fmt.Errorf("probe upload (%d bytes): %w", written, err)
	}
	in.images = append(in.images, persistence.Image{ID: id, Name: name, Format: info.Format})
	in.admitted = append(in.admitted, in.admitKept(written))
	return nil
}

// admission is an image's resize.Admit judged as it arrived, from the
// first bytes kept of it, with the options the form held then: record
// takes it when the form has not changed since (clients send the options
// before the files: bench, the web page), and reads the image back from
// the blob store otherwise (an HTTP request and a GET of its header on
// S3).
type admission struct {
	ok   bool   // judged: the kept bytes held all that Admit read
	form string // formKey of the options it was judged with
	err  error  // nil, or wrapping resize.ErrTooMuchMemory
}

// admitKept judges the image just written, of size bytes, from the bytes
// kept of it (in.prefix) with the options of the form so far.
func (in *incoming) admitKept(size int64) admission {
	b := in.s.cfg.ResizeLimits.Budget
	if b == nil {
		return admission{}
	}
	opts, err := persistence.ParseOptions(func(k string) string { return in.form[k] })
	if err != nil {
		return admission{} // record answers 400
	}
	src := in.prefix.source(size)
	err = resize.Admit(src, opts, in.s.cfg.MaxPixels, b.Ceiling())
	if src.beyond || (err != nil && !errors.Is(err, resize.ErrTooMuchMemory)) {
		return admission{}
	}
	return admission{ok: true, form: formKey(in.form), err: err}
}

// formKey is the options of a form as one string (each field is given
// once, record checks).
func formKey(form map[string]string) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(form[k])
		b.WriteByte(0)
	}
	return b.String()
}

// probe reads the header of the object under key (resize.Probe), of
// size bytes: from the first bytes kept as they were written when they
// hold it (most headers), else from the store, which for a remote one
// costs a request or more (S3: a GET, and ranged GETs past its first
// 160 KiB).
func (in *incoming) probe(key string, size int64) (resize.Info, error) {
	info, err := resize.Probe(in.prefix.source(size), in.s.cfg.MaxPixels)
	if !errors.Is(err, errBeyondPrefix) {
		return info, err
	}
	obj, err := in.s.blobs.Open(in.ctx, key)
	if err != nil {
		return resize.Info{}, fmt.Errorf("open upload file: %w", err)
	}
	defer obj.Close()
	return resize.Probe(obj, in.s.cfg.MaxPixels)
}

var errFileTooLarge = errors.New("file too large")

// copyFile writes head to f and then the rest of r through w (f, or f
// watched for the free space) in chunks of buf's size, failing once more
// than max bytes arrive.
func copyFile(f io.Writer, head []byte, r io.Reader, max int64, buf []byte, w io.Writer) (int64, error) {
	if _, err := f.Write(head); err != nil {
		return 0, fmt.Errorf("write upload file: %w", err)
	}
	rest := max - int64(len(head))
	n, err := copyLarge(w, io.LimitReader(r, rest+1), buf)
	total := int64(len(head)) + n
	if err != nil {
		var le *nethttp.MaxBytesError
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

// ioBuf is one upload's buffers, pooled: the socket's reader,
// copyLarge's chunk and the kept first bytes of each file (prefix).
type ioBuf struct {
	r      *bufio.Reader
	buf    []byte
	prefix []byte
}

var ioBufs = sync.Pool{New: func() any {
	return &ioBuf{r: bufio.NewReaderSize(nil, ioBufSize), buf: make([]byte, ioBufSize), prefix: make([]byte, 0, prefixLen)}
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

// bodyReader is the request body under net/http's MaxBytesReader, which
// fails reads past the limit with *http.MaxBytesError; it counts what was
// read and remembers that the limit was crossed, whatever a reader above
// it (multipart) makes of that error.
type bodyReader struct {
	r    io.Reader
	read int64
	over bool
}

func newBody(r io.Reader, limit int64) *bodyReader {
	return &bodyReader{r: nethttp.MaxBytesReader(nil, io.NopCloser(r), limit)}
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read += int64(n)
	var le *nethttp.MaxBytesError
	if errors.As(err, &le) {
		b.over = true
	}
	return n, err
}

// syncNames makes the names of the batch's files durable in the
// background, once, after the last of them is committed, when the store
// syncs names apart from bytes (blob.NameSyncer: fsblob fsyncs the
// batch's directory once rather than once per file); the 202 waits for
// it with the files' syncs (record).
func (in *incoming) syncNames() {
	ns, ok := in.s.blobs.(blob.NameSyncer)
	if !ok || len(in.images) == 0 {
		return
	}
	in.syncs.start(func() error { return ns.SyncNames(in.ctx, blob.BatchPrefix(in.batchID)) })
}

// syncParallel bounds the fsyncs one upload runs at once.
const syncParallel = 8

// syncer makes an upload's objects durable in the background (the blob
// store's Sync: fsyncs of the file and its directories), each as soon as
// it is committed, several at a time: each fsync mostly waits for the
// disk, which takes them together, and meanwhile the next part of the
// body arrives. So the upload waits, once its body is in, about as long as
// for its last file's fsync rather than for the sum of them (measured on
// 2 x 75 KB uploads under load: upload p50 1 ms lower than one after
// another). The zero value is ready to use.
type syncer struct {
	g     errgroup.Group
	limit sync.Once
}

// start runs do in the background, first waiting while syncParallel are
// running.
func (s *syncer) start(do func() error) {
	s.limit.Do(func() { s.g.SetLimit(syncParallel) })
	s.g.Go(do)
}

// wait returns once every sync started has ended, with the first error.
func (s *syncer) wait() error { return s.g.Wait() }

// prefixLen is how much of each file an upload keeps in memory as it is
// written, so that its header can be probed and its admission judged
// without reading the object back (a request and a GET on S3): enough
// for the headers of JPEG (but for a large Exif block), PNG, GIF, WebP
// and BMP, and for the first 128 KiB in which the admission looks for a
// JPEG's Exif orientation.
const prefixLen = 160 << 10

// prefix keeps the first prefixLen bytes written to it, one file at a
// time (reset); an upload's, reused for each of its files.
type prefix struct{ b []byte }

func (p *prefix) reset(head []byte) {
	if p.b == nil {
		p.b = make([]byte, 0, prefixLen)
	}
	p.b = append(p.b[:0], head[:min(len(head), prefixLen)]...)
}

func (p *prefix) Write(b []byte) (int, error) {
	if room := cap(p.b) - len(p.b); room > 0 {
		p.b = append(p.b, b[:min(len(b), room)]...)
	}
	return len(b), nil
}

// errBeyondPrefix: a probe read past the bytes kept; the object has them.
var errBeyondPrefix = errors.New("read beyond the bytes kept")

// source is the kept bytes as a resize.Source of a file of size bytes.
func (p *prefix) source(size int64) *prefixSource { return &prefixSource{b: p.b, size: size} }

// prefixSource reads the kept bytes; beyond is set once a read asked for
// more (a reader that ignores the error, as the admission's look for the
// Exif orientation does, still leaves the mark).
type prefixSource struct {
	b      []byte
	size   int64
	beyond bool
}

func (s *prefixSource) Size() int64 { return s.size }

func (s *prefixSource) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.size {
		return 0, io.EOF
	}
	n := 0
	if off < int64(len(s.b)) {
		n = copy(p, s.b[off:])
	}
	switch {
	case n == len(p):
		return n, nil
	case off+int64(n) >= s.size:
		return n, io.EOF
	}
	s.beyond = true
	return n, errBeyondPrefix
}
