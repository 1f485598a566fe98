package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backlot/backlot/persistence/blob"
)

// TestLostResultIsRebuilt: results are not fsynced (they are derived data;
// see resize.writeResult), so a power cut can take one after its completed
// event is durable. A read finds that out from the recorded size and
// CRC-32C and serves the result rebuilt from the upload, whatever the disk
// kept of it: nothing, part of it, or other bytes of the same size. With
// the upload gone too, the read gets a clear JSON 500 that names no path.
func TestLostResultIsRebuilt(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, nil)
	r := upload(t, n.url, filePart("cat.jpg", jpegBytes(t, 640, 480, 7)), filePart("dog.png", pngBytes(t, 300, 500, 8)))
	o := checkSequence(t, r.BatchID, openSSE(t, t.Context(), n.url+r.Events, "").collect(t, 30*time.Second))
	if o.completed != 2 {
		t.Fatalf("outcome %+v", o)
	}
	im := r.Images[0]
	out := blobPath(dir, blob.OutputKey(r.BatchID, im.ID, "jpg"))
	url := n.url + "/api/images/" + r.BatchID + "/" + im.ID
	good := get(t, url, http.StatusOK)
	if onDisk, err := os.ReadFile(out); err != nil || !bytes.Equal(onDisk, good) {
		t.Fatalf("result on disk differs from the one served (%v)", err)
	}

	for _, c := range []struct {
		name   string
		damage func() error
	}{
		{"missing", func() error { return os.Remove(out) }},
		{"cut short", func() error { return os.WriteFile(out, good[:len(good)/3], 0o644) }},
		{"zeroed", func() error { return os.WriteFile(out, make([]byte, len(good)), 0o644) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.damage(); err != nil {
				t.Fatal(err)
			}
			if got := get(t, url, http.StatusOK); !bytes.Equal(got, good) {
				t.Fatalf("served %d bytes, not the result (%d bytes)", len(got), len(good))
			}
			if onDisk, err := os.ReadFile(out); err != nil || !bytes.Equal(onDisk, good) {
				t.Fatalf("the rebuilt result is not on disk (%v)", err)
			}
		})
	}

	// Many reads of a lost result at once: each gets it, one rebuild runs
	// for all of them (or a few, if some read after another's rebuild
	// ended: never more than the reads that found it lost).
	if err := os.Remove(out); err != nil {
		t.Fatal(err)
	}
	const readers = 8
	bodies := make(chan []byte, readers)
	for range readers {
		go func() {
			resp, err := http.Get(url)
			if err != nil {
				bodies <- nil
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				b = nil
			}
			bodies <- b
		}()
	}
	for range readers {
		if got := <-bodies; !bytes.Equal(got, good) {
			t.Fatalf("a concurrent read got %d bytes, not the result", len(got))
		}
	}
	mfs := scrape(t, n.url)
	if v := value(t, mfs, "backlot_results_rebuilt_total", map[string]string{"outcome": "rebuilt"}); v < 4 || v > 3+readers {
		t.Fatalf("backlot_results_rebuilt_total{outcome=rebuilt} = %v after 3 single losses and %d concurrent reads of one", v, readers)
	}

	// The other image is untouched and served as it was.
	other := r.Images[1]
	get(t, n.url+"/api/images/"+r.BatchID+"/"+other.ID, http.StatusOK)

	// With its upload gone as well, the result cannot come back.
	if err := os.Remove(blobPath(dir, blob.SourceKey(r.BatchID, im.ID))); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(out); err != nil {
		t.Fatal(err)
	}
	var e struct{ Error, Code string }
	if err := json.Unmarshal(get(t, url, http.StatusInternalServerError), &e); err != nil {
		t.Fatal(err)
	}
	if e.Code != "result_lost" || e.Error == "" || strings.Contains(e.Error, dir) || strings.Contains(e.Error, filepath.Base(out)) {
		t.Fatalf("error %+v", e)
	}
	if v := value(t, scrape(t, n.url), "backlot_results_rebuilt_total", map[string]string{"outcome": "lost"}); v != 1 {
		t.Fatalf("backlot_results_rebuilt_total{outcome=lost} = %v, want 1", v)
	}
}

