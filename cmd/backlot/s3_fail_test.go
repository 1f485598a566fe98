package main

import (
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/backlot/backlot/http/sse"
	"github.com/backlot/backlot/persistence/blob/s3blob/seaweedtest"
	"github.com/backlot/backlot/persistence/redis/redistest"
)

// pipedUpload is an upload whose body the test writes part by part, so
// that it can break something between two parts.
type pipedUpload struct {
	mw   *multipart.Writer
	pw   *io.PipeWriter
	resp chan *http.Response
	err  chan error
}

func startPipedUpload(t *testing.T, base string) *pipedUpload {
	t.Helper()
	pr, pw := io.Pipe()
	u := &pipedUpload{mw: multipart.NewWriter(pw), pw: pw, resp: make(chan *http.Response, 1), err: make(chan error, 1)}
	req, err := http.NewRequestWithContext(t.Context(), "POST", base+"/api/images", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", u.mw.FormDataContentType())
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			u.err <- err
			return
		}
		u.resp <- resp
	}()
	return u
}

// file writes one image part, then the head of an unknown part (which
// the server skips), so that the server sees the image part end and
// stores it now rather than when the next part comes. A server that
// already answered may have stopped reading: write errors are not the
// test's business.
func (u *pipedUpload) file(name string, data []byte) {
	if w, err := u.mw.CreateFormFile("images", name); err == nil {
		_, _ = w.Write(data)
	}
	_, _ = u.mw.CreateFormField("next")
}

// finish ends the body and returns the answer.
func (u *pipedUpload) finish(t *testing.T) *http.Response {
	t.Helper()
	_ = u.mw.Close()
	_ = u.pw.Close()
	select {
	case resp := <-u.resp:
		return resp
	case err := <-u.err:
		t.Fatalf("upload: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("no answer to the upload within 2 minutes")
	}
	return nil
}

// bucketKeys lists the object names under prefix in bucket.
func bucketKeys(t *testing.T, srv *seaweedtest.Server, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	for oi := range srv.Client(t).ListObjects(t.Context(), bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if oi.Err != nil {
			t.Fatalf("list %s/%s: %v", bucket, prefix, oi.Err)
		}
		keys = append(keys, oi.Key)
	}
	return keys
}

// want503 checks a 503 store_unavailable with Retry-After.
func want503(t *testing.T, resp *http.Response) {
	t.Helper()
	var e apiErr
	decodeJSON(t, resp, &e)
	if resp.StatusCode != http.StatusServiceUnavailable || e.Code != "store_unavailable" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("upload: %d %+v (Retry-After %q), want 503 store_unavailable with Retry-After", resp.StatusCode, e, resp.Header.Get("Retry-After"))
	}
}

// TestUploadS3CommitFails: the images' objects are in the bucket when the
// batch's commit fails (Redis stopped between the last PUT and the end of
// the body): 503 + Retry-After, and the objects are gone when it answers.
func TestUploadS3CommitFails(t *testing.T) {
	srv := seaweedtest.Start(t)
	srv.MakeBucket(t, "imgs")
	rs := redistest.Start(t)
	n := startNode(t, t.TempDir(), func(c *Config) {
		onRedis(rs)(c)
		s3Config(t, srv, "imgs", "node")(c)
	})
	u := startPipedUpload(t, n.url)
	u.file("a.jpg", jpegBytes(t, 320, 240, 1))
	u.file("b.jpg", jpegBytes(t, 320, 240, 2))
	eventually(t, 30*time.Second, "both uploads' objects in the bucket", func() bool {
		return len(bucketKeys(t, srv, "imgs", "node/batches/")) == 2
	})
	rs.Stop(t)
	want503(t, u.finish(t))
	if keys := bucketKeys(t, srv, "imgs", "node/"); len(keys) != 0 {
		t.Fatalf("a rejected upload left objects: %v", keys)
	}
	rs.Restart(t)
}

