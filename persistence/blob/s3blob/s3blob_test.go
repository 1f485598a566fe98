package s3blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/backlot/backlot/persistence/blob"
	"github.com/backlot/backlot/persistence/blob/blobtest"
	"github.com/backlot/backlot/persistence/blob/fsblob"
	"github.com/backlot/backlot/persistence/blob/s3blob/seaweedtest"
	"github.com/backlot/backlot/persistence/testkit"
)

func options(srv *seaweedtest.Server, bucket, prefix string) Options {
	return Options{
		Endpoint:  srv.Endpoint,
		Bucket:    bucket,
		Prefix:    prefix,
		Region:    seaweedtest.Region,
		PathStyle: true,
		AccessKey: seaweedtest.AccessKey,
		SecretKey: seaweedtest.SecretKey,
	}
}

// TestStore runs the conformance suite against a real SeaweedFS: one
// server and bucket, a key prefix of its own for each subtest, and a
// spool directory that must be empty when the subtest ends.
func TestStore(t *testing.T) {
	srv := seaweedtest.Start(t)
	srv.MakeBucket(t, "backlot")
	var n atomic.Int64
	blobtest.Run(t, func(t *testing.T) blob.Store {
		opts := options(srv, "backlot", fmt.Sprintf("suite/%d", n.Add(1)))
		opts.SpoolDir = t.TempDir()
		s, err := New(t.Context(), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if ents, _ := os.ReadDir(opts.SpoolDir); len(ents) != 0 {
				t.Errorf("spool files left behind: %v", ents)
			}
		})
		return s
	})
}

