// Package seaweedtest runs a real S3 server for a test: SeaweedFS's
// `weed mini` (master, volume, filer and S3 gateway in one process), on
// 127.0.0.1 only, on free ports, with its data and sockets in a directory
// of the test's, and stopped by its PID when the test ends. Outage tests
// stop, kill and restart it.
//
// The weed binary is built once per version by scripts/weed.sh (`make deps`
// runs it; ~7 minutes and ~2.5 GB of module cache the first time) and cached
// under the user's cache dir: $XDG_CACHE_HOME or ~/.cache, then
// backlot/seaweedfs/<Version>/weed. BACKLOT_WEED names another binary. A
// test that needs it fails without it, never skips: `make test` builds
// it first.
package seaweedtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Version is the SeaweedFS module version scripts/weed.sh builds.
const Version = "v0.0.0-20261109003541-7506e5f91cd6"

// Credentials of the one identity the server knows (its -s3.config).
const (
	AccessKey = "backlot-test"
	SecretKey = "backlot-test-secret-key"
	Region    = "us-east-1"
)

// Bounds of the waits below: deadlock guards, not speed assertions.
const (
	readyWait = 60 * time.Second // start until /healthz answers (~4 s)
	exitWait  = 30 * time.Second // SIGTERM until the process has exited
	pollEvery = 20 * time.Millisecond
	bindTries = 5 // fresh ports tried when one was taken meanwhile
)

// Server is a `weed mini` process started for a test. Its methods are for
// the test's own goroutine.
type Server struct {
	Endpoint string // 127.0.0.1:port of the S3 API
	Dir      string // data (-dir), sockets, the identities file and weed.log

	bin   string
	ports map[string]int // flag name -> port, kept across restarts
	cmd   *exec.Cmd
	exit  chan struct{} // closed once cmd has been waited for
}

// Binary is the path of the weed binary, or "" when it is not built.
func Binary() string {
	if p := os.Getenv("BACKLOT_WEED"); p != "" {
		return p
	}
	dir := os.Getenv("XDG_CACHE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".cache")
	}
	p := filepath.Join(dir, "backlot", "seaweedfs", Version, "weed")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

func lookBinary(t testing.TB) string {
	t.Helper()
	p := Binary()
	if p == "" {
		// Never a skip: a suite that passes without its object store
		// has tested nothing of it.
		t.Fatalf("SeaweedFS's weed binary is not built: run scripts/weed.sh (make deps builds it, ~7 minutes once), or set BACKLOT_WEED")
	}
	return p
}

// Start runs weed mini and returns once its S3 API answers /healthz. It
// is stopped when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{bin: lookBinary(t), Dir: t.TempDir()}
	conf := map[string]any{"identities": []any{map[string]any{
		"name":        "backlot",
		"credentials": []any{map[string]string{"accessKey": AccessKey, "secretKey": SecretKey}},
		"actions":     []string{"Admin", "Read", "List", "Tagging", "Write"},
	}}}
	b, _ := json.Marshal(conf)
	if err := os.WriteFile(filepath.Join(s.Dir, "s3.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(s.Dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.stop(t, syscall.SIGTERM) })
	for try := 1; ; try++ {
		s.ports = map[string]int{}
		// Every port weed mini listens on: left to its defaults, the
		// admin's gRPC (22535, and 33646 for the legacy one) is the
		// same for every weed, and a second one running meanwhile
		// cannot start.
		for _, f := range []string{"master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
			"filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc"} {
			s.ports[f] = freePort(t)
		}
		err := s.start()
		if err == nil {
			break
		}
		if try == bindTries {
			t.Fatalf("start weed mini: %v", err)
		}
		t.Logf("weed mini did not start (%v); trying other ports", err)
	}
	return s
}

// Stop sends SIGTERM and waits for the process to exit.
func (s *Server) Stop(t testing.TB) { t.Helper(); s.stop(t, syscall.SIGTERM) }

// Kill sends SIGKILL and waits for the process to be gone: a crash.
func (s *Server) Kill(t testing.TB) { t.Helper(); s.stop(t, syscall.SIGKILL) }

// Pause stops the process with SIGSTOP: its sockets stay open and
// accept, but nothing answers, as a server that hangs. Resume undoes it.
func (s *Server) Pause(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP weed (pid %d): %v", s.cmd.Process.Pid, err)
	}
	t.Cleanup(func() { _ = s.cmd.Process.Signal(syscall.SIGCONT) }) // a stopped process ignores SIGTERM
}

// Resume continues a paused process (SIGCONT).
func (s *Server) Resume(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatalf("SIGCONT weed (pid %d): %v", s.cmd.Process.Pid, err)
	}
}

