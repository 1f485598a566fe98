package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Server is a Backlot the harness started itself: `<exe> serve` on
// 127.0.0.1:0 with a temp data dir, JSON logs on its stderr.
type Server struct {
	URL string // http://127.0.0.1:<port>, from its "backlot listening" line
	PID int

	cmd    *exec.Cmd
	dir    string
	log    *serverLog
	exited chan struct{} // closed when the process has exited; then waitErr is set
	err    error
}

// startTimeout bounds the wait for the "backlot listening" line.
const startTimeout = 60 * time.Second

// StartServer runs exe serve with args appended (so they win over ours)
// and env added to the environment, and waits until it listens. Its
// warnings and errors are copied to logw.
func StartServer(ctx context.Context, exe string, args, env []string, logw io.Writer) (*Server, error) {
	dir, err := os.MkdirTemp("", "backlot-bench-")
	if err != nil {
		return nil, fmt.Errorf("bench server data dir: %w", err)
	}
	// The server runs from a copy of exe: run from the bench's own binary,
	// it would map (fault-around) the pages the client read into the page
	// cache too, about 7 MiB of RSS that is not the server's doing.
	bin := filepath.Join(dir, "backlot")
	if err := copyFile(exe, bin); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("bench server binary: %w", err)
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("bench server data dir: %w", err)
	}
	argv := append([]string{"serve", "--listen", "127.0.0.1:0", "--data", data, "--log-format", "json"}, args...)
	cmd := exec.Command(bin, argv...)
	cmd.Env = append(os.Environ(), env...)
	sl := &serverLog{out: logw, ready: make(chan string, 1)}
	cmd.Stdout = io.Discard
	cmd.Stderr = sl                 // exec copies into it; Wait returns once the copy is done
	cmd.WaitDelay = 5 * time.Second // even if something kept the pipe open
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", exe, err)
	}
	s := &Server{PID: cmd.Process.Pid, cmd: cmd, dir: dir, log: sl, exited: make(chan struct{})}
	go func() {
		s.err = cmd.Wait()
		close(s.exited)
	}()
	t := time.NewTimer(startTimeout)
	defer t.Stop()
	select {
	case addr := <-sl.ready:
		s.URL = "http://" + addr
		return s, nil
	case <-s.exited:
		s.Stop(0)
		return nil, fmt.Errorf("%s serve exited before listening (%v); its last output:\n%s", exe, s.err, sl.tail())
	case <-t.C:
		s.Stop(0)
		return nil, fmt.Errorf("%s serve did not log \"backlot listening\" within %v; its last output:\n%s", exe, startTimeout, sl.tail())
	case <-ctx.Done():
		s.Stop(0)
		return nil, ctx.Err()
	}
}

// Stop sends SIGTERM to the server's PID, waits up to grace for it to
// exit (then kills it), and removes its data dir. It returns the process's
// exit error, if any other than the kill.
func (s *Server) Stop(grace time.Duration) error {
	select {
	case <-s.exited:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(grace)
		select {
		case <-s.exited:
			t.Stop()
		case <-t.C:
			_ = s.cmd.Process.Kill()
			<-s.exited
			os.RemoveAll(s.dir)
			return fmt.Errorf("bench server (pid %d) did not stop within %v of SIGTERM; killed", s.PID, grace)
		}
	}
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("remove bench server data: %w", err)
	}
	if s.err != nil {
		return fmt.Errorf("bench server (pid %d): %w; its last output:\n%s", s.PID, s.err, s.log.tail())
	}
	return nil
}

// serverLog reads the server's JSON log lines: it finds the listening
// address, copies warnings and errors out, and keeps the last lines for
// when the server fails to start or stop.
type serverLog struct {
	out   io.Writer
	ready chan string

	mu      sync.Mutex
	partial []byte
	last    []string
	found   bool
}

const (
	tailLines   = 20
	maxLineSize = 64 << 10
)

func (l *serverLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if len(l.partial)+len(p) <= maxLineSize { // a longer line is cut, not buffered without end
				l.partial = append(l.partial, p...)
			}
			break
		}
		line := string(append(l.partial, p[:i]...))
		l.partial, p = l.partial[:0], p[i+1:]
		l.line(line)
	}
	return n, nil
}

func (l *serverLog) line(line string) {
	l.last = append(l.last, line)
	if len(l.last) > tailLines {
		l.last = l.last[1:]
	}
	if !l.found {
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "backlot listening" && rec.Addr != "" {
			l.found = true
			l.ready <- rec.Addr
			return
		}
	}
	// Cheaper than decoding each line: slog's JSON handler writes the level so.
	if l.out != nil && (strings.Contains(line, `"level":"WARN`) || strings.Contains(line, `"level":"ERROR`)) {
		fmt.Fprintf(l.out, "server: %s\n", line)
	}
}

func (l *serverLog) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.last) == 0 {
		return "(nothing)"
	}
	return strings.Join(l.last, "\n")
}

// copyFile copies an executable.
func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
