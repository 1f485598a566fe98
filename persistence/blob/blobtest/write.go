package blobtest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/backlot/backlot/persistence/blob"
)

// testRoundTrip: what is put is read back, by Read, with its size, and
// Commit's Info is Stat's (but for ModTime, which a remote store's
// Commit may take from the node's clock: within a minute of Stat's).
func testRoundTrip(t *testing.T, s blob.Store) {
	key := blob.SourceKey("b1", "i1")
	want := data(1, 75_000)
	info := put(t, s, key, want, blob.CreateOptions{})
	st := holds(t, s, key, want)
	if st.Key != info.Key || st.ETag != info.ETag || st.Size != info.Size || info.ModTime.Sub(st.ModTime).Abs() > time.Minute {
		t.Fatalf("Stat = %+v, Commit returned %+v", st, info)
	}
	out := blob.OutputKey("b1", "i1", "jpg")
	put(t, s, out, data(2, 1000), blob.CreateOptions{})
	holds(t, s, out, data(2, 1000))
	holds(t, s, key, want) // untouched by its neighbour
}

// testEmpty: an object of no bytes is an object.
func testEmpty(t *testing.T, s blob.Store) {
	w := create(t, s, "e/empty", blob.CreateOptions{})
	if info := commit(t, w); info.Size != 0 {
		t.Fatalf("Commit of nothing: size %d", info.Size)
	}
	holds(t, s, "e/empty", nil)
	if keys := list(t, s, "e/"); len(keys) != 1 {
		t.Fatalf("List = %v, want [e/empty]", keys)
	}
}

// testReadAt: ReadAt reads at any offset, as io.ReaderAt says, and does
// not move Read's position.
func testReadAt(t *testing.T, s blob.Store) {
	want := data(3, 100_000)
	put(t, s, "r/obj", want, blob.CreateOptions{})
	o := open(t, s, "r/obj")
	first := make([]byte, 10)
	if _, err := io.ReadFull(o, first); err != nil || !bytes.Equal(first, want[:10]) {
		t.Fatalf("Read: %x, %v", first, err)
	}
	for _, off := range []int{0, 1, 4095, 4096, 65_537, 99_990} {
		p := make([]byte, 10)
		if n, err := o.ReadAt(p, int64(off)); n != 10 || (err != nil && err != io.EOF) || !bytes.Equal(p, want[off:off+10]) {
			t.Fatalf("ReadAt(10, %d) = %d, %v: %x, want %x", off, n, err, p[:n], want[off:off+10])
		}
	}
	p := make([]byte, 10)
	if n, err := o.ReadAt(p, 99_997); n != 3 || err != io.EOF || !bytes.Equal(p[:3], want[99_997:]) {
		t.Fatalf("ReadAt past the end = %d, %v; want 3, io.EOF", n, err)
	}
	if n, err := o.ReadAt(p, 100_000); n != 0 || err != io.EOF {
		t.Fatalf("ReadAt at the end = %d, %v; want 0, io.EOF", n, err)
	}
	rest, err := io.ReadAll(o)
	if err != nil || !bytes.Equal(rest, want[10:]) {
		t.Fatalf("Read after ReadAt: %d bytes, %v; want the %d after the first 10", len(rest), err, len(want)-10)
	}
}

// testOverwrite: a plain Commit replaces the object, and its ETag
// changes with its bytes.
func testOverwrite(t *testing.T, s blob.Store) {
	v1 := put(t, s, "o/k", data(4, 5000), blob.CreateOptions{})
	v2 := put(t, s, "o/k", data(5, 3000), blob.CreateOptions{})
	holds(t, s, "o/k", data(5, 3000))
	if v1.ETag == v2.ETag {
		t.Fatalf("two versions share the ETag %q", v1.ETag)
	}
	if keys := list(t, s, ""); len(keys) != 1 {
		t.Fatalf("List = %v, want one key", keys)
	}
}

// testCommitAtomic: before Commit nothing of a writer is visible, and an
// old version stays whole until Commit replaces it.
func testCommitAtomic(t *testing.T, s blob.Store) {
	w := create(t, s, "a/new", blob.CreateOptions{})
	write(t, w, data(6, 200_000))
	absent(t, s, "a/new")

	put(t, s, "a/old", data(7, 1000), blob.CreateOptions{})
	w2 := create(t, s, "a/old", blob.CreateOptions{})
	write(t, w2, data(8, 50_000))
	holds(t, s, "a/old", data(7, 1000))

	write(t, w, data(9, 10))
	commit(t, w)
	holds(t, s, "a/new", append(data(6, 200_000), data(9, 10)...))
	commit(t, w2)
	holds(t, s, "a/old", data(8, 50_000))
}

