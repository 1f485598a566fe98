package blobtest

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/backlot/backlot/persistence/blob"
)

// errReader is a stream that fails after n bytes: a client that went
// away mid-upload.
type errReader struct {
	r   io.Reader
	n   int
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, e.err
	}
	if len(p) > e.n {
		p = p[:e.n]
	}
	n, err := e.r.Read(p)
	e.n -= n
	return n, err
}

var errCut = errors.New("the stream was cut")

// testInterruptedStream: a Put whose reader fails mid-way returns that
// error and leaves nothing, not even an old version's replacement, and
// the key can be written afterwards.
func testInterruptedStream(t *testing.T, s blob.Store) {
	src := data(40, 3<<20)
	_, err := blob.Put(t.Context(), s, "cut/new", &errReader{r: bytes.NewReader(src), n: 1 << 20, err: errCut}, blob.CreateOptions{Exclusive: true})
	if !errors.Is(err, errCut) {
		t.Fatalf("Put of a stream cut mid-way = %v, want its error", err)
	}
	absent(t, s, "cut/new")
	put(t, s, "cut/old", data(41, 1000), blob.CreateOptions{})
	_, err = blob.Put(t.Context(), s, "cut/old", &errReader{r: bytes.NewReader(src), n: 2 << 20, err: errCut}, blob.CreateOptions{})
	if !errors.Is(err, errCut) {
		t.Fatalf("Put over an object of a stream cut mid-way = %v, want its error", err)
	}
	holds(t, s, "cut/old", data(41, 1000))
	put(t, s, "cut/new", src, blob.CreateOptions{Exclusive: true})
	holds(t, s, "cut/new", src)
}

// Outage makes a remote backend's server disappear and come back, for
// RunOutage.
type Outage struct {
	// Kill stops the server at once (SIGKILL) and returns once it is
	// gone.
	Kill func(t *testing.T)
	// Restart starts it again on the same address and data and returns
	// once it answers.
	Restart func(t *testing.T)
	// Pause makes the server hang (SIGSTOP: it accepts, nothing answers)
	// and Resume brings it back; the store under test must give up on a
	// request that moves nothing within a second or two.
	Pause, Resume func(t *testing.T)
}

// RunOutage runs the cases of a server that disappears mid-call, for a
// backend that has a server (a local store cannot lose its disk in a
// test). Every call made while the server is away fails with
// blob.ErrUnavailable within the suite's wait (never hangs), and once the
// server is back no object is corrupt: each holds what was committed, or
// is absent. newStore gives a fresh store on the one server that o kills
// and restarts; cases run one after another, Hung first: a server just
// restarted may take seconds over its first writes (SeaweedFS), which a
// store that gives up on a silent second would take for a hang.
func RunOutage(t *testing.T, newStore func(t *testing.T) blob.Store, o Outage) {
	t.Helper()
	t.Run("Hung", func(t *testing.T) { testHung(t, newStore(t), o) })
	t.Run("KilledMidRead", func(t *testing.T) { testKilledMidRead(t, newStore(t), o) })
	t.Run("KilledMidPut", func(t *testing.T) { testKilledMidPut(t, newStore(t), o) })
}

// testHung: the server hangs (it accepts, nothing answers) mid-read and
// with a Commit under way: both fail with ErrUnavailable within the
// suite's wait rather than wait for it; once it answers again, the object
// read is whole and the one committed absent or whole.
func testHung(t *testing.T, s blob.Store, o Outage) {
	src := data(70, 2<<20)
	put(t, s, "h/obj", src, blob.CreateOptions{})
	obj := open(t, s, "h/obj")
	w := create(t, s, "h/new", blob.CreateOptions{})
	write(t, w, data(71, 4<<20))
	o.Pause(t)
	unavailable(t, "ReadAt", func() error { _, err := obj.ReadAt(make([]byte, 1000), 1<<20); return err })
	var err error
	done := make(chan struct{})
	go func() { defer close(done); _, err = w.Commit(t.Context()) }()
	within(t, done, "a Commit while the server hangs")
	o.Resume(t)
	holds(t, s, "h/obj", src)
	if err == nil {
		holds(t, s, "h/new", data(71, 4<<20))
	} else if !errors.Is(err, blob.ErrUnavailable) {
		t.Fatalf("Commit while the server hangs = %v, want ErrUnavailable", err)
	}
}