// TestResizeNice: --resize-nice reaches the threads that resize (Linux):
// after a batch, the process has threads of that nice value, and the
// rest (this test's among them) keep the default.
func TestResizeNice(t *testing.T) {
	if _, err := os.Stat("/proc/self/task"); err != nil {
		t.Skip("needs Linux's /proc")
	}
	// Linux's raw getpriority returns 20 - nice.
	if p, err := syscall.Getpriority(syscall.PRIO_PROCESS, 0); err == nil && 20-p != 0 {
		t.Skipf("this process runs at nice %d; the test compares against 0", 20-p)
	}
	n := startNode(t, t.TempDir(), func(c *Config) { c.ResizeNice = 9 })
	r := upload(t, n.url, filePart("a.jpg", jpegBytes(t, 320, 240, 3)))
	if o := checkSequence(t, r.BatchID, openSSE(t, t.Context(), n.url+r.Events, "").collect(t, 30*time.Second)); o.completed != 1 {
		t.Fatalf("outcome %+v", o)
	}
	nices := map[int]int{}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		raw, err := os.ReadFile(filepath.Join("/proc/self/task", task.Name(), "stat"))
		if err != nil {
			continue // the thread has exited
		}
		// Fields after the ")" that ends the command name: state is the
		// 3rd field of stat, nice the 19th.
		f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
		if len(f) < 17 {
			t.Fatalf("stat %q", raw)
		}
		var nice int
		if _, err := fmt.Sscan(f[16], &nice); err != nil {
			t.Fatal(err)
		}
		nices[nice]++
	}
	if nices[9] == 0 || nices[0] == 0 {
		t.Fatalf("threads by nice value %v: want some at 9 (resizing) and the rest at 0", nices)
	}
}

// TestResultETag: a result carries a strong ETag (its recorded CRC-32C and
// length) with Cache-Control private, immutable (API.md 1.1), and a client
// that sends it back in If-None-Match, weak or strong, alone or in a list,
// gets 304 with no body; any other tag gets the bytes again.
func TestResultETag(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	r := upload(t, n.url, filePart("a.jpg", jpegBytes(t, 120, 90, 1)))
	checkSequence(t, r.BatchID, openSSE(t, t.Context(), n.url+r.Events, "").collect(t, 30*time.Second))
	url := n.url + "/api/images/" + r.BatchID + "/" + r.Images[0].ID
	fetch := func(inm string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), "GET", url, nil)
		if inm != "" {
			req.Header.Set("If-None-Match", inm)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}
	resp, body := fetch("")
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || len(body) == 0 || !regexp.MustCompile(`^"[0-9a-f]{8}-[0-9]+"$`).MatchString(etag) {
		t.Fatalf("GET: %d, %d bytes, ETag %q", resp.StatusCode, len(body), etag)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "private") || !strings.Contains(cc, "immutable") {
		t.Errorf("Cache-Control %q", cc)
	}
	if want := fmt.Sprintf("-%d\"", len(body)); !strings.HasSuffix(etag, want) {
		t.Errorf("ETag %q does not end with the body's length %d", etag, len(body))
	}
	for _, inm := range []string{etag, "W/" + etag, `"nope", ` + etag, "*"} {
		if resp, body := fetch(inm); resp.StatusCode != http.StatusNotModified || len(body) != 0 || resp.Header.Get("ETag") != etag {
			t.Errorf("If-None-Match %s: %d with %d bytes, ETag %q; want 304, empty, the same tag", inm, resp.StatusCode, len(body), resp.Header.Get("ETag"))
		}
	}
	if resp, again := fetch(`"00000000-1"`); resp.StatusCode != 200 || !bytes.Equal(again, body) {
		t.Errorf("another tag: %d with %d bytes; want 200 and the result", resp.StatusCode, len(again))
	}
}
