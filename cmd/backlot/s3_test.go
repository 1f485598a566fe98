package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/backlot/backlot/persistence/blob"
	"github.com/backlot/backlot/persistence/blob/s3blob/seaweedtest"
	"github.com/backlot/backlot/persistence/redis/redistest"
	"github.com/backlot/backlot/persistence/testkit"
)

// s3Config points a node's blobs at bucket/prefix on srv, with the
// credentials in the environment, as an operator would.
func s3Config(t *testing.T, srv *seaweedtest.Server, bucket, prefix string) func(*Config) {
	t.Setenv("AWS_ACCESS_KEY_ID", seaweedtest.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", seaweedtest.SecretKey)
	t.Setenv("AWS_REGION", seaweedtest.Region)
	return func(c *Config) {
		c.Blobs = "s3://" + bucket + "/" + prefix
		c.S3Endpoint = "http://" + srv.Endpoint
		c.S3PathStyle = true
	}
}

// TestServeOnS3: with --blobs s3://, uploads and results live in the
// bucket under the prefix, none under the data directory, and results
// are served from there.
func TestServeOnS3(t *testing.T) {
	srv := seaweedtest.Start(t)
	srv.MakeBucket(t, "imgs")
	dir := t.TempDir()
	n := startNode(t, dir, s3Config(t, srv, "imgs", "node"))
	r := upload(t, n.url, filePart("cat.jpg", jpegBytes(t, 640, 480, 7)), filePart("dog.png", pngBytes(t, 300, 500, 8)))
	if o := checkSequence(t, r.BatchID, openSSE(t, t.Context(), n.url+r.Events, "").collect(t, 30*time.Second)); o.completed != 2 {
		t.Fatalf("outcome %+v", o)
	}
	if dirs := batchDirs(t, dir); len(dirs) != 0 {
		t.Fatalf("batch directories under the data directory: %v", dirs)
	}
	c := srv.Client(t)
	for _, im := range r.Images {
		served := get(t, n.url+"/api/images/"+r.BatchID+"/"+im.ID, http.StatusOK)
		var stored []byte
		for oi := range c.ListObjects(t.Context(), "imgs", minio.ListObjectsOptions{Prefix: "node/" + blob.BatchPrefix(r.BatchID) + im.ID + ".out.", Recursive: true}) {
			if oi.Err != nil {
				t.Fatal(oi.Err)
			}
			o, err := c.GetObject(t.Context(), "imgs", oi.Key, minio.GetObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			stored, err = io.ReadAll(o)
			o.Close()
			if err != nil {
				t.Fatal(err)
			}
		}
		if len(served) == 0 || !bytes.Equal(served, stored) {
			t.Fatalf("image %s: served %d bytes, the bucket holds %d", im.ID, len(served), len(stored))
		}
		if _, err := c.StatObject(t.Context(), "imgs", "node/"+blob.SourceKey(r.BatchID, im.ID), minio.StatObjectOptions{}); err != nil {
			t.Fatalf("source of %s not in the bucket: %v", im.ID, err)
		}
	}
}

// TestServeS3Misconfigured: a missing bucket, wrong credentials and an
// unreachable endpoint fail serve at start, with one sentence naming the
// problem.
func TestServeS3Misconfigured(t *testing.T) {
	srv := seaweedtest.Start(t)
	srv.MakeBucket(t, "imgs")
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"missing bucket", s3Config(t, srv, "nope", "p"), `bucket "nope" does not exist at ` + srv.Endpoint},
		{"wrong credentials", func(c *Config) {
			s3Config(t, srv, "imgs", "p")(c)
			t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
		}, srv.Endpoint + ` refused the credentials for bucket "imgs"`},
		{"unreachable endpoint", func(c *Config) {
			s3Config(t, srv, "imgs", "p")(c)
			c.S3Endpoint = "http://" + testkit.FreeAddr(t)
		}, "cannot reach the object store at 127.0.0.1:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMain(io.Discard)
			m.Config.Listen = "127.0.0.1:0"
			m.Config.DataDir = t.TempDir()
			tc.mutate(&m.Config)
			if err := m.Config.Validate(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := m.Open(ctx)
			m.Close()
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Count(err.Error(), "\n") != 0 {
				t.Fatalf("Open = %v, want one line containing %q", err, tc.want)
			}
		})
	}
}