// testAbort: Abort leaves nothing, an old version stays, and the writer
// is done with.
func testAbort(t *testing.T, s blob.Store) {
	w := create(t, s, "ab/k", blob.CreateOptions{})
	write(t, w, data(10, 300_000))
	if err := w.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	absent(t, s, "ab/k")
	if keys := list(t, s, ""); len(keys) != 0 {
		t.Fatalf("after Abort List = %v", keys)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("second Abort: %v", err)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, blob.ErrClosed) {
		t.Fatalf("Write after Abort = %v, want ErrClosed", err)
	}
	if _, err := w.Commit(t.Context()); !errors.Is(err, blob.ErrClosed) {
		t.Fatalf("Commit after Abort = %v, want ErrClosed", err)
	}
	absent(t, s, "ab/k")

	put(t, s, "ab/old", data(11, 100), blob.CreateOptions{})
	w = create(t, s, "ab/old", blob.CreateOptions{})
	write(t, w, data(12, 100))
	if err := w.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	holds(t, s, "ab/old", data(11, 100))
}

// testCommitOnce: a second Commit fails with ErrClosed and changes
// nothing; Abort after Commit does nothing.
func testCommitOnce(t *testing.T, s blob.Store) {
	w := create(t, s, "c/k", blob.CreateOptions{})
	write(t, w, data(13, 100))
	commit(t, w)
	if _, err := w.Write([]byte("x")); !errors.Is(err, blob.ErrClosed) {
		t.Fatalf("Write after Commit = %v, want ErrClosed", err)
	}
	if _, err := w.Commit(t.Context()); !errors.Is(err, blob.ErrClosed) {
		t.Fatalf("second Commit = %v, want ErrClosed", err)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("Abort after Commit: %v", err)
	}
	holds(t, s, "c/k", data(13, 100))
}

// testExclusive: an exclusive write on an existing key fails with
// ErrExists, at Create or at Commit, leaving the object as it was; on a
// new key it works like any other.
func testExclusive(t *testing.T, s blob.Store) {
	key := blob.SourceKey("bx", "i1")
	put(t, s, key, data(14, 100), blob.CreateOptions{Exclusive: true})
	if w, err := s.Create(t.Context(), key, blob.CreateOptions{Exclusive: true}); err == nil {
		if _, err := w.Write(data(16, 10)); err != nil {
			t.Fatalf("Write: %v", err)
		}
		if _, err := w.Commit(t.Context()); !errors.Is(err, blob.ErrExists) {
			t.Fatalf("exclusive Commit on an existing key = %v, want ErrExists", err)
		}
	} else if !errors.Is(err, blob.ErrExists) {
		t.Fatalf("exclusive Create on an existing key = %v, want ErrExists (or a Writer whose Commit fails so)", err)
	}
	if _, err := blob.Put(t.Context(), s, key, bytes.NewReader(data(15, 10)), blob.CreateOptions{Exclusive: true, Durable: true}); !errors.Is(err, blob.ErrExists) {
		t.Fatalf("exclusive Put on an existing key = %v, want ErrExists", err)
	}
	holds(t, s, key, data(14, 100))
}

// testExclusiveRace: an exclusive writer whose key was committed by
// another writer since its Create fails to commit, with ErrExists, and
// leaves the other's object.
func testExclusiveRace(t *testing.T, s blob.Store) {
	w1 := create(t, s, "x/k", blob.CreateOptions{Exclusive: true})
	w2 := create(t, s, "x/k", blob.CreateOptions{Exclusive: true})
	write(t, w1, data(16, 1000))
	write(t, w2, data(17, 1000))
	commit(t, w2)
	if _, err := w1.Commit(t.Context()); !errors.Is(err, blob.ErrExists) {
		t.Fatalf("the second exclusive Commit = %v, want ErrExists", err)
	}
	holds(t, s, "x/k", data(17, 1000))

	w3 := create(t, s, "x/m", blob.CreateOptions{Exclusive: true})
	write(t, w3, data(18, 10))
	put(t, s, "x/m", data(19, 10), blob.CreateOptions{})
	if _, err := w3.Commit(t.Context()); !errors.Is(err, blob.ErrExists) {
		t.Fatalf("exclusive Commit after a plain one = %v, want ErrExists", err)
	}
	holds(t, s, "x/m", data(19, 10))
	if keys := list(t, s, "x/"); len(keys) != 2 {
		t.Fatalf("List = %v, want x/k and x/m", keys)
	}
}

