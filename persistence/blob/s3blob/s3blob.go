package s3blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/backlot/backlot/persistence/blob"
)

var (
	_ blob.Store        = (*Store)(nil)
	_ blob.Checker      = (*Store)(nil)
	_ blob.Presigner    = (*Store)(nil)
	_ blob.WholeCommits = (*Store)(nil)
)

// Options configures a Store.
type Options struct {
	// Endpoint is the S3 API's host[:port], without a scheme
	// ("s3.eu-west-1.amazonaws.com", "127.0.0.1:8333").
	Endpoint string
	// Bucket holds the objects; it must exist (New checks).
	Bucket string
	// Prefix is put before every key, so that several deployments can
	// share a bucket: "prod" stores "batches/b/i.src" as
	// "prod/batches/b/i.src". A trailing '/' is added when missing.
	Prefix string
	// Region signs the requests; "" takes AWS_REGION, then us-east-1.
	Region string
	// PathStyle addresses the bucket in the path (http://host/bucket/key),
	// as SeaweedFS, MinIO and Ceph want, rather than as a virtual host
	// (http://bucket.host/key), which AWS prefers.
	PathStyle bool
	// Secure speaks HTTPS.
	Secure bool
	// AccessKey and SecretKey sign the requests; "" takes
	// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN).
	AccessKey, SecretKey string
	// SpoolDir is where Writers spool what they are given until Commit
	// PUTs it; "" is os.TempDir().
	SpoolDir string
	// MaxRetries is how many times a request that failed on the network
	// or with a 5xx is tried in all; 0 is 3.
	MaxRetries int
	// IdleTimeout fails a GET or PUT with blob.ErrUnavailable once no
	// byte of it moved for this long: a server that hangs rather than
	// refuses (stopped, a stuck disk). 0 is 30 s.
	IdleTimeout time.Duration
	// Transport replaces the HTTP transport (tests).
	Transport http.RoundTripper
}

// Store is a blob.Store in one bucket of an S3-compatible object store.
type Store struct {
	c        *minio.Client
	bucket   string
	prefix   string // "" or ending in '/'
	spoolDir string
	endpoint string
	idle     time.Duration
}

// New connects to the object store and checks that the bucket is there
// and that the credentials may list it. Its errors are one sentence that
// names the problem: an unreachable endpoint (wrapping
// blob.ErrUnavailable), refused credentials, a missing bucket.
func New(ctx context.Context, opts Options) (*Store, error) {
	if opts.Endpoint == "" {
		return nil, errors.New("s3blob: no endpoint")
	}
	if strings.Contains(opts.Endpoint, "://") {
		return nil, fmt.Errorf("s3blob: endpoint %q: give host[:port], without a scheme (Secure chooses https)", opts.Endpoint)
	}
	if opts.Bucket == "" {
		return nil, errors.New("s3blob: no bucket")
	}
	prefix := strings.Trim(opts.Prefix, "/")
	if prefix != "" {
		if !blob.ValidKey(prefix) {
			return nil, fmt.Errorf("s3blob: prefix %q is not a valid key prefix", opts.Prefix)
		}
		prefix += "/"
	}
	region := opts.Region
	if region == "" {
		region = os.Getenv("AWS_REGION")
	}
	if region == "" {
		region = "us-east-1"
	}
	creds := credentials.NewEnvAWS()
	if opts.AccessKey != "" || opts.SecretKey != "" {
		creds = credentials.NewStaticV4(opts.AccessKey, opts.SecretKey, "")
	}
	lookup := minio.BucketLookupAuto
	if opts.PathStyle {
		lookup = minio.BucketLookupPath
	}
	retries := opts.MaxRetries
	if retries <= 0 {
		retries = 3
	}
	c, err := minio.New(opts.Endpoint, &minio.Options{
		Creds:        creds,
		Secure:       opts.Secure,
		Region:       region,
		BucketLookup: lookup,
		Transport:    opts.Transport,
		MaxRetries:   retries,
	})
	if err != nil {
		return nil, fmt.Errorf("s3blob: endpoint %s: %w", opts.Endpoint, err)
	}
	spool := opts.SpoolDir
	if spool == "" {
		spool = os.TempDir()
	}
	if err := os.MkdirAll(spool, 0o755); err != nil {
		return nil, fmt.Errorf("s3blob: spool directory: %w", err)
	}
	idle := opts.IdleTimeout
	if idle <= 0 {
		idle = 30 * time.Second
	}
	s := &Store{c: c, bucket: opts.Bucket, prefix: prefix, spoolDir: spool, endpoint: opts.Endpoint, idle: idle}
	if err := s.Check(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Check asks the object store for one key of the bucket: what New does
// to find a wrong endpoint, bucket or credentials, and what a readiness
// probe may do later. Its error is one sentence naming the problem.
func (s *Store) Check(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for obj := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix, MaxKeys: 1}) {
		if obj.Err == nil {
			break
		}
		err := obj.Err
		switch code := minio.ToErrorResponse(err).Code; {
		case code == "NoSuchBucket":
			return fmt.Errorf("s3blob: bucket %q does not exist at %s", s.bucket, s.endpoint)
		case code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || code == "AccessDenied" ||
			code == "InvalidToken" || code == "ExpiredToken":
			return fmt.Errorf("s3blob: %s refused the credentials for bucket %q (%s): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", s.endpoint, s.bucket, code)
		case unavailable(err):
			return fmt.Errorf("s3blob: cannot reach the object store at %s: %w: %w", s.endpoint, blob.ErrUnavailable, err)
		}
		return fmt.Errorf("s3blob: listing bucket %q at %s: %w", s.bucket, s.endpoint, err)
	}
	return nil
}

