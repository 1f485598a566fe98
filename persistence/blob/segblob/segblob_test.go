package segblob_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/backlot/backlot/persistence/blob"
	"github.com/backlot/backlot/persistence/blob/blobtest"
	"github.com/backlot/backlot/persistence/blob/fsblob"
	"github.com/backlot/backlot/persistence/blob/segblob"
)

// open opens a store in dir/blobs with its fallback on dir/files (a
// node's is the data dir, which holds blobs/: its List("") would show
// the segments), closed when the test ends.
func open(t *testing.T, dir string, opts segblob.Options) *segblob.Store {
	t.Helper()
	fb, err := fsblob.New(filepath.Join(dir, "files"), fsblob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts.Fallback = fb
	s, err := segblob.Open(filepath.Join(dir, "blobs"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, blob.ErrClosed) {
			t.Error(err)
		}
	})
	return s
}

// TestStore: the contract, with the defaults, and with segments so small
// that the suite's objects fill several and its large one goes to the
// fallback.
func TestStore(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		blobtest.Run(t, func(t *testing.T) blob.Store { return open(t, t.TempDir(), segblob.Options{}) })
	})
	t.Run("small", func(t *testing.T) {
		blobtest.Run(t, func(t *testing.T) blob.Store {
			return open(t, t.TempDir(), segblob.Options{SegmentSize: 256 << 10, MaxInline: 64 << 10})
		})
	})
}

func put(t *testing.T, s blob.Store, key string, b []byte, opts blob.CreateOptions) {
	t.Helper()
	if _, err := blob.Put(t.Context(), s, key, bytes.NewReader(b), opts); err != nil {
		t.Fatalf("Put %s: %v", key, err)
	}
}

func holds(t *testing.T, s blob.Store, key string, want []byte) {
	t.Helper()
	o, err := s.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("Open %s: %v", key, err)
	}
	defer o.Close()
	got, err := io.ReadAll(o)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s holds %d bytes (%v), want %d", key, len(got), err, len(want))
	}
}