// TestResultsFromS3: by default a result is proxied from the bucket with
// its ETag and Cache-Control: private, immutable (304 on If-None-Match);
// with --s3-presign it is a 307 to a presigned GET that a real HTTP
// client follows to SeaweedFS for the same bytes, as image/jpeg, with the
// same Cache-Control (response-cache-control) and an ETag, and that
// SeaweedFS refuses once it has expired.
func TestResultsFromS3(t *testing.T) {
	srv := seaweedtest.Start(t)
	srv.MakeBucket(t, "imgs")
	rs := redistest.Start(t) // two nodes, one configured each way, on one Redis
	on := func(id string) func(*Config) {
		return func(c *Config) {
			s3Config(t, srv, "imgs", "shared")(c)
			c.Redis, c.RedisPrefix, c.NodeID = rs.URL, "shared", id
		}
	}
	proxy := startNode(t, t.TempDir(), on("proxy"))
	const ttl = 3 * time.Second
	signer := startNode(t, t.TempDir(), func(c *Config) {
		on("signer")(c)
		c.S3Presign = ttl
	})
	r := upload(t, proxy.url, filePart("cat.jpg", jpegBytes(t, 640, 480, 7)))
	if o := checkSequence(t, r.BatchID, openSSE(t, t.Context(), proxy.url+r.Events, "").collect(t, 30*time.Second)); o.completed != 1 {
		t.Fatalf("outcome %+v", o)
	}
	path := "/api/images/" + r.BatchID + "/" + r.Images[0].ID

	resp, err := http.Get(proxy.url + path)
	if err != nil {
		t.Fatal(err)
	}
	proxied, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != http.StatusOK || etag == "" || !strings.Contains(resp.Header.Get("Cache-Control"), "private") ||
		!strings.Contains(resp.Header.Get("Cache-Control"), "immutable") || resp.Header.Get("Content-Type") != "image/jpeg" || len(proxied) == 0 {
		t.Fatalf("proxied result: %d %v (%d bytes)", resp.StatusCode, resp.Header, len(proxied))
	}
	req, _ := http.NewRequest("GET", proxy.url+path, nil)
	req.Header.Set("If-None-Match", etag)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noFollow.Get(signer.url + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusTemporaryRedirect || !strings.HasPrefix(loc, "http://"+srv.Endpoint+"/imgs/shared/batches/") ||
		!strings.Contains(loc, "X-Amz-Signature=") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("presigned result: %d Location %q Cache-Control %q", resp.StatusCode, loc, resp.Header.Get("Cache-Control"))
	}
	resp, err = http.Get(signer.url + path) // followed, as browsers and curl -L do
	if err != nil {
		t.Fatal(err)
	}
	followed, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(followed, proxied) || resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("following the redirect: %d %s, %d bytes (proxied %d)", resp.StatusCode, resp.Header.Get("Content-Type"), len(followed), len(proxied))
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") || resp.Header.Get("ETag") == "" {
		t.Fatalf("the object store answers the presigned GET with Cache-Control %q, ETag %q; want immutable and an ETag", cc, resp.Header.Get("ETag"))
	}
	// A named variant, from the bucket too: proxied, and redirected.
	rv := upload(t, proxy.url, filePart("dog.jpg", jpegBytes(t, 640, 480, 8)),
		fieldPart("variants", `[{"name":"thumb","width":64,"height":64,"format":"png"},{"name":"card","width":320,"height":200}]`))
	if o := checkSequence(t, rv.BatchID, openSSE(t, t.Context(), proxy.url+rv.Events, "").collect(t, 30*time.Second)); o.completed != 1 {
		t.Fatalf("variants outcome %+v", o)
	}
	thumb := "/api/images/" + rv.BatchID + "/" + rv.Images[0].ID + "/thumb"
	resp, err = http.Get(proxy.url + thumb)
	if err != nil {
		t.Fatal(err)
	}
	pthumb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" || len(pthumb) == 0 {
		t.Fatalf("proxied variant: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp, err = http.Get(signer.url + thumb)
	if err != nil {
		t.Fatal(err)
	}
	sthumb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" || !bytes.Equal(sthumb, pthumb) ||
		resp.Request.URL.Host != srv.Endpoint {
		t.Fatalf("redirected variant: %d %s from %s, %d bytes (proxied %d)", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Request.URL.Host, len(sthumb), len(pthumb))
	}

	eventually(t, ttl+20*time.Second, "the presigned URL to expire", func() bool {
		resp, err := http.Get(loc)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusForbidden
	})
}