// Restart starts the server again on the same ports and Dir (stopping it
// first if it runs) and waits until /healthz answers.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.stop(t, syscall.SIGTERM)
	if err := s.start(); err != nil {
		t.Fatalf("restart weed mini: %v", err)
	}
}

// PID is the running process's id, or 0.
func (s *Server) PID() int {
	if s.cmd == nil || s.exited() {
		return 0
	}
	return s.cmd.Process.Pid
}

// Client is a minio-go client of the server, with its credentials.
func (s *Server) Client(t testing.TB) *minio.Client {
	t.Helper()
	c, err := minio.New(s.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(AccessKey, SecretKey, ""),
		Region:       Region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// MakeBucket makes a bucket on the server.
func (s *Server) MakeBucket(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyWait)
	defer cancel()
	if err := s.Client(t).MakeBucket(ctx, name, minio.MakeBucketOptions{Region: Region}); err != nil {
		t.Fatalf("make bucket %s: %v", name, err)
	}
}

func (s *Server) start() error {
	p := func(f string) string { return "-" + f + "=" + strconv.Itoa(s.ports[f]) }
	args := []string{"mini",
		"-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-dir=" + filepath.Join(s.Dir, "data"),
		"-master.telemetry=false",
		"-admin.ui=false", "-webdav=false",
		"-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.iam=false",
		"-s3.config=" + filepath.Join(s.Dir, "s3.json"),
		"-filer.localSocket=" + filepath.Join(s.Dir, "filer.sock"),
		"-s3.localSocket=" + filepath.Join(s.Dir, "s3.sock"),
		p("master.port"), p("master.port.grpc"), p("volume.port"), p("volume.port.grpc"),
		p("filer.port"), p("filer.port.grpc"), p("s3.port"), p("s3.port.grpc"),
		p("admin.port"), p("admin.port.grpc"), "-admin.port.legacy=0",
	}
	log, err := os.OpenFile(filepath.Join(s.Dir, "weed.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd, s.exit = cmd, make(chan struct{})
	go func(exit chan struct{}) { _ = cmd.Wait(); close(exit) }(s.exit)

	s.Endpoint = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.ports["s3.port"]))
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	deadline := time.NewTimer(readyWait)
	defer deadline.Stop()
	for {
		if resp, err := client.Get("http://" + s.Endpoint + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exit:
			return fmt.Errorf("weed mini exited at start (%s); log:\n%s", cmd.ProcessState, s.logTail())
		case <-deadline.C:
			_ = cmd.Process.Kill()
			<-s.exit
			return fmt.Errorf("weed mini's S3 on %s did not answer /healthz within %s; log:\n%s", s.Endpoint, readyWait, s.logTail())
		case <-tick.C:
		}
	}
}

func (s *Server) exited() bool {
	select {
	case <-s.exit:
		return true
	default:
		return false
	}
}

func (s *Server) stop(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if s.cmd == nil || s.exited() {
		return
	}
	if err := s.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("signal weed (pid %d): %v", s.cmd.Process.Pid, err)
	}
	select {
	case <-s.exit:
	case <-time.After(exitWait):
		_ = s.cmd.Process.Kill()
		<-s.exit
		t.Errorf("weed (pid %d) still running %s after %s; killed", s.cmd.Process.Pid, exitWait, sig)
	}
}

// logTail is the end of weed.log, for failure messages.
func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "weed.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return strings.TrimSpace(string(b))
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
