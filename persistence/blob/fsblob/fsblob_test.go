package fsblob

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backlot/backlot/persistence/blob"
	"github.com/backlot/backlot/persistence/blob/blobtest"
)

func TestStore(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s := newStore(t, t.TempDir(), Options{})
		// What the API cannot show: every writer the suite ended left
		// no temp file behind.
		t.Cleanup(func() {
			if tmp := temps(t, s.root); len(tmp) != 0 {
				t.Errorf("temp files left: %v", tmp)
			}
		})
		return s
	})
}

func newStore(t *testing.T, root string, opts Options) *Store {
	t.Helper()
	s, err := New(root, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// temps lists the temp files under root.
func temps(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && isTemp(d.Name()) {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// files lists every file under root, relative to it.
func files(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, path)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLayout: a key is the file the node always used, made with the mode
// of any file the process makes as 0644; files already there in that
// layout are objects.
func TestLayout(t *testing.T) {
	root := t.TempDir()
	s := newStore(t, root, Options{})
	ctx := t.Context()
	if _, err := blob.Put(ctx, s, blob.SourceKey("b", "i"), strings.NewReader("src"), blob.CreateOptions{Exclusive: true, Durable: true}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(root, "batches", "b", "i.src"))
	if err != nil {
		t.Fatal(err)
	}
	ref := filepath.Join(t.TempDir(), "ref")
	if err := os.WriteFile(ref, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	want, _ := os.Stat(ref)
	if fi.Mode() != want.Mode() {
		t.Fatalf("object file mode %v, want %v (0644 less the umask)", fi.Mode(), want.Mode())
	}

	old := filepath.Join(root, "batches", "old", "i.out.jpg")
	if err := os.MkdirAll(filepath.Dir(old), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(old, []byte("result"), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := s.Open(ctx, blob.OutputKey("old", "i", "jpg"))
	if err != nil {
		t.Fatalf("Open of a result written before the store: %v", err)
	}
	defer o.Close()
	if b, _ := io.ReadAll(o); string(b) != "result" {
		t.Fatalf("read %q", b)
	}
	var keys []string
	_ = s.List(ctx, blob.BatchesPrefix, func(i blob.Info) error { keys = append(keys, i.Key); return nil })
	if want := []string{"batches/b/i.src", "batches/old/i.out.jpg"}; !slicesEqual(keys, want) {
		t.Fatalf("List = %v, want %v", keys, want)
	}
}

func slicesEqual(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

// TestReserveAtCreate: with a reserve larger than the disk's free space,
// Create and Put fail with ErrInsufficientStorage and leave nothing; a
// write that may use the reserve goes through.
func TestReserveAtCreate(t *testing.T) {
	root := t.TempDir()
	free, ok := freeBytes(root)
	if !ok {
		t.Skip("the free space of the temp dir's file system cannot be told here")
	}
	s := newStore(t, root, Options{MinFree: free + 1<<40})
	ctx := t.Context()
	if got, reserve, ok := s.Space(ctx); !ok || got <= 0 || reserve != free+1<<40 {
		t.Fatalf("Space = %d, %d, %v", got, reserve, ok)
	}
	if w, err := s.Create(ctx, blob.SourceKey("b", "1"), blob.CreateOptions{}); !errors.Is(err, blob.ErrInsufficientStorage) {
		if err == nil {
			w.Abort()
		}
		t.Fatalf("Create below the reserve = %v, want ErrInsufficientStorage", err)
	}
	if _, err := blob.Put(ctx, s, blob.SourceKey("b", "2"), strings.NewReader("x"), blob.CreateOptions{Durable: true}); !errors.Is(err, blob.ErrInsufficientStorage) {
		t.Fatalf("Put below the reserve = %v, want ErrInsufficientStorage", err)
	}
	if f := files(t, root); len(f) != 0 {
		t.Fatalf("refused writes left %v", f)
	}
	if _, err := blob.Put(ctx, s, blob.OutputKey("b", "1", "jpg"), strings.NewReader("result"), blob.CreateOptions{UseReserve: true}); err != nil {
		t.Fatalf("Put with UseReserve: %v", err)
	}
}

// TestReserveWhileWriting: a writer whose disk goes below the reserve
// while it writes fails at its next MiB, its Commit fails the same, and
// nothing is left.
func TestReserveWhileWriting(t *testing.T) {
	root := t.TempDir()
	s := newStore(t, root, Options{MinFree: 100 << 20})
	free := int64(1 << 40)
	s.free = func(string) (int64, bool) { return free, true }
	ctx := t.Context()
	w, err := s.Create(ctx, blob.SourceKey("b", "1"), blob.CreateOptions{Durable: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	u, err := s.Create(ctx, blob.OutputKey("b", "0", "png"), blob.CreateOptions{UseReserve: true})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Abort()
	free = 99 << 20 // other writers took the disk below the reserve
	chunk := make([]byte, 256<<10)
	var written int64
	for written < 3<<20 {
		n, err := w.Write(chunk)
		written += int64(n)
		if errors.Is(err, blob.ErrInsufficientStorage) {
			break
		}
		if err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	if written < checkEvery || written >= 3<<20 {
		t.Fatalf("the writer failed after %d bytes, want at its first MiB", written)
	}
	if _, err := w.Write(chunk); !errors.Is(err, blob.ErrInsufficientStorage) {
		t.Fatalf("Write after the failure = %v, want it again", err)
	}
	if _, err := w.Commit(ctx); !errors.Is(err, blob.ErrInsufficientStorage) {
		t.Fatalf("Commit = %v, want ErrInsufficientStorage", err)
	}
	for range 12 { // 3 MiB into the reserve, which it may use
		if _, err := u.Write(chunk); err != nil {
			t.Fatalf("Write with UseReserve: %v", err)
		}
	}
	if _, err := u.Commit(ctx); err != nil {
		t.Fatalf("Commit with UseReserve: %v", err)
	}
	if f := files(t, root); !slicesEqual(f, []string{"batches/b/0.out.png"}) {
		t.Fatalf("files = %v, want only the result", f)
	}
}

// tmpfsEnv names, in a test binary run again by inTmpfs, the tmpfs it
// runs on.
const tmpfsEnv = "BACKLOT_TEST_BLOB_TMPFS"

// inTmpfs runs the calling test (a top-level one) again, in a child
// process of the test binary inside a user and mount namespace (unshare)
// with a tmpfs of size ("1m") mounted on a fresh directory: a small disk
// that can really fill, without root. In the child it returns that
// directory; in the parent it returns "" once the child has passed (its
// output is logged, its failure fails the test). Outside CI a machine
// without user namespaces skips; CI must run it. (cmd/backlot's
// diskbytes_test.go does the same for a whole node.)
func inTmpfs(t *testing.T, size string) string {
	t.Helper()
	if dir := os.Getenv(tmpfsEnv); dir != "" {
		return dir
	}
	skipOrFail := t.Skipf
	if os.Getenv("CI") == "true" {
		skipOrFail = t.Fatalf
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		skipOrFail("unshare (util-linux) not found: %v", err)
	}
	dir := t.TempDir()
	cmd := exec.Command(unshare, "--user", "--map-root-user", "--mount",
		"sh", "-c", `mount -t tmpfs -o size=`+size+` backlot-test "$0" && exec "$@"`, dir,
		os.Args[0], "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), tmpfsEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	t.Logf("in a tmpfs of %s:\n%s", size, out)
	if !bytes.Contains(out, []byte("=== RUN")) {
		skipOrFail("cannot run the test on a tmpfs in a user namespace: %v", err)
	}
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("in the tmpfs: %v", err)
	}
	return ""
}

// TestENOSPC: a write that fills the disk fails with
// ErrInsufficientStorage (ENOSPC still in the chain), leaves nothing, and
// the room it took is free again for the next one.
func TestENOSPC(t *testing.T) {
	dir := inTmpfs(t, "1m")
	if dir == "" {
		return
	}
	s := newStore(t, dir, Options{}) // no reserve: the ENOSPC path
	ctx := t.Context()
	big := make([]byte, 2<<20)
	_, err := blob.Put(ctx, s, blob.SourceKey("b", "big"), bytes.NewReader(big), blob.CreateOptions{Durable: true})
	if !errors.Is(err, blob.ErrInsufficientStorage) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Put of 2 MiB on 1 MiB = %v, want ErrInsufficientStorage wrapping ENOSPC", err)
	}
	if f := files(t, dir); len(f) != 0 {
		t.Fatalf("the failed write left %v", f)
	}
	if _, err := blob.Put(ctx, s, blob.SourceKey("b", "fits"), bytes.NewReader(big[:700<<10]), blob.CreateOptions{Durable: true}); err != nil {
		t.Fatalf("Put of 700 KiB after the failure: %v", err)
	}
}

// TestDurable: a Durable Commit and a Sync leave the file under its key
// and no temp file, and mark the directories durable; removing a
// directory forgets its mark, so that one made again is synced again.
func TestDurable(t *testing.T) {
	root := t.TempDir()
	s := newStore(t, root, Options{})
	ctx := t.Context()
	if _, err := blob.Put(ctx, s, blob.SourceKey("b", "1"), strings.NewReader("one"), blob.CreateOptions{Durable: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := blob.Put(ctx, s, blob.SourceKey("c", "1"), strings.NewReader("two"), blob.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	marked := func(rel string) bool { return markedDurable(s, root, rel) }
	if !marked("batches") || !marked("batches/b") || marked("batches/c") {
		t.Fatalf("marked durable: %v; want batches and batches/b", s.durable)
	}
	if err := s.Sync(ctx, blob.SourceKey("c", "1")); err != nil {
		t.Fatal(err)
	}
	if !marked("batches/c") {
		t.Fatal("Sync did not mark batches/c")
	}
	if f := files(t, root); !slicesEqual(f, []string{"batches/b/1.src", "batches/c/1.src"}) {
		t.Fatalf("files = %v", f)
	}
	if err := s.DeletePrefix(ctx, blob.BatchPrefix("b")); err != nil {
		t.Fatal(err)
	}
	if marked("batches/b") || !marked("batches/c") {
		t.Fatalf("after DeletePrefix marked: %v; want batches/c only below batches", s.durable)
	}
}

// TestSweepTemp: a temp file a crash left is never listed; SweepTemp
// removes it once older than the grace, with the directory it leaves
// empty, and spares a live writer's and objects.
func TestSweepTemp(t *testing.T) {
	root := t.TempDir()
	s := newStore(t, root, Options{})
	ctx := t.Context()
	long := time.Now().Add(-2 * time.Hour)
	leave := func(rel string, mtime time.Time) { // a crash mid-write
		t.Helper()
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	leave("batches/crashed/.1.src.tmp-abc", long)
	leave("batches/kept/.2.src.tmp-def", long)
	leave("batches/kept/.3.src.tmp-ghi", time.Now())
	if _, err := blob.Put(ctx, s, blob.SourceKey("kept", "1"), strings.NewReader("one"), blob.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w, err := s.Create(ctx, blob.SourceKey("live", "1"), blob.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if _, err := w.Write([]byte("arriving")); err != nil {
		t.Fatal(err)
	}
	var keys []string
	_ = s.List(ctx, "", func(i blob.Info) error { keys = append(keys, i.Key); return nil })
	if !slicesEqual(keys, []string{"batches/kept/1.src"}) {
		t.Fatalf("List = %v, want only the object", keys)
	}

	if n, err := s.SweepTemp(ctx, time.Hour); err != nil || n != 2 {
		t.Fatalf("SweepTemp(1h) = %d, %v; want 2", n, err)
	}
	if _, err := os.Stat(filepath.Join(root, "batches", "crashed")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the crashed batch's directory is still there: %v", err)
	}
	if f := files(t, root); len(f) != 3 || f[0] != "batches/kept/.3.src.tmp-ghi" || f[1] != "batches/kept/1.src" || !strings.HasPrefix(f[2], "batches/live/.1.src.tmp-") {
		t.Fatalf("after SweepTemp(1h) files = %v", f)
	}
	if _, err := w.Commit(ctx); err != nil {
		t.Fatalf("the live writer's Commit after the sweep: %v", err)
	}
	if n, err := s.SweepTemp(ctx, 0); err != nil || n != 1 {
		t.Fatalf("SweepTemp(0) = %d, %v; want 1", n, err)
	}
	if f := files(t, root); !slicesEqual(f, []string{"batches/kept/1.src", "batches/live/1.src"}) {
		t.Fatalf("after SweepTemp(0) files = %v", f)
	}
}

// TestDropCache: an fsblob object offers DropCache, and reads on after it.
func TestDropCache(t *testing.T) {
	s := newStore(t, t.TempDir(), Options{})
	ctx := t.Context()
	if _, err := blob.Put(ctx, s, "k", strings.NewReader("bytes"), blob.CreateOptions{Durable: true}); err != nil {
		t.Fatal(err)
	}
	o, err := s.Open(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	d, ok := o.(blob.CacheDropper)
	if !ok {
		t.Fatal("the object is no blob.CacheDropper")
	}
	d.DropCache()
	if b, err := io.ReadAll(o); err != nil || string(b) != "bytes" {
		t.Fatalf("read after DropCache: %q, %v", b, err)
	}
}

// TestDurableMarksBounded: the set of directories remembered as durable
// stays bounded when batches are never deleted (--retention 0), and
// durable writes go on working once it has started over.
func TestDurableMarksBounded(t *testing.T) {
	defer func(n int) { maxMarks = n }(maxMarks)
	maxMarks = 16
	root := t.TempDir()
	s := newStore(t, root, Options{})
	ctx := t.Context()
	for i := range maxMarks + 10 {
		if _, err := blob.Put(ctx, s, blob.SourceKey(fmt.Sprintf("b%05d", i), "1"), strings.NewReader("x"), blob.CreateOptions{Durable: true}); err != nil {
			t.Fatal(err)
		}
	}
	s.mu.Lock()
	n := len(s.durable)
	s.mu.Unlock()
	if n == 0 || n > maxMarks {
		t.Fatalf("%d directories remembered, want 1..%d", n, maxMarks)
	}
	if f := files(t, root); len(f) != maxMarks+10 {
		t.Fatalf("%d files, want %d", len(f), maxMarks+10)
	}
}

// TestSyncDataAndNames: SyncData syncs a file without its directory,
// SyncNames the directory of a prefix (marking it and its parents
// durable); both refuse what is not theirs.
func TestSyncDataAndNames(t *testing.T) {
	root := t.TempDir()
	s := newStore(t, root, Options{})
	ctx := t.Context()
	var _ blob.NameSyncer = s
	for _, id := range []string{"1", "2"} {
		if _, err := blob.Put(ctx, s, blob.SourceKey("d", id), strings.NewReader("x"), blob.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	marked := func(rel string) bool { return markedDurable(s, root, rel) }
	for _, id := range []string{"1", "2"} {
		if err := s.SyncData(ctx, blob.SourceKey("d", id)); err != nil {
			t.Fatal(err)
		}
	}
	if marked("batches/d") || marked("batches") {
		t.Fatalf("SyncData marked directories: %v", s.durable)
	}
	if err := s.SyncNames(ctx, blob.BatchPrefix("d")); err != nil {
		t.Fatal(err)
	}
	if !marked("batches/d") || !marked("batches") {
		t.Fatalf("SyncNames did not mark batches/d and batches: %v", s.durable)
	}
	if err := s.SyncData(ctx, blob.SourceKey("d", "missing")); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("SyncData of a missing key: %v", err)
	}
	if err := s.SyncNames(ctx, blob.BatchPrefix("nothing-here")); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("SyncNames of a missing directory: %v", err)
	}
	for _, bad := range []string{"", "batches/d", "../x/"} {
		if err := s.SyncNames(ctx, bad); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("SyncNames(%q): %v", bad, err)
		}
	}
}

// markedDurable reports whether s has marked root/rel's directory durable.
func markedDurable(s *Store, root, rel string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.durable[filepath.Join(root, rel)]
	return ok
}

// TestPublishExclusive: both ways of an exclusive publish (renameat2
// RENAME_NOREPLACE where the file system has it, link and remove where
// not) put the temp file under a new name and leave no temp name, and on
// an existing name fail with fs.ErrExist, leaving both files as they
// were.
func TestPublishExclusive(t *testing.T) {
	for name, publish := range map[string]func(tmp, path string) error{"publishExclusive": publishExclusive, "linkExclusive": linkExclusive} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			tmp, path := filepath.Join(dir, ".a.tmp-1"), filepath.Join(dir, "a")
			if err := os.WriteFile(tmp, []byte("new"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := publish(tmp, path); err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(path); err != nil || string(b) != "new" {
				t.Fatalf("published %q %v", b, err)
			}
			if _, err := os.Lstat(tmp); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("the temp name is left: %v", err)
			}
			if err := os.WriteFile(tmp, []byte("other"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := publish(tmp, path); !errors.Is(err, fs.ErrExist) {
				t.Fatalf("publish onto an existing name = %v, want fs.ErrExist", err)
			}
			if b, err := os.ReadFile(path); err != nil || string(b) != "new" {
				t.Fatalf("the existing file became %q %v", b, err)
			}
			if b, err := os.ReadFile(tmp); err != nil || string(b) != "other" {
				t.Fatalf("the temp file became %q %v", b, err)
			}
		})
	}
}

// TestRename: rename replaces a file, and refuses to put a file over a
// directory (which os.Rename looked for with an Lstat of its own).
func TestRename(t *testing.T) {
	dir := t.TempDir()
	tmp, path := filepath.Join(dir, ".a.tmp-1"), filepath.Join(dir, "a")
	for _, body := range []string{"one", "two"} {
		if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := rename(tmp, path); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != body {
			t.Fatalf("renamed %q %v, want %q", b, err, body)
		}
	}
	sub := filepath.Join(dir, "d")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := rename(tmp, sub); err == nil {
		t.Fatal("a file renamed over a directory")
	}
	if fi, err := os.Stat(sub); err != nil || !fi.IsDir() {
		t.Fatalf("the directory became %v %v", fi, err)
	}
}
