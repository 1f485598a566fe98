package resize

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// countingSource counts the reads that reach it.
type countingSource struct {
	*bytes.Reader
	reads, closes, drops int
	fail                 error
}

func (c *countingSource) ReadAt(p []byte, off int64) (int, error) {
	c.reads++
	if c.fail != nil {
		return 0, c.fail
	}
	return c.Reader.ReadAt(p, off)
}
func (c *countingSource) Close() error { c.closes++; return nil }
func (c *countingSource) DropCache()   { c.drops++ }

// TestHeadSource reads a source through headSource at every offset and
// length around the head's end and the source's, against the source read
// directly: the same bytes, counts and io.EOF, with the head read once.
func TestHeadSource(t *testing.T) {
	for _, size := range []int{0, 10, headLen - 1, headLen, headLen + 1, 3 * headLen} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i * 7)
		}
		src := &countingSource{Reader: bytes.NewReader(data)}
		h := withHead(src)
		if h.Size() != int64(size) {
			t.Fatalf("size %d: Size %d", size, h.Size())
		}
		offs := []int{0, 1, 2, size / 2, headLen - 2, headLen - 1, headLen, headLen + 1, size - 1, size, size + 1}
		lens := []int{0, 1, 2, 48, headLen, size, size + 5}
		for _, off := range offs {
			if off < 0 {
				continue
			}
			for _, n := range lens {
				if n < 0 {
					continue
				}
				want := make([]byte, n)
				wn, werr := bytes.NewReader(data).ReadAt(want, int64(off))
				got := make([]byte, n)
				gn, gerr := h.ReadAt(got, int64(off))
				if gn != wn || (gerr == nil) != (werr == nil) || !bytes.Equal(got[:gn], want[:wn]) {
					t.Fatalf("size %d: ReadAt(%d bytes, %d) = %d, %v; want %d, %v", size, n, off, gn, gerr, wn, werr)
				}
				if gerr != nil && !errors.Is(gerr, io.EOF) {
					t.Fatalf("size %d: ReadAt(%d, %d): %v", size, n, off, gerr)
				}
			}
		}
		// Reads within the head after the first: none reach the source.
		before := src.reads
		for range 30 {
			var b [2]byte
			h.ReadAt(b[:], 2)
		}
		if src.reads != before {
			t.Errorf("size %d: %d reads of the head reached the source", size, src.reads-before)
		}
		h.DropCache()
		h.release()
		var b [1]byte
		if n, err := h.ReadAt(b[:], 0); size > 0 && (n != 1 || err != nil || b[0] != data[0]) {
			t.Errorf("size %d: a read after release: %d, %v", size, n, err)
		}
		if err := h.Close(); err != nil || src.closes != 1 || src.drops != 1 {
			t.Errorf("size %d: close %v, %d closes, %d drops", size, err, src.closes, src.drops)
		}
	}

	// A failed first read: every read goes to the source and meets its error.
	boom := errors.New("disk on fire")
	src := &countingSource{Reader: bytes.NewReader(make([]byte, 100)), fail: boom}
	h := withHead(src)
	var b [4]byte
	if _, err := h.ReadAt(b[:], 0); !errors.Is(err, boom) {
		t.Errorf("after a failed head read: %v", err)
	}
	if _, err := h.ReadAt(b[:], 0); !errors.Is(err, boom) || src.reads != 3 {
		t.Errorf("second read: %v, %d reads", err, src.reads)
	}
	h.Close()
}
