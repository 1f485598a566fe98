package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestDiskFull: an upload that fills the disk is refused with API.md's 503
// (code insufficient_storage, Retry-After) and leaves nothing behind: its
// files are removed, so the same room takes the next upload, which is then
// processed to done. The node runs on a 4 MiB tmpfs of its own, mounted in
// a user and mount namespace (unshare), so no root and no real disk fill.
func TestDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	// Outside CI a machine without user namespaces skips; CI must run it.
	skipOrFail := t.Skipf
	if os.Getenv("CI") == "true" {
		skipOrFail = t.Fatalf
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		skipOrFail("unshare (util-linux) not found: %v", err)
		return
	}
	dir := t.TempDir()
	wrap := []string{unshare, "--user", "--map-root-user", "--mount",
		"sh", "-c", `mount -t tmpfs -o size=4m backlot-test "$0" && exec "$@"`, dir}
	p, err := startProcWrapped(t, wrap, dir, nil, "--workers", "1")
	if err != nil {
		skipOrFail("cannot run backlot on a tmpfs in a user namespace: %v", err)
		return
	}

	// Files of about 1 MB each, more of them than the 4 MiB hold.
	var big [][]byte
	total := 0
	for seed := uint64(1); total < 5<<20; seed++ {
		b := jpegBytes(t, 1800, 1350, seed)
		big = append(big, b)
		total += len(b)
	}
	if len(big[0]) < 600<<10 {
		t.Fatalf("test images too small (%d bytes): the follow-up upload would prove nothing", len(big[0]))
	}
	parts := make([]part, len(big))
	for i, b := range big {
		parts[i] = filePart("big.jpg", b)
	}
	ct, body := multipartBody(t, parts...)
	resp := post(t, p.url+"/api/images", ct, body)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e struct{ Error, Code string }
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("%d %q is not a JSON error: %v", resp.StatusCode, raw, err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || e.Code != "insufficient_storage" || !strings.Contains(e.Error, "disk is full") {
		t.Fatalf("upload over the free space: %d %s, want 503 insufficient_storage", resp.StatusCode, raw)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}

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
