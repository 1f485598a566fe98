// Package redistest runs a real redis-server for a test: on 127.0.0.1, on a
// free port, in a directory of the test's, stopped by its PID when the test
// ends. Outage tests stop, kill and restart it. Failover tests start
// replicas (WithReplicaOf) and Sentinels (StartSentinels, sentinel.go).
//
// A machine without redis-server skips the tests that need one, except under
// CI=true, where a missing server fails them: CI must never pass by skipping.
// `make test` installs it (Debian package redis-server).
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Bounds of the waits below. They are deadlock guards, not speed
// assertions: generous, so a loaded CI machine never trips them.
const (
	readyWait = 30 * time.Second // start (including an AOF replay) until PING answers
	exitWait  = 30 * time.Second // SIGTERM until the process has exited
	pollEvery = 10 * time.Millisecond
	bindTries = 5 // fresh ports tried when the chosen one was taken meanwhile
)

// Server is a redis-server process started for a test. Its methods are
// meant for the test's own goroutine; they are not safe for concurrent use.
type Server struct {
	Addr string // 127.0.0.1:port
	URL  string // redis://127.0.0.1:port/0, for goredis.ParseURL
	Dir  string // the server's working directory: AOF files and redis.log

	aof       bool
	replicaOf string // host:port of the primary this one replicates; "" for a primary
	sentinel  string // a Sentinel's monitor lines (sentinel.conf); "" for a data node
	sec       Secure
	confPort  int // the port the sentinel.conf on disk names
	bin       string
	port      int

	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

// Option configures Start.
type Option func(*Server)

// WithAOF turns the append-only file on with `appendfsync everysec`, the
// setting docker-compose.yml runs in production, so a restart on the same
// Dir finds the data again.
func WithAOF() Option { return func(s *Server) { s.aof = true } }

// WithDir runs the server in dir instead of a fresh t.TempDir.
func WithDir(dir string) Option { return func(s *Server) { s.Dir = dir } }

// WithReplicaOf starts the server as a replica of primary (replicaof),
// serving reads of stale data while its link is down, as Redis does by
// default. Start returns once it answers PING, not once it has synced:
// WaitSynced waits for that.
func WithReplicaOf(primary *Server) Option {
	return func(s *Server) { s.replicaOf = primary.Addr }
}

// Start runs redis-server and returns once it answers PING. The process is
// stopped when t ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{bin: lookPath(t)}
	for _, o := range opts {
		o(s)
	}
	if s.Dir == "" {
		s.Dir = t.TempDir()
	}
	t.Cleanup(func() { s.stop(t, syscall.SIGTERM) })
	s.listen(t, "redis-server")
	s.URL = "redis://" + s.Addr + "/0"
	return s
}

// listen starts s on a free port of 127.0.0.1, trying another when the
// chosen one was taken meanwhile (up to bindTries), and sets its Addr.
func (s *Server) listen(t testing.TB, what string) {
	t.Helper()
	for try := 1; ; try++ {
		s.port = freePort(t)
		err := s.start()
		if err == nil {
			break
		}
		if !errors.Is(err, errAddrInUse) || try == bindTries {
			t.Fatalf("start %s: %v", what, err)
		}
		t.Logf("%s: port %d was taken meanwhile; trying another", what, s.port)
	}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// lookPath finds redis-server, or skips (fails under CI=true) the test.
func lookPath(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server not found on PATH and CI=true: install it (make deps): %v", err)
		}
		t.Skipf("redis-server not found on PATH (install the redis-server package, or run make deps): %v", err)
	}
	return bin
}

// Stop sends SIGTERM and waits for the process to exit. Redis flushes and
// fsyncs its AOF on SIGTERM, so what it acknowledged survives a Restart.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.stop(t, syscall.SIGTERM)
}

// Kill sends SIGKILL and waits for the process to be gone: a crash.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	s.stop(t, syscall.SIGKILL)
}

// Restart starts the server again on the same port and Dir (stopping it
// first if it still runs) and waits until it answers PING, which with AOF
// on is after the data has been loaded.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.stop(t, syscall.SIGTERM)
	if err := s.start(); err != nil {
		t.Fatalf("restart redis-server on %s: %v", s.Addr, err)
	}
}

// RestartAsReplicaOf starts the server again on the same port and Dir
// (stopping it first if it still runs) as a replica of primary (host:port):
// what an operator does with a failed primary once Sentinel has promoted
// another. Like Restart it returns once the server answers PING.
func (s *Server) RestartAsReplicaOf(t testing.TB, primary string) {
	t.Helper()
	s.stop(t, syscall.SIGTERM)
	s.replicaOf = primary
	if err := s.start(); err != nil {
		t.Fatalf("restart redis-server on %s as a replica of %s: %v", s.Addr, primary, err)
	}
}

