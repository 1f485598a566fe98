package main

import (
	"bytes"
	"image"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/backlot/backlot/actors/resize"
)

// tmpfsEnv names, in a test binary run again by inTmpfs, the tmpfs it runs on.
const tmpfsEnv = "BACKLOT_TEST_TMPFS"

// inTmpfs runs the calling test (a top-level one) again, in a child process
// of the test binary inside a user and mount namespace (unshare) with a
// tmpfs of size ("16m") mounted on a fresh directory: a small disk that can
// really fill, without root, on which the test can start an in-process
// node and look at its store and files directly. In the child it returns
// that directory; in the parent it returns "" once the child has passed
// (its output is logged, its failure fails the test). Outside CI a machine
// without user namespaces skips; CI must run it.
func inTmpfs(t *testing.T, size string) string {
	t.Helper()
	if dir := os.Getenv(tmpfsEnv); dir != "" {
		return dir
	}
	if testing.Short() {
		t.Skip("mounts a tmpfs in a user namespace")
	}
	dir := t.TempDir()
	wrap, skipOrFail := tmpfsWrap(t, size, dir)
	args := append(wrap[1:], os.Args[0], "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.v", "-test.count=1")
	cmd := exec.Command(wrap[0], args...)
	cmd.Env = append(os.Environ(), tmpfsEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	t.Logf("in a tmpfs of %s:\n%s", size, out)
	if !bytes.Contains(out, []byte("=== RUN")) {
		skipOrFail("cannot run the test on a tmpfs in a user namespace: %v", err)
		return ""
	}
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("in the tmpfs: %v", err)
	}
	return ""
}

// freeOn is the space an unprivileged writer may still use on dir's file
// system.
func freeOn(t *testing.T, dir string) int64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// requireNoBatch fails unless the node's store holds no batch at all
// (none unfinished, none finished, nothing queued) and its data dir no
// batch directory.
func requireNoBatch(t *testing.T, n *node, dir string) {
	t.Helper()
	ctx := t.Context()
	if ids, err := n.store.Unfinished(ctx); err != nil || len(ids) != 0 {
		t.Fatalf("store holds unfinished batches %v (%v)", ids, err)
	}
	if ids, err := n.store.Expired(ctx, time.Now().Add(100*365*24*time.Hour), 100); err != nil || len(ids) != 0 {
		t.Fatalf("store holds finished batches %v (%v)", ids, err)
	}
	if pending, inflight, err := n.store.QueueDepth(ctx); err != nil || pending+inflight != 0 {
		t.Fatalf("queue holds %d pending, %d in flight (%v)", pending, inflight, err)
	}
	if d := batchDirs(t, dir); len(d) != 0 {
		t.Fatalf("rejected upload left %v on disk", d)
	}
}

