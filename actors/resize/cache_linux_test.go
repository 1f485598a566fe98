package resize

import (
	"bytes"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/backlot/backlot/persistence"
)

// resident counts the pages of path that are in the page cache (mincore
// over a read-only mapping).
func resident(t *testing.T, path string) (in, total int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	page := os.Getpagesize()
	vec := make([]byte, (len(m)+page-1)/page)
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		t.Fatal(e)
	}
	for _, v := range vec {
		if v&1 != 0 {
			in++
		}
	}
	return in, len(vec)
}

// TestSourceLeavesPageCache: once Process has read a source, its pages
// are dropped from the page cache, so a stream of uploads recycles cache
// pages instead of growing the cache (run calls the source's blob.CacheDropper).
func TestSourceLeavesPageCache(t *testing.T) {
	dir := t.TempDir()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type == unix.TMPFS_MAGIC {
		t.Skipf("%s is tmpfs: its pages are the storage and cannot be dropped", dir)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, Synthetic(1280, 960, 3), &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	src := writeFile(t, dir, "src.jpg", b.Bytes())
	f, err := os.OpenFile(src, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil { // as the upload does before its 202
		t.Fatal(err)
	}
	f.Close()
	if in, total := resident(t, src); in == 0 {
		t.Fatalf("before Process: 0 of %d pages cached; the check below would prove nothing", total)
	}
	opts := persistence.Options{Width: 100, Height: 100, Fit: persistence.FitCover, Format: persistence.FormatJPEG, Quality: 85}
	if _, err := processFile(src, filepath.Join(dir, "out.jpg"), opts, Limits{}); err != nil {
		t.Fatal(err)
	}
	if in, total := resident(t, src); in != 0 {
		t.Fatalf("after Process: %d of %d source pages still cached", in, total)
	}
}
