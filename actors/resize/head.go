package resize

import (
	"io"
	"sync"

	"github.com/backlot/backlot/persistence/blob"
)

// headLen is how much of a source headSource keeps in memory: every
// header walk of a photo (the probe, the Exif orientation, the footprint's
// and the colour profile's segment walks) reads within it.
const headLen = 16 << 10

// headSource is a source whose first headLen bytes are read once, at the
// first ReadAt, and served from memory from then on. Without it, the walks
// over a JPEG's segments before the decode made about 30 reads (pread64)
// of a few bytes each per image, each a system call into the blob store's
// file; now the header costs one. Reads beyond the head go to the source.
//
// Like a Source it is read by one goroutine at a time (the caller's, then
// the work's); Close gives the head back to the pool and closes the
// source, DropCache drops the source's cache when it has one.
type headSource struct {
	Source
	once  sync.Once
	head  []byte // nil when the first read failed: then every read goes to the source
	whole bool   // head is the whole source
}

// withHead wraps src in a headSource.
func withHead(src Source) *headSource { return &headSource{Source: src} }

func (h *headSource) fill() {
	buf := getBytes(headLen)
	n, err := h.Source.ReadAt(buf[:headLen], 0)
	if err != nil && err != io.EOF {
		putBytes(buf) // the reads that follow meet the error themselves
		return
	}
	h.head, h.whole = buf[:n], n < headLen
}

func (h *headSource) ReadAt(p []byte, off int64) (int, error) {
	h.once.Do(h.fill)
	if h.head == nil || off < 0 || off >= int64(len(h.head)) {
		if h.whole && off >= int64(len(h.head)) && len(p) > 0 {
			return 0, io.EOF
		}
		return h.Source.ReadAt(p, off)
	}
	n := copy(p, h.head[off:])
	if n == len(p) {
		return n, nil
	}
	if h.whole {
		return n, io.EOF
	}
	m, err := h.Source.ReadAt(p[n:], off+int64(n))
	return n + m, err
}

// release returns the head to the pool; reads after it go to the
// source.
func (h *headSource) release() {
	h.once.Do(func() {}) // no fill from here on
	if h.head != nil {
		putBytes(h.head)
		h.head, h.whole = nil, false
	}
}

// Close returns the head to the pool and closes the source.
func (h *headSource) Close() error {
	h.release()
	if c, ok := h.Source.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// DropCache implements blob.CacheDropper when the source does.
func (h *headSource) DropCache() {
	if d, ok := h.Source.(blob.CacheDropper); ok {
		d.DropCache()
	}
}