func keys(t *testing.T, s blob.Store, prefix string) []string {
	t.Helper()
	var ks []string
	if err := s.List(t.Context(), prefix, func(i blob.Info) error { ks = append(ks, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	return ks
}

func segments(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "blobs", "seg-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func bytesOf(seed, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(seed*31 + i*7 + i/251)
	}
	return b
}

// TestReopen: what was committed is there after the store is closed and
// opened again, and new writes do not overwrite it.
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	opts := segblob.Options{SegmentSize: 64 << 10, MaxInline: 16 << 10}
	s := open(t, dir, opts)
	for i := range 20 {
		put(t, s, fmt.Sprintf("batches/a/%02d", i), bytesOf(i, 3000+i*400), blob.CreateOptions{Durable: i%2 == 0})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, opts)
	for i := range 20 {
		put(t, s, fmt.Sprintf("batches/b/%02d", i), bytesOf(100+i, 5000), blob.CreateOptions{})
	}
	for i := range 20 {
		holds(t, s, fmt.Sprintf("batches/a/%02d", i), bytesOf(i, 3000+i*400))
		holds(t, s, fmt.Sprintf("batches/b/%02d", i), bytesOf(100+i, 5000))
	}
	if n := len(keys(t, s, "batches/")); n != 40 {
		t.Fatalf("List shows %d objects, want 40", n)
	}
}

// TestSegmentsReused: deleting what a segment holds makes it free for
// new records, so a steady load of writes and deletes (retention) makes
// no new files once it has enough.
func TestSegmentsReused(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, segblob.Options{SegmentSize: 64 << 10, MaxInline: 16 << 10})
	round := func(r int) {
		for i := range 30 {
			put(t, s, fmt.Sprintf("batches/r%03d/%02d", r, i), bytesOf(r*100+i, 6000), blob.CreateOptions{})
		}
		if r >= 2 {
			if err := s.DeletePrefix(t.Context(), fmt.Sprintf("batches/r%03d/", r-2)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for r := range 6 {
		round(r)
	}
	made := len(segments(t, dir))
	for r := 6; r < 40; r++ {
		round(r)
	}
	if n := len(segments(t, dir)); n > made+1 {
		t.Fatalf("%d segments after 40 rounds, %d after 6: deleted records' segments are not reused", n, made)
	}
	for r := 38; r < 40; r++ {
		for i := range 30 {
			holds(t, s, fmt.Sprintf("batches/r%03d/%02d", r, i), bytesOf(r*100+i, 6000))
		}
	}
	if got := keys(t, s, "batches/"); len(got) != 60 {
		t.Fatalf("List shows %d objects, want the last two rounds' 60", len(got))
	}
}

// TestFallback: objects an earlier version wrote as files are read,
// listed in order among the segments' and deleted; an object larger
// than MaxInline is written there; a segment's object replaces a file's.
func TestFallback(t *testing.T) {
	dir := t.TempDir()
	old, err := fsblob.New(filepath.Join(dir, "files"), fsblob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	put(t, old, "batches/x/1.src", bytesOf(1, 100), blob.CreateOptions{})
	put(t, old, "batches/x/3.src", bytesOf(3, 100), blob.CreateOptions{})
	put(t, old, "batches/y/1.src", bytesOf(4, 100), blob.CreateOptions{})
	s := open(t, dir, segblob.Options{SegmentSize: 64 << 10, MaxInline: 16 << 10})
	put(t, s, "batches/x/2.src", bytesOf(2, 100), blob.CreateOptions{})
	put(t, s, "batches/x/4.src", bytesOf(5, 20<<10), blob.CreateOptions{}) // too big: a file
	if _, err := os.Stat(filepath.Join(dir, "files/batches/x/4.src")); err != nil {
		t.Fatalf("the large object is not a file: %v", err)
	}
	holds(t, s, "batches/x/1.src", bytesOf(1, 100))
	holds(t, s, "batches/x/4.src", bytesOf(5, 20<<10))
	if got, want := keys(t, s, "batches/"), []string{"batches/x/1.src", "batches/x/2.src", "batches/x/3.src", "batches/x/4.src", "batches/y/1.src"}; !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	// Exclusive sees the file.
	if _, err := blob.Put(t.Context(), s, "batches/x/3.src", strings.NewReader("new"), blob.CreateOptions{Exclusive: true}); !errors.Is(err, blob.ErrExists) {
		t.Fatalf("Exclusive over a file: %v, want ErrExists", err)
	}
	// Replacing a file's object, then the segment's by a large one.
	put(t, s, "batches/x/3.src", []byte("three"), blob.CreateOptions{})
	holds(t, s, "batches/x/3.src", []byte("three"))
	put(t, s, "batches/x/3.src", bytesOf(6, 20<<10), blob.CreateOptions{})
	holds(t, s, "batches/x/3.src", bytesOf(6, 20<<10))
	if err := s.DeletePrefix(t.Context(), "batches/x/"); err != nil {
		t.Fatal(err)
	}
	if got := keys(t, s, "batches/"); !slices.Equal(got, []string{"batches/y/1.src"}) {
		t.Fatalf("after DeletePrefix: %v", got)
	}
	if err := s.Delete(t.Context(), "batches/y/1.src"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(t.Context(), "batches/y/1.src"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Stat after Delete: %v", err)
	}
}

// TestTornRecord: a record whose bytes did not reach the disk (a power
// cut before Sync) reads as not found, never as wrong bytes.
func TestTornRecord(t *testing.T) {
	dir := t.TempDir()
	opts := segblob.Options{SegmentSize: 64 << 10, MaxInline: 16 << 10}
	s := open(t, dir, opts)
	put(t, s, "batches/t/a", bytesOf(7, 5000), blob.CreateOptions{Durable: true})
	put(t, s, "batches/t/b", bytesOf(8, 5000), blob.CreateOptions{Durable: true})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Zero b's bytes as a lost page would leave them: b is the second
	// record, one page after a's start.
	segs := segments(t, dir)
	var hit bool
	for _, p := range segs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(b, bytesOf(8, 5000)); i >= 0 {
			clear(b[i+100 : i+200])
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			hit = true
		}
	}
	if !hit {
		t.Fatal("b's bytes are in no segment")
	}
	s = open(t, dir, opts)
	holds(t, s, "batches/t/a", bytesOf(7, 5000))
	if _, err := s.Open(t.Context(), "batches/t/b"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Open of a torn record: %v, want ErrNotFound", err)
	}
}

// TestConcurrentChurn: writers, readers and deletes at once on small
// segments, so that segments fill, free and are reused under them; every
// read sees its own object's bytes or not found, never another's.
func TestConcurrentChurn(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, segblob.Options{SegmentSize: 32 << 10, MaxInline: 8 << 10})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 4 {
		wg.Go(func() {
			for i := range 150 {
				key := fmt.Sprintf("batches/w%d-%03d/img", w, i)
				want := bytesOf(w*1000+i, 3000+i*13)
				if _, err := blob.Put(t.Context(), s, key, bytes.NewReader(want), blob.CreateOptions{Durable: i%3 == 0}); err != nil {
					errs <- err
					return
				}
				o, err := s.Open(t.Context(), key)
				if err != nil {
					errs <- err
					return
				}
				got, _ := io.ReadAll(o)
				o.Close()
				if !bytes.Equal(got, want) {
					errs <- fmt.Errorf("%s: read %d bytes that are not its own", key, len(got))
					return
				}
				if i >= 3 {
					if err := s.DeletePrefix(t.Context(), fmt.Sprintf("batches/w%d-%03d/", w, i-3)); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := len(keys(t, s, "batches/")); n != 12 {
		t.Fatalf("%d objects left, want 12", n)
	}
}
