package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigPrecedence(t *testing.T) {
	env := map[string]string{
		"BACKLOT_LISTEN": "127.0.0.1:9000", "BACKLOT_WORKERS": "3",
		"BACKLOT_MAX_FILE_SIZE": "5MiB", "BACKLOT_TOKEN": "t", "BACKLOT_SSE_PING": "2s",
	}
	c := DefaultConfig()
	if err := c.Parse([]string{"--workers", "7", "--max-body", "2GiB"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9000" || c.Workers != 7 || c.MaxFileSize != 5<<20 || c.MaxBody != 2<<30 || c.Token != "t" || c.SSEPing != 2*time.Second {
		t.Fatalf("config %+v", c)
	}
	if d := DefaultConfig(); d.ClaimAhead != d.Workers || claimAhead(0) != -1 || claimAhead(3) != 3 {
		t.Fatalf("claim-ahead: default %d with %d workers; 0 maps to %d", d.ClaimAhead, d.Workers, claimAhead(0))
	}
	if d := DefaultConfig(); d.MaxFiles != 100 || d.MaxFileSize != 32<<20 || d.MaxPixels != 50_000_000 || d.Attempts != 3 || d.ResizeNice != 0 || d.Listen != "127.0.0.1:8080" || d.DataDir != "./data" {
		t.Fatalf("defaults %+v", d)
	}
}

// TestConfigS3Blobs: -blobs s3://BUCKET/PREFIX and its endpoint, taken
// apart; the file system is the default.
func TestConfigS3Blobs(t *testing.T) {
	c := DefaultConfig()
	if _, _, ok, err := c.S3Blobs(); ok || err != nil || c.Blobs != "" {
		t.Fatalf("default blobs %q: s3 %v, %v", c.Blobs, ok, err)
	}
	env := map[string]string{"BACKLOT_S3_PATH_STYLE": "true"}
	if err := c.Parse([]string{"--blobs", "s3://imgs/prod/backlot/", "--s3-endpoint", "http://127.0.0.1:8333", "--s3-region", "eu-west-1"},
		func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	bucket, prefix, ok, err := c.S3Blobs()
	host, secure, herr := c.s3Endpoint()
	if !ok || err != nil || bucket != "imgs" || prefix != "prod/backlot" || host != "127.0.0.1:8333" || secure || herr != nil ||
		!c.S3PathStyle || c.S3Region != "eu-west-1" {
		t.Fatalf("s3 blobs: %q %q %v %v; endpoint %q secure %v %v; config %+v", bucket, prefix, ok, err, host, secure, herr, c)
	}
	c.S3Endpoint = "s3.amazonaws.com"
	if host, secure, err := c.s3Endpoint(); host != "s3.amazonaws.com" || !secure || err != nil {
		t.Fatalf("bare endpoint: %q secure %v %v, want HTTPS", host, secure, err)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--workers", "0"}, nil, "-workers must be 1..1024"},
		{[]string{"--claim-ahead", "-1"}, nil, "-claim-ahead must be 0..1024"},
		{nil, map[string]string{"BACKLOT_CLAIM_AHEAD": "2000"}, "-claim-ahead must be 0..1024"},
		{[]string{"--resize-nice", "-1"}, nil, "-resize-nice must be 0..19"},
		{nil, map[string]string{"BACKLOT_RESIZE_NICE": "20"}, "-resize-nice must be 0..19"},
		{[]string{"--max-file-size", "lots"}, nil, "not a size"},
		{nil, map[string]string{"BACKLOT_ATTEMPTS": "x"}, "BACKLOT_ATTEMPTS"},
		{[]string{"--log-format", "xml"}, nil, "-log-format"},
		{[]string{"--log-level", "loud"}, nil, "-log-level"},
		{[]string{"extra"}, nil, "unexpected arguments"},
		{[]string{"--nope"}, nil, "flag provided but not defined"},
		{[]string{"--blobs", "gs://b"}, nil, "-blobs must be empty (files under -data) or s3://BUCKET/PREFIX"},
		{[]string{"--blobs", "s3:///p"}, nil, "-blobs must be empty"},
		{[]string{"--blobs", "s3://b/../x", "--s3-endpoint", "h:1"}, nil, "is not a valid key prefix"},
		{[]string{"--blobs", "s3://b/p"}, nil, "-blobs s3://b/p needs -s3-endpoint"},
		{[]string{"--s3-endpoint", "h:1"}, nil, "-s3-endpoint needs -blobs s3://"},
		{[]string{"--blobs", "s3://b", "--s3-endpoint", "ftp://h"}, nil, "-s3-endpoint must be host[:port]"},
		{[]string{"--s3-presign", "5m"}, nil, "-s3-presign needs -blobs s3://"},
		{[]string{"--blobs", "s3://b", "--s3-endpoint", "h:1", "--s3-presign", "200h"}, nil, "-s3-presign must be 0 (off) or from 1s to 168h"},
		{[]string{"--blobs", "s3://b", "--s3-endpoint", "h:1", "--s3-presign", "10ms"}, nil, "-s3-presign must be 0 (off) or from 1s to 168h"},
	}
	for _, tt := range tests {
		c := DefaultConfig()
		err := c.Parse(tt.args, func(k string) string { return tt.env[k] })
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v %v: %v, want %q", tt.args, tt.env, err, tt.want)
		}
	}
}

func TestRunUsage(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), nil, os.Getenv, &out); err == nil || !strings.Contains(out.String(), "serve") {
		t.Fatalf("no command: %v %q", err, out.String())
	}
	if err := run(context.Background(), []string{"frobnicate"}, os.Getenv, &out); err == nil {
		t.Fatal("unknown command accepted")
	}
}

