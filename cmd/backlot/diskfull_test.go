package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backlot/backlot/persistence/pebble"
)

// onTmpfs starts `backlot serve` on a tmpfs of size (e.g. "4m") of its
// own, mounted in a user and mount namespace (unshare): a small disk that
// can really fill, without root and without touching the machine's disks.
// Outside CI a machine without user namespaces skips; CI must run it.
func onTmpfs(t *testing.T, size string, extra ...string) *proc {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the binary")
	}
	dir := t.TempDir()
	wrap, skipOrFail := tmpfsWrap(t, size, dir)
	p, err := startProcWrapped(t, wrap, dir, nil, append([]string{"--workers", "1"}, extra...)...)
	if err != nil {
		skipOrFail("cannot run backlot on a tmpfs in a user namespace: %v", err)
		return nil
	}
	return p
}

// tmpfsWrap is the command prefix that runs a command with a tmpfs of
// size mounted on dir, in a user and mount namespace of its own (unshare),
// and how to give up where that cannot run: skip outside CI, fail in it
// (both end the test).
func tmpfsWrap(t *testing.T, size, dir string) (wrap []string, skipOrFail func(string, ...any)) {
	t.Helper()
	skipOrFail = t.Skipf
	if os.Getenv("CI") == "true" {
		skipOrFail = t.Fatalf
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		skipOrFail("unshare (util-linux) not found: %v", err)
	}
	return []string{unshare, "--user", "--map-root-user", "--mount",
		"sh", "-c", `mount -t tmpfs -o size=` + size + ` backlot-test "$0" && exec "$@"`, dir}, skipOrFail
}

// bigJPEGs are photo-like JPEGs of about 1 MB each, at least total bytes
// in all.
func bigJPEGs(t *testing.T, total int) [][]byte {
	t.Helper()
	var big [][]byte
	n := 0
	for seed := uint64(1); n < total; seed++ {
		b := jpegBytes(t, 1800, 1350, seed)
		big = append(big, b)
		n += len(b)
	}
	if len(big[0]) < 600<<10 {
		t.Fatalf("test images too small (%d bytes): the checks below would prove nothing", len(big[0]))
	}
	return big
}

// insufficientStorage posts parts and requires API.md 1.1's 507 with the
// code insufficient_storage and a Retry-After.
func insufficientStorage(t *testing.T, base string, parts ...part) {
	t.Helper()
	ct, body := multipartBody(t, parts...)
	requireInsufficientStorage(t, post(t, base+"/api/images", ct, body))
}

// requireInsufficientStorage requires resp to be API.md 1.1's 507 with the
// code insufficient_storage and a Retry-After, and returns its message.
func requireInsufficientStorage(t *testing.T, resp *http.Response) string {
	t.Helper()
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e struct{ Error, Code string }
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("%d %q is not a JSON error: %v", resp.StatusCode, raw, err)
	}
	if resp.StatusCode != http.StatusInsufficientStorage || e.Code != "insufficient_storage" || !strings.Contains(e.Error, "disk is") {
		t.Fatalf("upload: %d %s, want 507 insufficient_storage", resp.StatusCode, raw)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("507 without Retry-After")
	}
	return e.Error
}

// TestDiskFull: an upload that fills the disk is refused with API.md 1.1's
// 507 (code insufficient_storage, Retry-After) and leaves nothing behind: its
// files are removed, so the same room takes the next upload, which is then
// processed to done. No reserve here (--min-free-disk 0): the ENOSPC path.
func TestDiskFull(t *testing.T) {
	p := onTmpfs(t, "4m", "--min-free-disk", "0")
	big := bigJPEGs(t, 5<<20) // more than the 4 MiB hold
	parts := make([]part, len(big))
	for i, b := range big {
		parts[i] = filePart("big.jpg", b)
	}
	insufficientStorage(t, p.url, parts...)

	// The refused files are gone: the first one's worth fits again, with
	// a small one beside it, and the batch runs to done.
	r := upload(t, p.url, filePart("again.jpg", big[0]), filePart("small.jpg", jpegBytes(t, 320, 240, 9)))
	evs := openSSE(t, t.Context(), p.url+r.Events, "").collect(t, 60*time.Second)
	if o := checkSequence(t, r.BatchID, evs); o.completed != 2 {
		t.Fatalf("after the refusal: %d of 2 completed: %s", o.completed, names(evs))
	}
	mfs := scrape(t, p.url)
	if got := value(t, mfs, "backlot_uploads_total", map[string]string{"code": "insufficient_storage"}); got != 1 {
		t.Fatalf("insufficient_storage uploads counted: %v, want 1", got)
	}
	if got := value(t, mfs, "backlot_uploaded_images_total", nil); got != 2 {
		t.Fatalf("images accepted: %v, want the follow-up's 2 only", got)
	}
}

// TestDiskReserve: with --min-free-disk, an upload whose body would eat
// into the reserve is refused with 507 before it is written, one that fits
// is taken and runs to done, and /readyz fails (503: not ready) only below
// the reserve.
func TestDiskReserve(t *testing.T) {
	big := bigJPEGs(t, 2<<20)
	two := []part{filePart("a.jpg", big[0]), filePart("b.jpg", big[1])}
	size := len(big[0]) + len(big[1])

	// 8 MiB with all but one and a half uploads' worth kept: one upload
	// fits, a second would go below the reserve. The disk is larger by
	// the embedded store's preallocated log, which takes its room at the
	// first write, and is kept for it.
	reserve := 8<<20 - size*3/2 - 64<<10
	p := onTmpfs(t, strconv.Itoa((8<<20+pebble.LogRoom)>>10)+"k", "--min-free-disk", strconv.Itoa(reserve))
	if got := status(t, p.url+"/readyz"); got != http.StatusOK {
		t.Fatalf("readyz with 8 MiB free and %d bytes kept: %d", reserve, got)
	}
	r := upload(t, p.url, two...)
	evs := openSSE(t, t.Context(), p.url+r.Events, "").collect(t, 60*time.Second)
	if o := checkSequence(t, r.BatchID, evs); o.completed != 2 {
		t.Fatalf("%d of 2 completed: %s", o.completed, names(evs))
	}
	insufficientStorage(t, p.url, two...)
	if got := status(t, p.url+"/readyz"); got != http.StatusOK {
		t.Fatalf("readyz above the reserve (%d bytes used): %d", size, got)
	}
	mfs := scrape(t, p.url)
	if got := value(t, mfs, "backlot_uploaded_images_total", nil); got != 2 {
		t.Fatalf("images accepted: %v, want the first upload's 2 only", got)
	}

	// A reserve larger than the disk: not ready, and every upload refused.
	q := onTmpfs(t, "4m", "--min-free-disk", "16MiB")
	if got := status(t, q.url+"/readyz"); got != http.StatusServiceUnavailable {
		t.Fatalf("readyz below the reserve: %d, want 503", got)
	}
	insufficientStorage(t, q.url, filePart("small.jpg", jpegBytes(t, 64, 48, 1)))
}
