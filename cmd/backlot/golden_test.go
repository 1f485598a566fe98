package main

import (
	"flag"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden transcripts in testdata/")

var (
	uuidRe  = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}`)
	bytesRe = regexp.MustCompile(`"bytes":[0-9]+`)
	errorRe = regexp.MustCompile(`"error":"[^"]+"`)
)

// normalize replaces random ids by their order of appearance, and output
// sizes and decoder messages (which depend on the build: libjpeg-turbo or
// pure Go) by placeholders.
func normalize(s string) string {
	seen := map[string]string{}
	s = uuidRe.ReplaceAllStringFunc(s, func(id string) string {
		if n, ok := seen[id]; ok {
			return n
		}
		n := "<id" + string(rune('0'+len(seen))) + ">"
		seen[id] = n
		return n
	})
	s = bytesRe.ReplaceAllString(s, `"bytes":<n>`)
	return errorRe.ReplaceAllString(s, `"error":"<message>"`)
}

// TestGoldenTranscript: the exact bytes of a finished batch's stream, as a
// late subscriber receives them (a replay is deterministic; a live stream
// interleaves two images by timing). The golden file is the wire format of
// API.md, ids normalised: go test -run Golden -update rewrites it.
func TestGoldenTranscript(t *testing.T) {
	n := startNode(t, t.TempDir(), func(c *Config) { c.Workers = 1; c.ClaimAhead = 0 }) // one image at a time: a fixed order
	cut := jpegBytes(t, 160, 120, 2)
	r := upload(t, n.url, filePart("cat.jpg", jpegBytes(t, 160, 120, 1)), filePart("cut.jpg", cut[:len(cut)/2]))
	openSSE(t, t.Context(), n.url+r.Events, "").collect(t, 30*time.Second)
	resp, err := http.Get(n.url + r.Events)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	got := normalize(string(raw))
	const path = "testdata/lifecycle.sse"
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("transcript differs from %s:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
	if !strings.HasPrefix(got, "retry: 2000\n\n") {
		t.Fatal("no retry first")
	}
}