// PID is the running process's id, or 0 when it is not running.
func (s *Server) PID() int {
	if s.cmd == nil || s.cmd.Process == nil || s.isExited() {
		return 0
	}
	return s.cmd.Process.Pid
}

var errAddrInUse = errors.New("address already in use")

// start runs the process on s.port and waits until it answers PING or exits.
func (s *Server) start() error {
	var args []string
	if s.sentinel != "" {
		// A Sentinel reads (and rewrites) its config file, which names
		// its port, directory and the primary it monitors; it is
		// written once per port, so a restart keeps what it learnt.
		conf := filepath.Join(s.Dir, "sentinel.conf")
		if s.confPort != s.port {
			body := fmt.Sprintf("%sbind 127.0.0.1\ndir %s\nlogfile redis.log\ndaemonize no\n%s", s.sec.sentinelConf(s.port), s.Dir, s.sentinel)
			if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
				return err
			}
			s.confPort = s.port
		}
		args = []string{conf, "--sentinel"}
	} else {
		args = []string{
			"--bind", "127.0.0.1",
			"--port", strconv.Itoa(s.port),
			"--dir", s.Dir,
			"--logfile", "redis.log",
			"--daemonize", "no",
			"--save", "", // no RDB snapshots: only the AOF, when asked for, persists
			"--appendonly", "no",
			// A replica's full sync goes over the socket, not through a file.
			"--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0",
		}
		if s.aof {
			args = append(args, "--appendonly", "yes", "--appendfsync", "everysec")
		}
		if s.replicaOf != "" {
			host, port, _ := net.SplitHostPort(s.replicaOf)
			args = append(args, "--replicaof", host, port)
		}
		args = append(args, s.sec.serverArgs(s.port)...)
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.Dir
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) {
		_ = cmd.Wait()
		close(exited)
	}(s.exited)

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	ticker := time.NewTicker(pollEvery)
	defer ticker.Stop()
	deadline := time.NewTimer(readyWait)
	defer deadline.Stop()
	for {
		if s.ping(addr) == nil {
			return nil
		}
		select {
		case <-s.exited:
			log := s.logTail()
			if strings.Contains(log, "Address already in use") {
				return fmt.Errorf("port %d: %w", s.port, errAddrInUse)
			}
			return fmt.Errorf("redis-server exited at start (%s); log:\n%s", cmd.ProcessState, log)
		case <-deadline.C:
			_ = cmd.Process.Kill()
			<-s.exited
			return fmt.Errorf("redis-server on %s did not answer PING within %s; log:\n%s", addr, readyWait, s.logTail())
		case <-ticker.C:
		}
	}
}

// stop signals the process, if it runs, and waits for it to exit; a process
// that ignores SIGTERM for exitWait is killed and the test fails.
func (s *Server) stop(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if s.cmd == nil || s.isExited() {
		return
	}
	if err := s.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("signal redis-server (pid %d): %v", s.cmd.Process.Pid, err)
	}
	select {
	case <-s.exited:
	case <-time.After(exitWait):
		_ = s.cmd.Process.Kill()
		<-s.exited
		t.Errorf("redis-server (pid %d) still running %s after %s; killed", s.cmd.Process.Pid, exitWait, sig)
	}
}

func (s *Server) isExited() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// logTail is the end of the server's log, for failure messages.
func (s *Server) logTail() string {
	b, err := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	const keep = 2000
	if len(b) > keep {
		b = b[len(b)-keep:]
	}
	return string(b)
}

// ping sends one inline PING (after AUTH when there is a password) and
// expects +PONG. -LOADING (an AOF replay under way) and anything else
// count as not ready.
func (s *Server) ping(addr string) error {
	c, err := s.sec.dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return err
	}
	pw := s.sec.Password
	if s.sentinel != "" {
		pw = s.sec.SentinelPassword
	}
	r := bufio.NewReader(c)
	if pw != "" {
		if _, err := fmt.Fprintf(c, "AUTH %s\r\n", pw); err != nil {
			return err
		}
		if line, err := r.ReadString('\n'); err != nil || strings.TrimSpace(line) != "+OK" {
			return fmt.Errorf("AUTH answered %q (%v)", strings.TrimSpace(line), err)
		}
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }

// freePort asks the kernel for a free port on 127.0.0.1 and releases it for
// redis-server to bind. Another process may take it in between; Start then
// tries a fresh one.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
