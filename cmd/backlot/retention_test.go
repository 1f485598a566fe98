package main

import (
	"io/fs"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// TestRetention: under a steady stream of batches with a short retention,
// finished batches (status, events, files) are deleted, so the disk holds
// only the recent ones; once the stream stops, nothing is left.
func TestRetention(t *testing.T) {
	dir := t.TempDir()
	m := startNodeWith(t, dir, func(c *Config) { c.Retention = 300 * time.Millisecond }, func(m *Main) { m.retentionEvery = 50 * time.Millisecond })
	jpg := jpegBytes(t, 320, 240, 1)
	var ids []string
	maxDirs, maxBytes := 0, int64(0)
	for i := 0; i < 20; i++ {
		r := upload(t, m.url, filePart("a.jpg", jpg), filePart("b.jpg", jpg))
		checkSequence(t, r.BatchID, openSSE(t, t.Context(), m.url+r.Events, "").collect(t, 30*time.Second))
		ids = append(ids, r.BatchID)
		maxDirs = max(maxDirs, len(batchDirs(t, dir)))
		maxBytes = max(maxBytes, dirBytes(t, dir))
		if i >= 5 { // a batch finished well over the retention ago is gone
			old := ids[i-5]
			eventually(t, 10*time.Second, "an old batch to be deleted", func() bool {
				return status(t, m.url+"/api/images/"+old) == http.StatusNotFound
			})
		}
	}
	eventually(t, 10*time.Second, "every batch to be deleted", func() bool { return len(batchDirs(t, dir)) == 0 })
	for _, id := range ids {
		if s := status(t, m.url+"/api/images/"+id+"/events"); s != http.StatusNotFound {
			t.Fatalf("events of deleted batch %s: %d", id, s)
		}
	}
	t.Logf("20 batches: at most %d batch dirs and %d bytes on disk at once", maxDirs, maxBytes)
}

func dirBytes(t *testing.T, dir string) int64 {
	var n int64
	filepath.WalkDir(filepath.Join(dir, "batches"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
