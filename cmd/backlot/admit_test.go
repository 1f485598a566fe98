package main

import (
	"bytes"
	"image/png"
	"testing"
	"time"
)

// TestAdmitByBytes: an image whose decode would need more memory than the
// node ever gives one attempt (twice --max-decode-memory) is refused at
// upload, 413 image_too_large naming the file, judged in bytes from its
// header (a 16-bit PNG holds 8 bytes a pixel; its pixel count is far
// under --max-pixels), with nothing of the batch left; an image that fits
// goes through; and /metrics shows the budget, its ceiling and what is
// held.
func TestAdmitByBytes(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, func(c *Config) { c.MaxDecodeMemory = 4 << 20 })
	var wide bytes.Buffer // 1600x1200 at 8 bytes a pixel: 15 MB decoded, over the 8 MiB ceiling
	if err := png.Encode(&wide, gradient16(1600, 1200)); err != nil {
		t.Fatal(err)
	}
	ok, deep := filePart("ok.jpg", jpegBytes(t, 64, 48, 1)), filePart("deep.png", wide.Bytes())
	// Judged as each file arrives from its kept first bytes (the options
	// came first, or there are none), or read back from the store (an
	// option came after the file): the same answer.
	for _, parts := range [][]part{
		{ok, deep},
		{fieldPart("width", "50"), ok, deep},
		{ok, deep, fieldPart("width", "50")},
	} {
		ct, body := multipartBody(t, parts...)
		resp := post(t, n.url+"/api/images", ct, body)
		var e apiErr
		decodeJSON(t, resp, &e)
		if resp.StatusCode != 413 || e.Code != "image_too_large" || e.File != "deep.png" || e.Error == "" {
			t.Fatalf("got %d %+v, want 413 image_too_large for deep.png", resp.StatusCode, e)
		}
		t.Logf("refused: %s", e.Error)
		requireNoBatch(t, n, dir)
	}

	r := upload(t, n.url, filePart("ok.jpg", jpegBytes(t, 64, 48, 1)))
	checkSequence(t, r.BatchID, openSSE(t, t.Context(), n.url+r.Events, "").collect(t, 30*time.Second))

	mfs := scrape(t, n.url)
	for state, want := range map[string]float64{"budget": 4 << 20, "ceiling": 8 << 20, "held": 0} {
		if got := value(t, mfs, "backlot_decode_memory_bytes", map[string]string{"state": state}); got != want {
			t.Errorf("backlot_decode_memory_bytes{state=%q} = %v, want %v", state, got, want)
		}
	}
}