// name is the object name of a key.
func (s *Store) name(key string) string { return s.prefix + key }

// check refuses a done ctx and an invalid key, in that order.
func check(ctx context.Context, op, key string, valid func(string) bool) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", op, key, err)
	}
	if !valid(key) {
		return fmt.Errorf("%s %q: %w", op, key, blob.ErrInvalidKey)
	}
	return nil
}

// notFound reports whether the store said there is no such object.
func notFound(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.Code == "NoSuchKey" || r.Code == "NotFound" || r.StatusCode == http.StatusNotFound && r.Code != "NoSuchBucket"
}

// preconditionFailed reports a 412: If-None-Match or If-Match refused.
func preconditionFailed(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.Code == "PreconditionFailed" || r.StatusCode == http.StatusPreconditionFailed
}

// unavailable reports whether err says the store cannot be reached or
// cannot serve right now: the network, a 5xx, throttling.
func unavailable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	r := minio.ToErrorResponse(err)
	switch {
	case r.StatusCode >= 500, r.StatusCode == http.StatusTooManyRequests,
		r.Code == "SlowDown", r.Code == "ServiceUnavailable", r.Code == "InternalError", r.Code == "RequestTimeout":
		return true
	}
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.EPIPE)
}

// wrap says what failed, turning the store's signals into blob's
// sentinels (keeping the original in the chain).
func wrap(op, key string, err error) error {
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s %s: %w", op, key, err)
	case notFound(err):
		return fmt.Errorf("%s %s: %w: %w", op, key, blob.ErrNotFound, err)
	case unavailable(err):
		return fmt.Errorf("%s %s: %w: %w", op, key, blob.ErrUnavailable, err)
	}
	return fmt.Errorf("%s %s: %w", op, key, err)
}

func (s *Store) info(key string, oi minio.ObjectInfo) blob.Info {
	return blob.Info{Key: key, Size: oi.Size, ModTime: oi.LastModified, ETag: strings.Trim(oi.ETag, `"`)}
}

// Stat is a HEAD of the object.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	if err := check(ctx, "stat", key, blob.ValidKey); err != nil {
		return blob.Info{}, err
	}
	oi, err := s.c.StatObject(ctx, s.bucket, s.name(key), minio.StatObjectOptions{})
	if err != nil {
		return blob.Info{}, wrap("stat", key, err)
	}
	return s.info(key, oi), nil
}

// Sync does nothing but check its arguments: an S3 PUT is durable once
// it is answered.
func (s *Store) Sync(ctx context.Context, key string) error {
	return check(ctx, "sync", key, blob.ValidKey)
}

// Delete removes the object; S3 answers a missing one with success too.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := check(ctx, "delete", key, blob.ValidKey); err != nil {
		return err
	}
	if err := s.c.RemoveObject(ctx, s.bucket, s.name(key), minio.RemoveObjectOptions{}); err != nil && !notFound(err) {
		return wrap("delete", key, err)
	}
	return nil
}

// DeletePrefix lists the objects under prefix and removes them, in
// batches of up to 1000 (DeleteObjects).
func (s *Store) DeletePrefix(ctx context.Context, prefix string) error {
	if err := check(ctx, "delete prefix", prefix, blob.ValidDeletePrefix); err != nil {
		return err
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	names := make(chan minio.ObjectInfo)
	var listErr error
	go func() {
		defer close(names)
		for oi := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.name(prefix), Recursive: true}) {
			if oi.Err != nil {
				listErr = oi.Err
				return
			}
			select {
			case names <- minio.ObjectInfo{Key: oi.Key}:
			case <-ctx.Done():
				return
			}
		}
	}()
	var first error
	for re := range s.c.RemoveObjectsWithResult(ctx, s.bucket, names, minio.RemoveObjectsOptions{}) {
		if re.Err != nil && !notFound(re.Err) && first == nil {
			first = re.Err
		}
	}
	cancel()
	if first == nil {
		first = listErr
	}
	if first == nil {
		first = parent.Err()
	}
	if first != nil {
		return wrap("delete prefix", prefix, first)
	}
	return nil
}

// List lists the objects under prefix, in key order as S3 lists them.
func (s *Store) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	if err := check(ctx, "list", prefix, blob.ValidPrefix); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for oi := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.name(prefix), Recursive: true}) {
		if oi.Err != nil {
			return wrap("list", prefix, oi.Err)
		}
		key, ok := strings.CutPrefix(oi.Key, s.prefix)
		if !ok || !blob.ValidKey(key) {
			continue // a directory marker, or a name no Writer of ours made
		}
		if err := fn(s.info(key, oi)); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	return nil
}

// CommitsWhole is true: a PUT is atomic and durable once answered.
func (s *Store) CommitsWhole() bool { return true }

// PresignGet signs a GET of the object under key valid for ttl (S3 takes
// 1 s to 7 days), computed locally (the region is known: no request),
// with response-cache-control when cacheControl is given. The URL names
// the endpoint as this node reaches it.
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration, cacheControl string) (*url.URL, error) {
	if err := check(ctx, "presign", key, blob.ValidKey); err != nil {
		return nil, err
	}
	var params url.Values
	if cacheControl != "" {
		params = url.Values{"response-cache-control": {cacheControl}}
	}
	u, err := s.c.PresignedGetObject(ctx, s.bucket, s.name(key), ttl, params)
	if err != nil {
		return nil, fmt.Errorf("presign %s: %w", key, err)
	}
	return u, nil
}