// TestDiskFillsMidUpload: a body that declares no length (chunked) passes
// the free-space check made before reading, and takes the disk below its
// floor (--min-free-disk) while it is written, though the disk could hold
// all of it: it is refused with 507 insufficient_storage and Retry-After by
// the check made while writing (not by ENOSPC, not by the check before),
// its files are removed and the store holds no batch; the space is back,
// and the next upload is taken and runs to done.
func TestDiskFillsMidUpload(t *testing.T) {
	dir := inTmpfs(t, "16m")
	if dir == "" {
		return // the parent: the child ran the test
	}
	const floor = 8 << 20
	n := startNode(t, dir, func(c *Config) {
		c.MinFreeDisk = floor
		c.Workers = 1
	})
	free := freeOn(t, dir)
	if free <= floor+2<<20 {
		t.Fatalf("only %d bytes free on a 16 MiB tmpfs", free)
	}

	// Past the floor by 4 MiB, yet short of filling the disk (so no
	// ENOSPC), and less than the 8 MiB a rejected body's rest is read for
	// past the refusal (so the client reads the answer, not a reset).
	jpg := bigJPEGs(t, 1)[0]
	var parts []part
	for size := 0; size < int(free-floor)+4<<20; size += len(jpg) {
		parts = append(parts, filePart("big.jpg", jpg))
	}
	ct, body := multipartBody(t, parts...)
	if int64(len(body)) >= free-1<<20 {
		t.Fatalf("body of %d bytes would fill the disk (%d free)", len(body), free)
	}
	req, err := http.NewRequest("POST", n.url+"/api/images", io.MultiReader(bytes.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	req.ContentLength = -1 // chunked: nothing for the check before reading to weigh
	req.TransferEncoding = []string{"chunked"}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg := requireInsufficientStorage(t, resp)
	if !strings.Contains(msg, "while the upload was written") {
		t.Fatalf("507 %q is not the check made while writing", msg)
	}
	// ...and it was made as the body crossed the floor (the free space is
	// looked at every MiB written), not once the whole body was in, 4 MiB
	// past it.
	m := regexp.MustCompile(`\((\d+) bytes free`).FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("507 %q does not say what was free", msg)
	}
	if at, _ := strconv.ParseInt(m[1], 10, 64); at < floor-2<<20 || at >= floor {
		t.Fatalf("refused with %d bytes free: not as the body crossed the floor of %d", at, floor)
	}
	requireNoBatch(t, n, dir)
	if now := freeOn(t, dir); now < free-256<<10 {
		t.Fatalf("%d bytes free after the refusal, %d before: the upload's files stayed", now, free)
	}
	mfs := scrape(t, n.url)
	if got := value(t, mfs, "backlot_uploads_total", map[string]string{"code": "insufficient_storage"}); got != 1 {
		t.Fatalf("insufficient_storage uploads counted: %v, want 1", got)
	}

	// The space is back: a smaller upload is taken and done.
	r := upload(t, n.url, filePart("again.jpg", jpg), filePart("small.jpg", jpegBytes(t, 320, 240, 9)))
	evs := openSSE(t, t.Context(), n.url+r.Events, "").collect(t, 60*time.Second)
	if o := checkSequence(t, r.BatchID, evs); o.completed != 2 {
		t.Fatalf("after the refusal: %d of 2 completed: %s", o.completed, names(evs))
	}
}

// TestOutputIsBounded: whatever box is asked, an output holds at most
// max(4 × its source's pixels, 256×256) pixels (resize.MaxOutputPixels),
// reduced keeping the box's aspect (contain: the image's), and the
// completed event, the status and the result all tell the size made. So
// a 16×16 PNG asked for 4096×4096 writes a 256×256 output of at most
// about 256 KiB, not 16.7 million pixels.
func TestOutputIsBounded(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, nil)
	for _, tc := range []struct {
		name          string
		data          []byte
		w, h          int // source size
		fields        []part
		outW, outH    int
		format        string
		resultDecoder string
	}{
		{"tiny png, cover 4096", pngBytes(t, 16, 16, 1), 16, 16,
			[]part{fieldPart("width", "4096"), fieldPart("height", "4096"), fieldPart("format", "png")}, 256, 256, "image/png", "png"},
		{"tiny png, fill 4096x1024", pngBytes(t, 16, 16, 2), 16, 16,
			[]part{fieldPart("width", "4096"), fieldPart("height", "1024"), fieldPart("fit", "fill"), fieldPart("format", "png")}, 512, 128, "image/png", "png"},
		{"small jpeg, contain 4096", jpegBytes(t, 400, 300, 3), 400, 300,
			[]part{fieldPart("width", "4096"), fieldPart("height", "4096"), fieldPart("fit", "contain")}, 800, 600, "image/jpeg", "jpeg"},
		{"within the bound, as asked", jpegBytes(t, 200, 100, 4), 200, 100,
			[]part{fieldPart("width", "256"), fieldPart("height", "256")}, 256, 256, "image/jpeg", "jpeg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := upload(t, n.url, append([]part{filePart("in", tc.data)}, tc.fields...)...)
			evs := openSSE(t, t.Context(), n.url+r.Events, "").collect(t, 60*time.Second)
			if o := checkSequence(t, r.BatchID, evs); o.completed != 1 {
				t.Fatalf("%d of 1 completed: %s", o.completed, names(evs))
			}
			var done evData
			for _, ev := range evs {
				if ev.Name == "completed" {
					done = parseData(t, ev)
				}
			}
			if done.Width != tc.outW || done.Height != tc.outH {
				t.Fatalf("completed %dx%d, want %dx%d", done.Width, done.Height, tc.outW, tc.outH)
			}
			if px := int64(done.Width) * int64(done.Height); px > resize.MaxOutputPixels(tc.w, tc.h) {
				t.Fatalf("%d output pixels over the bound %d", px, resize.MaxOutputPixels(tc.w, tc.h))
			}
			if limit := max(16*int64(tc.w*tc.h), 256<<10) + 8<<10; done.Bytes > limit {
				t.Fatalf("output of %d bytes over the documented %d", done.Bytes, limit)
			}
			var st struct {
				Images []struct {
					Width, Height int
					Bytes         int64
				}
			}
			decodeJSON(t, mustGet(t, n.url+r.Status), &st)
			if len(st.Images) != 1 || st.Images[0].Width != tc.outW || st.Images[0].Height != tc.outH || st.Images[0].Bytes != done.Bytes {
				t.Fatalf("status %+v, completed %+v", st, done)
			}
			resp := mustGet(t, n.url+done.URL)
			defer resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tc.format {
				t.Fatalf("result: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			raw, _ := io.ReadAll(resp.Body)
			img, format, err := image.Decode(bytes.NewReader(raw))
			if err != nil || format != tc.resultDecoder || img.Bounds().Dx() != tc.outW || img.Bounds().Dy() != tc.outH || int64(len(raw)) != done.Bytes {
				t.Fatalf("result: %v %s %v, %d bytes", err, format, img.Bounds(), len(raw))
			}
		})
	}
}

// mustGet is http.Get failing the test on a transport error.
func mustGet(t *testing.T, url string) *http.Response {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