// testDurable: a Durable Commit, and Sync after a plain one, leave the
// object readable. (Whether it would survive a power cut no test in one
// process can see.)
func testDurable(t *testing.T, s blob.Store) {
	put(t, s, blob.SourceKey("d", "1"), data(20, 75_000), blob.CreateOptions{Durable: true, Exclusive: true})
	holds(t, s, blob.SourceKey("d", "1"), data(20, 75_000))
	put(t, s, blob.SourceKey("d", "2"), data(21, 75_000), blob.CreateOptions{})
	if err := s.Sync(t.Context(), blob.SourceKey("d", "2")); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	holds(t, s, blob.SourceKey("d", "2"), data(21, 75_000))
	// A missing key: ErrNotFound where the store looks, nil where every
	// commit is durable and it does not.
	if err := s.Sync(t.Context(), "d/missing"); err != nil && !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Sync of a missing key = %v, want ErrNotFound or nil", err)
	}
}

// testLarge: 8 MiB streamed in writes of odd sizes round-trips, by Read
// and by ReadAt in chunks.
func testLarge(t *testing.T, s blob.Store) {
	const size = 8 << 20
	want := data(22, size)
	w := create(t, s, "l/big", blob.CreateOptions{Durable: true})
	for rest, i := want, 0; len(rest) > 0; i++ {
		n := min(len(rest), []int{1, 4093, 65_536, 300_001, 1 << 20}[i%5])
		write(t, w, rest[:n])
		rest = rest[n:]
	}
	if info := commit(t, w); info.Size != size {
		t.Fatalf("Commit: size %d, want %d", info.Size, size)
	}
	sum := sha256.Sum256(want)
	o := open(t, s, "l/big")
	h := sha256.New()
	if n, err := io.Copy(h, o); err != nil || n != size || !bytes.Equal(h.Sum(nil), sum[:]) {
		t.Fatalf("Read: %d bytes, %v, sha256 %x; want %d, %x", n, err, h.Sum(nil), size, sum)
	}
	h.Reset()
	if n, err := io.Copy(h, io.NewSectionReader(o, 0, o.Size())); err != nil || n != size || !bytes.Equal(h.Sum(nil), sum[:]) {
		t.Fatalf("ReadAt: %d bytes, %v, sha256 %x; want %d, %x", n, err, h.Sum(nil), size, sum)
	}
}

// testConcurrentWriters: writers to different keys of one new batch, at
// once, each end with its own bytes.
func testConcurrentWriters(t *testing.T, s blob.Store) {
	const n = 16
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			key := blob.SourceKey("cw", fmt.Sprint(i))
			_, err := blob.Put(t.Context(), s, key, bytes.NewReader(data(uint64(100+i), 50_000+i)),
				blob.CreateOptions{Exclusive: true, Durable: i%2 == 0})
			errs <- err
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	within(t, done, "concurrent Puts")
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Put: %v", err)
		}
	}
	for i := range n {
		holds(t, s, blob.SourceKey("cw", fmt.Sprint(i)), data(uint64(100+i), 50_000+i))
	}
	if keys := list(t, s, blob.BatchPrefix("cw")); len(keys) != n {
		t.Fatalf("List = %d keys, want %d", len(keys), n)
	}
}

// testConcurrentSameKey: writers to one key, at once: it ends with one
// writer's bytes, whole.
func testConcurrentSameKey(t *testing.T, s blob.Store) {
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := blob.Put(t.Context(), s, "same/k", bytes.NewReader(data(uint64(200+i), 300_000)), blob.CreateOptions{})
			errs <- err
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	within(t, done, "concurrent Puts")
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Put: %v", err)
		}
	}
	o := open(t, s, "same/k")
	got, err := io.ReadAll(o)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if bytes.Equal(got, data(uint64(200+i), 300_000)) {
			return
		}
	}
	t.Fatalf("same/k holds %d bytes (%s), none of the writers' whole", len(got), head(got))
}