// TestUploadS3Killed: SeaweedFS is SIGKILLed between two images of an
// upload: 503 + Retry-After; once it is back (same port, same data), the
// object put before the kill is removed in the background and the batch
// was never recorded.
func TestUploadS3Killed(t *testing.T) {
	srv := seaweedtest.Start(t)
	srv.MakeBucket(t, "imgs")
	n := startNode(t, t.TempDir(), s3Config(t, srv, "imgs", "node"))
	u := startPipedUpload(t, n.url)
	u.file("a.jpg", jpegBytes(t, 320, 240, 1))
	var first []string
	eventually(t, 30*time.Second, "the first image's object in the bucket", func() bool {
		first = bucketKeys(t, srv, "imgs", "node/batches/")
		return len(first) == 1
	})
	srv.Kill(t)
	u.file("b.jpg", jpegBytes(t, 320, 240, 2))
	want503(t, u.finish(t))

	srv.Restart(t)
	t.Logf("after the restart, the bucket holds %v", bucketKeys(t, srv, "imgs", "node/"))
	eventually(t, 90*time.Second, "the rejected upload's object to be removed", func() bool {
		return len(bucketKeys(t, srv, "imgs", "node/")) == 0
	})
	batchID := first[0][len("node/batches/"):][:36]
	if code := status(t, n.url+"/api/images/"+batchID); code != http.StatusNotFound {
		t.Fatalf("status of the rejected batch %s: %d, want 404", batchID, code)
	}
	// and uploads work again, without a restart of the node
	r := upload(t, n.url, filePart("c.jpg", jpegBytes(t, 320, 240, 3)))
	if o := checkSequence(t, r.BatchID, openSSE(t, t.Context(), n.url+r.Events, "").collect(t, 60*time.Second)); o.completed != 1 {
		t.Fatalf("outcome %+v", o)
	}
}

// TestS3Outage: SeaweedFS is SIGKILLed while a batch of six is resized
// on a node allowed one attempt per image. /readyz and uploads answer 503
// (with Retry-After); the attempts that fail on the store are retried
// with backoff and not counted, so no image fails; when SeaweedFS is
// back on the same port and data, the batch completes and uploads work
// again, without a restart of the node.
func TestS3Outage(t *testing.T) {
	srv := seaweedtest.Start(t)
	srv.MakeBucket(t, "imgs")
	n := startNode(t, t.TempDir(), func(c *Config) {
		s3Config(t, srv, "imgs", "node")(c)
		c.Attempts = 1
		c.Workers = 1
	})
	const images = 6
	var parts []part
	for i := range images {
		parts = append(parts, filePart(fmt.Sprintf("o%d.jpg", i), jpegBytes(t, 640, 480, uint64(i))))
	}
	parts = append(parts, fieldPart("width", "256"), fieldPart("height", "256"), fieldPart("format", "png"))
	r := upload(t, n.url, parts...)
	s := openSSE(t, t.Context(), n.url+r.Events, "")
	var seen []sse.Event
	for ev := range s.events { // the work is under way
		seen = append(seen, ev)
		if ev.Name == "processing" {
			break
		}
	}
	srv.Kill(t)
	killed := time.Now()

	eventually(t, 20*time.Second, "readyz to fail", func() bool { return status(t, n.url+"/readyz") == http.StatusServiceUnavailable })
	ct, body := multipartBody(t, filePart("late.jpg", jpegBytes(t, 64, 64, 9)))
	want503(t, post(t, n.url+"/api/images", ct, body))
	// An attempt fails on the store and is tried again, not counted.
	for ev := range s.events {
		seen = append(seen, ev)
		if ev.Name == "retrying" && strings.Contains(ev.Data, "could not be reached") {
			break
		}
		if ev.Name == "failed" || ev.Name == "done" {
			t.Fatalf("%s during the outage: %s", ev.Name, ev.Data)
		}
	}

	t.Logf("outage seen by readyz, an upload and an attempt within %v", time.Since(killed).Round(time.Millisecond))
	srv.Restart(t)
	t.Logf("SeaweedFS back after %v", time.Since(killed).Round(time.Millisecond))
	eventually(t, 30*time.Second, "readyz to recover", func() bool { return status(t, n.url+"/readyz") == http.StatusOK })
	for ev := range s.events {
		seen = append(seen, ev)
	}
	if len(seen) == 0 || seen[len(seen)-1].Name != "done" {
		seen = append(seen, openSSE(t, t.Context(), n.url+r.Events, lastID(seen)).collect(t, 2*time.Minute)...)
	}
	if o := checkSequence(t, r.BatchID, seen); o.completed != images {
		t.Fatalf("outcome %+v, want every image completed", o)
	}
	t.Logf("batch done %v after the kill, %d events", time.Since(killed).Round(time.Millisecond), len(seen))
	for _, im := range r.Images {
		get(t, n.url+"/api/images/"+r.BatchID+"/"+im.ID, http.StatusOK)
	}
	r2 := upload(t, n.url, filePart("after.jpg", jpegBytes(t, 64, 64, 10)))
	if o := checkSequence(t, r2.BatchID, openSSE(t, t.Context(), n.url+r2.Events, "").collect(t, time.Minute)); o.completed != 1 {
		t.Fatalf("after the outage: %+v", o)
	}
}
