package blobtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/backlot/backlot/persistence/blob"
)

// Run runs every rule of the blob.Store contract as subtests. newStore is
// called once per subtest for a fresh, empty store.
func Run(t *testing.T, newStore func(t *testing.T) blob.Store) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, s blob.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"Empty", testEmpty},
		{"ReadAt", testReadAt},
		{"Overwrite", testOverwrite},
		{"CommitAtomic", testCommitAtomic},
		{"Abort", testAbort},
		{"CommitOnce", testCommitOnce},
		{"Exclusive", testExclusive},
		{"ExclusiveRace", testExclusiveRace},
		{"Durable", testDurable},
		{"Large", testLarge},
		{"ConcurrentWriters", testConcurrentWriters},
		{"ConcurrentSameKey", testConcurrentSameKey},
		{"OpenKeepsVersion", testOpenKeepsVersion},
		{"Missing", testMissing},
		{"Delete", testDelete},
		{"DeletePrefix", testDeletePrefix},
		{"List", testList},
		{"ListOrder", testListOrder},
		{"ListHidesWriters", testListHidesWriters},
		{"ListStops", testListStops},
		{"Canceled", testCanceled},
		{"CanceledWriter", testCanceledWriter},
		{"InvalidKeys", testInvalidKeys},
		{"InterruptedStream", testInterruptedStream},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			if s == nil {
				t.Fatal("newStore returned a nil store")
			}
			tc.run(t, s)
		})
	}
}

// wait bounds every wait on another goroutine. It is a deadlock guard,
// not a speed assertion: generous, so slow CI never trips it.
const wait = 20 * time.Second

// data is n pseudo-random bytes drawn from seed: every object's bytes
// differ from every other's, so a mix-up shows.
func data(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
	_, _ = r.Read(b)
	return b
}

// put writes b under key, and checks the Info that Commit returns.
func put(t *testing.T, s blob.Store, key string, b []byte, opts blob.CreateOptions) blob.Info {
	t.Helper()
	info, err := blob.Put(t.Context(), s, key, bytes.NewReader(b), opts)
	if err != nil {
		t.Fatalf("Put %s: %v", key, err)
	}
	if info.Key != key || info.Size != int64(len(b)) || info.ETag == "" || info.ModTime.IsZero() {
		t.Fatalf("Put %s returned %+v, want key %s, size %d, an ETag and a time", key, info, key, len(b))
	}
	return info
}

// create starts a writer and aborts it when the test ends (which does
// nothing once it is committed).
func create(t *testing.T, s blob.Store, key string, opts blob.CreateOptions) blob.Writer {
	t.Helper()
	w, err := s.Create(t.Context(), key, opts)
	if err != nil {
		t.Fatalf("Create %s: %v", key, err)
	}
	t.Cleanup(func() { _ = w.Abort() })
	return w
}

func write(t *testing.T, w blob.Writer, b []byte) {
	t.Helper()
	if n, err := w.Write(b); err != nil || n != len(b) {
		t.Fatalf("Write(%d bytes) = %d, %v", len(b), n, err)
	}
}

func commit(t *testing.T, w blob.Writer) blob.Info {
	t.Helper()
	info, err := w.Commit(t.Context())
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return info
}

// open opens key and closes it when the test ends.
func open(t *testing.T, s blob.Store, key string) blob.Object {
	t.Helper()
	o, err := s.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("Open %s: %v", key, err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

// holds checks that key holds exactly want, through Open (Read, Size,
// Info) and Stat, and returns its Info.
func holds(t *testing.T, s blob.Store, key string, want []byte) blob.Info {
	t.Helper()
	o, err := s.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("Open %s: %v", key, err)
	}
	defer o.Close()
	got, err := io.ReadAll(o)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s holds %d bytes (%s), want %d (%s)", key, len(got), head(got), len(want), head(want))
	}
	if o.Size() != int64(len(want)) || o.Info().Size != o.Size() || o.Info().Key != key {
		t.Fatalf("%s: Size %d, Info %+v; want %d bytes", key, o.Size(), o.Info(), len(want))
	}
	st, err := s.Stat(t.Context(), key)
	if err != nil {
		t.Fatalf("Stat %s: %v", key, err)
	}
	if st.Key != key || st.Size != int64(len(want)) || st.ETag != o.Info().ETag {
		t.Fatalf("Stat %s = %+v, Open's Info %+v; want key, size %d and one ETag", key, st, o.Info(), len(want))
	}
	return st
}

// absent checks that nothing is visible under key: Open and Stat say
// ErrNotFound and List does not show it.
func absent(t *testing.T, s blob.Store, key string) {
	t.Helper()
	if o, err := s.Open(t.Context(), key); !errors.Is(err, blob.ErrNotFound) {
		if err == nil {
			o.Close()
		}
		t.Fatalf("Open %s = %v, want ErrNotFound", key, err)
	}
	if _, err := s.Stat(t.Context(), key); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Stat %s = %v, want ErrNotFound", key, err)
	}
	if keys := list(t, s, ""); slices.Contains(keys, key) {
		t.Fatalf("List shows %s: %v", key, keys)
	}
}

// list lists the keys under prefix.
func list(t *testing.T, s blob.Store, prefix string) []string {
	t.Helper()
	var keys []string
	err := s.List(t.Context(), prefix, func(info blob.Info) error {
		keys = append(keys, info.Key)
		return nil
	})
	if err != nil {
		t.Fatalf("List %q: %v", prefix, err)
	}
	return keys
}

// head shows the first bytes of b, in hex.
func head(b []byte) string { return fmt.Sprintf("%x", b[:min(len(b), 8)]) }

// within waits for done, failing the test after wait.
func within(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatalf("%s: not done after %s", what, wait)
	}
}

// canceled is a context that is already done.
func canceled(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx
}