// TestOutage: the server dies (SIGKILL) mid-read and mid-put: calls
// fail with ErrUnavailable rather than hang, and nothing is corrupt once
// it is back (blobtest.RunOutage).
func TestOutage(t *testing.T) {
	srv := seaweedtest.Start(t)
	srv.MakeBucket(t, "backlot")
	// SeaweedFS's first writes make its volumes (seconds): done here,
	// not under the suite's 2 s idle timeout.
	if _, err := srv.Client(t).PutObject(t.Context(), "backlot", "warm", strings.NewReader("up"), 2, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	blobtest.RunOutage(t, func(t *testing.T) blob.Store {
		opts := options(srv, "backlot", fmt.Sprintf("outage/%d", n.Add(1)))
		opts.SpoolDir = t.TempDir()
		opts.IdleTimeout = 2 * time.Second
		s, err := New(t.Context(), opts)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, blobtest.Outage{
		Kill: func(t *testing.T) { srv.Kill(t) }, Restart: func(t *testing.T) { srv.Restart(t) },
		Pause: func(t *testing.T) { srv.Pause(t) }, Resume: func(t *testing.T) { srv.Resume(t) },
	})
}

// TestNewNamesTheProblem: a missing bucket, refused credentials and an
// unreachable endpoint each fail New with one sentence that says so.
func TestNewNamesTheProblem(t *testing.T) {
	srv := seaweedtest.Start(t)
	srv.MakeBucket(t, "there")

	if _, err := New(t.Context(), options(srv, "there", "p")); err != nil {
		t.Fatalf("New on a bucket that exists: %v", err)
	}

	_, err := New(t.Context(), options(srv, "missing", ""))
	if err == nil || !strings.Contains(err.Error(), `bucket "missing" does not exist`) {
		t.Errorf("New on a missing bucket = %v", err)
	}

	bad := options(srv, "there", "")
	bad.SecretKey = "wrong"
	_, err = New(t.Context(), bad)
	if err == nil || !strings.Contains(err.Error(), "refused the credentials") {
		t.Errorf("New with a wrong secret = %v", err)
	}

	gone := options(srv, "there", "")
	gone.Endpoint = testkit.FreeAddr(t) // nobody listens there
	gone.MaxRetries = 1
	_, err = New(t.Context(), gone)
	if !errors.Is(err, blob.ErrUnavailable) || !strings.Contains(err.Error(), "cannot reach the object store at "+gone.Endpoint) {
		t.Errorf("New on an endpoint nobody listens on = %v", err)
	}
}

// counting is a RoundTripper that counts the requests it passes on to
// the real transport, by method.
type counting struct {
	mu sync.Mutex
	n  map[string]int
	rt http.RoundTripper
}

func (c *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.n[r.Method]++
	c.mu.Unlock()
	return c.rt.RoundTrip(r)
}

// take returns the counts since the last take.
func (c *counting) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = map[string]int{}
	return n
}

// TestRequests: what an image costs in requests, as the upload, the
// resize and a download use the store: an exclusive write of an upload
// is one PUT (held in memory: no spool file), reading it as a decoder
// does (header probes, the first 128 KiB for the Exif orientation, then
// all of it) one GET, and a small result one PUT and one GET.
func TestRequests(t *testing.T) {
	srv := seaweedtest.Start(t)
	srv.MakeBucket(t, "backlot")
	c := &counting{n: map[string]int{}, rt: http.DefaultTransport.(*http.Transport).Clone()}
	opts := options(srv, "backlot", "req")
	opts.SpoolDir = t.TempDir()
	opts.Transport = c
	s, err := New(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	src := make([]byte, 480_000)
	for i := range src {
		src[i] = byte(i * 7)
	}
	check := func(what string, want map[string]int) {
		t.Helper()
		if got := c.take(); !maps.Equal(got, want) {
			t.Errorf("%s: requests %v, want %v", what, got, want)
		}
	}
	c.take() // New's listing

	w, err := s.Create(t.Context(), "batches/b/i.src", blob.CreateOptions{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(src); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(opts.SpoolDir); len(ents) != 0 {
		t.Errorf("a %d-byte object was spooled to disk: %v", len(src), ents)
	}
	if _, err := w.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	check("exclusive write", map[string]int{"PUT": 1})

	obj, err := s.Open(t.Context(), "batches/b/i.src")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]int{{0, 16}, {2, 4096}, {0, 128<<10 + 4}, {0, len(src)}} {
		p := make([]byte, r[1])
		if n, err := obj.ReadAt(p, int64(r[0])); err != nil || !bytes.Equal(p[:n], src[r[0]:r[0]+r[1]]) {
			t.Fatalf("ReadAt(%d bytes at %d) = %d, %v", r[1], r[0], n, err)
		}
	}
	obj.Close()
	check("a decoder's reads", map[string]int{"GET": 1})

	if _, err := blob.Put(t.Context(), s, "batches/b/i.jpg", bytes.NewReader(src[:2000]), blob.CreateOptions{UseReserve: true}); err != nil {
		t.Fatal(err)
	}
	obj, err = s.Open(t.Context(), "batches/b/i.jpg")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(obj); err != nil || !bytes.Equal(b, src[:2000]) {
		t.Fatalf("ReadAll = %d bytes, %v", len(b), err)
	}
	obj.Close()
	check("a small result written and read", map[string]int{"PUT": 1, "GET": 1})
}

// TestKeptAnswerDies: the rest of Open's GET, kept for a read that goes
// on from the head, dies with the server's restart while kept: reads go
// on from a new GET, with the right bytes, by ReadAt and by Read.
func TestKeptAnswerDies(t *testing.T) {
	srv := seaweedtest.Start(t)
	srv.MakeBucket(t, "backlot")
	s, err := New(t.Context(), options(srv, "backlot", "kept"))
	if err != nil {
		t.Fatal(err)
	}
	src := make([]byte, 16<<20) // more than the sockets' buffers hold
	for i := range src {
		src[i] = byte(i * 13)
	}
	if _, err := blob.Put(t.Context(), s, "k/obj", bytes.NewReader(src), blob.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	direct, err := s.Open(t.Context(), "k/obj")
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	seq, err := s.Open(t.Context(), "k/obj")
	if err != nil {
		t.Fatal(err)
	}
	defer seq.Close()
	srv.Kill(t)
	srv.Restart(t)

	p := make([]byte, len(src))
	if n, err := direct.ReadAt(p, 0); err != nil || !bytes.Equal(p[:n], src) {
		t.Fatalf("ReadAt of the whole object after the restart = %d, %v (bytes right: %v)", n, err, bytes.Equal(p[:n], src))
	}
	got, err := io.ReadAll(seq)
	if err != nil || !bytes.Equal(got, src) {
		t.Fatalf("Read of the whole object after the restart = %d bytes, %v (right: %v)", len(got), err, bytes.Equal(got, src))
	}
}

// TestAwait: blob.Await returns at once on a store with no Check (fsblob)
// and, on S3, reports each failed check while the server is down and
// returns once it is back; a ctx that ends first ends it with its error.
func TestAwait(t *testing.T) {
	fs, err := fsblob.New(t.TempDir(), fsblob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := blob.Await(t.Context(), fs, func(err error, _ time.Duration) { t.Errorf("down called for fsblob: %v", err) }); err != nil {
		t.Fatalf("Await(fsblob) = %v", err)
	}

	srv := seaweedtest.Start(t)
	srv.MakeBucket(t, "backlot")
	opts := options(srv, "backlot", "await")
	opts.SpoolDir = t.TempDir()
	s, err := New(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.Kill(t)
	var waits []time.Duration
	err = blob.Await(t.Context(), s, func(err error, wait time.Duration) {
		if !strings.Contains(err.Error(), srv.Endpoint) && !errors.Is(err, blob.ErrUnavailable) {
			t.Errorf("check error %q names neither the endpoint nor ErrUnavailable", err)
		}
		if waits = append(waits, wait); len(waits) == 2 {
			srv.Restart(t) // back before the third check
		}
	})
	if err != nil || len(waits) < 2 || waits[0] != 250*time.Millisecond || waits[1] != 500*time.Millisecond {
		t.Fatalf("Await = %v after waits %v; want nil after 250ms, 500ms, …", err, waits)
	}

	srv.Kill(t)
	ctx, cancel := context.WithCancel(t.Context())
	err = blob.Await(ctx, s, func(error, time.Duration) { cancel() })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Await with ctx cancelled = %v, want context.Canceled", err)
	}
}