// unavailable runs call on a goroutine and checks that it fails with
// ErrUnavailable within the suite's wait.
func unavailable(t *testing.T, what string, call func() error) {
	t.Helper()
	done := make(chan struct{})
	var err error
	go func() { defer close(done); err = call() }()
	within(t, done, what+" while the server is away")
	if !errors.Is(err, blob.ErrUnavailable) {
		t.Fatalf("%s while the server is away = %v, want ErrUnavailable", what, err)
	}
}

// testKilledMidRead: an object being read when the server dies reads
// on to its right bytes (what was already on the way) or fails with
// ErrUnavailable; every call while it is away fails so; once it is back,
// the object is whole.
func testKilledMidRead(t *testing.T, s blob.Store, o Outage) {
	src := data(50, 4<<20)
	put(t, s, "kr/obj", src, blob.CreateOptions{})
	w := create(t, s, "kr/pending", blob.CreateOptions{}) // written before, committed during, the outage
	write(t, w, data(51, 100_000))
	obj := open(t, s, "kr/obj")
	first := make([]byte, 64<<10)
	if _, err := io.ReadFull(obj, first); err != nil || !bytes.Equal(first, src[:len(first)]) {
		t.Fatalf("first read: %v", err)
	}
	o.Kill(t)

	done := make(chan struct{})
	var rest []byte
	var err error
	go func() { defer close(done); rest, err = io.ReadAll(obj) }()
	within(t, done, "reading on while the server is away")
	if err != nil && !errors.Is(err, blob.ErrUnavailable) {
		t.Fatalf("reading on while the server is away = %v, want ErrUnavailable or the right bytes", err)
	}
	if got := append(first, rest...); !bytes.HasPrefix(src, got) || (err == nil && len(got) != len(src)) {
		t.Fatalf("reading on while the server is away gave %d wrong bytes (err %v)", len(got), err)
	}
	far := make([]byte, 1000)
	unavailable(t, "ReadAt of a block not read yet", func() error { _, err := obj.ReadAt(far, 3<<20+12345); return err })
	unavailable(t, "Open", func() error { _, err := s.Open(t.Context(), "kr/obj"); return err })
	unavailable(t, "Stat", func() error { _, err := s.Stat(t.Context(), "kr/obj"); return err })
	unavailable(t, "List", func() error { return s.List(t.Context(), "", func(blob.Info) error { return nil }) })
	unavailable(t, "Delete", func() error { return s.Delete(t.Context(), "kr/obj") })
	unavailable(t, "DeletePrefix", func() error { return s.DeletePrefix(t.Context(), "kr/") })
	unavailable(t, "Commit", func() error { _, err := w.Commit(t.Context()); return err })
	unavailable(t, "Put", func() error {
		_, err := blob.Put(t.Context(), s, "kr/new", bytes.NewReader(data(52, 1000)), blob.CreateOptions{Exclusive: true})
		return err
	})

	o.Restart(t)
	holds(t, s, "kr/obj", src)
	absent(t, s, "kr/pending")
	absent(t, s, "kr/new")
}

// testKilledMidPut: the server dies while a large Put is under way: it
// returns nil and the object is whole, or fails with ErrUnavailable and
// the key is absent once the server is back; never a part of the bytes.
func testKilledMidPut(t *testing.T, s blob.Store, o Outage) {
	src := data(60, 24<<20)
	w := create(t, s, "kp/big", blob.CreateOptions{})
	write(t, w, src)
	done := make(chan struct{})
	var err error
	go func() { defer close(done); _, err = w.Commit(t.Context()) }()
	o.Kill(t)
	within(t, done, "a Commit the server died under")
	if err != nil && !errors.Is(err, blob.ErrUnavailable) {
		t.Fatalf("Commit the server died under = %v, want nil or ErrUnavailable", err)
	}
	o.Restart(t)
	if err == nil {
		holds(t, s, "kp/big", src)
		t.Log("the PUT was answered before the server died")
		return
	}
	absent(t, s, "kp/big")
}
