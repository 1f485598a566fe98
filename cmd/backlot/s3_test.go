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
