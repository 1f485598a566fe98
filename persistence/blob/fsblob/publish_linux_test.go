package fsblob

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPublishFallback: on a file system that refuses RENAME_NOREPLACE
// (EINVAL), publishExclusive links and removes instead, still refusing
// an existing name, and stops asking renameat2 after the first refusal.
func TestPublishFallback(t *testing.T) {
	calls := 0
	renameat2 = func(int, string, int, string, uint) error { calls++; return unix.EINVAL }
	t.Cleanup(func() { renameat2 = unix.Renameat2; noReplaceUnsupported.Store(false) })
	dir := t.TempDir()
	for i, name := range []string{"a", "b"} {
		tmp, path := filepath.Join(dir, ".x.tmp-1"), filepath.Join(dir, name)
		if err := os.WriteFile(tmp, []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := publishExclusive(tmp, path); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != name {
			t.Fatalf("published %q %v", b, err)
		}
		if _, err := os.Lstat(tmp); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("the temp name is left: %v", err)
		}
	}
	if calls != 1 || !noReplaceUnsupported.Load() {
		t.Fatalf("renameat2 asked %d times, unsupported=%v; want once, then link only", calls, noReplaceUnsupported.Load())
	}
	tmp := filepath.Join(dir, ".x.tmp-2")
	if err := os.WriteFile(tmp, []byte("c"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := publishExclusive(tmp, filepath.Join(dir, "a")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("fallback onto an existing name = %v, want fs.ErrExist", err)
	}
}