// TestRetentionAndSweepOnS3: retention deletes a finished batch's
// objects from the bucket with the batch; the orphan sweep, running while
// the node runs, removes objects of a batch nobody recorded once they are
// older than the grace, and never those of a recorded batch, however old.
func TestRetentionAndSweepOnS3(t *testing.T) {
	srv := seaweedtest.Start(t)
	srv.MakeBucket(t, "imgs")
	c := srv.Client(t)

	// Retention: gone from the store and the bucket after it.
	ret := startNodeWith(t, t.TempDir(), func(c *Config) {
		s3Config(t, srv, "imgs", "ret")(c)
		c.Retention = time.Second
	}, func(m *Main) { m.retentionEvery = 50 * time.Millisecond })
	r := upload(t, ret.url, filePart("a.jpg", jpegBytes(t, 320, 240, 1)))
	checkSequence(t, r.BatchID, openSSE(t, t.Context(), ret.url+r.Events, "").collect(t, 30*time.Second))
	if keys := bucketKeys(t, srv, "imgs", "ret/"+blob.BatchPrefix(r.BatchID)); len(keys) != 2 {
		t.Fatalf("objects of a finished batch: %v, want its source and result", keys)
	}
	eventually(t, 30*time.Second, "retention to delete the batch and its objects", func() bool {
		return status(t, ret.url+"/api/images/"+r.BatchID) == http.StatusNotFound &&
			len(bucketKeys(t, srv, "imgs", "ret/")) == 0
	})

	// The sweep: a recorded batch stays, an orphan goes after the grace.
	const grace = 3 * time.Second
	sw := startNodeWith(t, t.TempDir(), s3Config(t, srv, "imgs", "sw"), func(m *Main) {
		m.orphanGrace = grace
		m.sweepEvery = 50 * time.Millisecond
	})
	kept := upload(t, sw.url, filePart("b.jpg", jpegBytes(t, 320, 240, 2)))
	checkSequence(t, kept.BatchID, openSSE(t, t.Context(), sw.url+kept.Events, "").collect(t, 30*time.Second))
	orphan := "sw/" + blob.SourceKey("0badc0de-0000-4000-8000-000000000000", "0badc0de-0000-4000-8000-000000000001")
	put := time.Now()
	if _, err := c.PutObject(t.Context(), "imgs", orphan, bytes.NewReader([]byte("cut before its 202")), 18, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, grace+30*time.Second, "the sweep to remove the orphan", func() bool {
		_, err := c.StatObject(t.Context(), "imgs", orphan, minio.StatObjectOptions{})
		return minio.ToErrorResponse(err).StatusCode == http.StatusNotFound
	})
	// S3 keeps modification times to the second: the sweep may see the
	// orphan up to a second older than it is.
	if took := time.Since(put); took < grace-time.Second {
		t.Fatalf("the orphan was removed %v after it was put, before the grace of %v", took, grace)
	}
	if keys := bucketKeys(t, srv, "imgs", "sw/"+blob.BatchPrefix(kept.BatchID)); len(keys) != 2 {
		t.Fatalf("the sweep touched a recorded batch older than the grace: %v", keys)
	}
	get(t, sw.url+"/api/images/"+kept.BatchID+"/"+kept.Images[0].ID, http.StatusOK)
}
