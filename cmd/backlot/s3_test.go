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
// client follows to SeaweedFS for the same bytes, as image/jpeg, and
// that SeaweedFS refuses once it has expired.
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
	eventually(t, ttl+20*time.Second, "the presigned URL to expire", func() bool {
		resp, err := http.Get(loc)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusForbidden
	})
}