// TestSweepOrphans: files of an upload cut before its 202 are removed at
// start; recorded batches stay.
func TestSweepOrphans(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, nil)
	r := upload(t, n.url, filePart("a.jpg", jpegBytes(t, 64, 64, 1)))
	checkSequence(t, r.BatchID, openSSE(t, t.Context(), n.url+r.Events, "").collect(t, 30*time.Second))
	n.stop()
	orphan := filepath.Join(dir, "batches", "7d3f8a52-1c2b-4e5f-8a9b-0c1d2e3f4a5b")
	if err := os.MkdirAll(orphan, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(orphan, "x.src"), []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	startNode(t, dir, nil)
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatalf("orphan still there: %v", err)
	}
	if got := batchDirs(t, dir); len(got) != 1 || got[0] != r.BatchID {
		t.Fatalf("batch dirs %v", got)
	}
}

// TestConfigRedis: a Sentinel URL is accepted and, unless told otherwise,
// every write waits for one replica (a plain URL waits for none); the
// URL's passwords never reach the logged configuration or an error.
func TestConfigRedis(t *testing.T) {
	sentinel := "redis-sentinel://:s3cret@10.0.0.1:26379,10.0.0.2:26379/0?master=backlot&sentinel_password=t0ps3cret"
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--redis", sentinel}, 1},
		{[]string{"--redis", sentinel, "--redis-wait-replicas", "0"}, 0},
		{[]string{"--redis", "redis://:s3cret@127.0.0.1:6379/0"}, 0},
		{[]string{"--redis", "redis://127.0.0.1:6379/0", "--redis-wait-replicas", "2"}, 2},
	} {
		c := DefaultConfig()
		if err := c.Parse(tc.args, func(string) string { return "" }); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if got := c.waitReplicas(); got != tc.want {
			t.Errorf("%v: waits for %d replicas, want %d", tc.args, got, tc.want)
		}
		var b strings.Builder
		slog.New(slog.NewTextHandler(&b, nil)).Info("config", "config", c)
		if strings.Contains(b.String(), "s3cret") || !strings.Contains(b.String(), "redis_wait_replicas=") {
			t.Errorf("%v: logged %s", tc.args, b.String())
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--redis", "http://:s3cret@h/0"}, "-redis must be"},
		{[]string{"--redis", "redis-sentinel://:s3cret@h:1/0"}, "master=NAME"},
		{[]string{"--redis", "redis://:s3cret@h:1/0?bogus=1"}, "not a valid redis:// URL"},
		{[]string{"--redis-wait-replicas", "-2"}, "-redis-wait-replicas"},
		{[]string{"--redis-wait-timeout", "0"}, "-redis-wait-timeout"},
	} {
		c := DefaultConfig()
		err := c.Parse(tc.args, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%v: %v, want an error about %q without the password", tc.args, err, tc.want)
		}
	}
}
