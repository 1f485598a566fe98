package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/backlot/backlot/http/sse"
)

var (
	buildOnce sync.Once
	binDir    string // MkdirTemp'd by backlotBinary; removed by TestMain
	binPath   string
	buildErr  error
)

// TestMain removes the binary backlotBinary built (38 MB a run), which
// t.TempDir cannot own because it outlives any one test.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// backlotBinary builds cmd/backlot once per test run.
func backlotBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "backlot-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binDir = dir
		binPath = filepath.Join(dir, "backlot")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is a backlot process we started.
type proc struct {
	cmd    *exec.Cmd
	url    string
	exited chan struct{}
	err    error
}

// startProc runs `backlot serve` on dir (2 workers unless extra says
// otherwise) and waits for its listening line.
func startProc(t *testing.T, dir string, extra ...string) *proc {
	t.Helper()
	p, err := tryStartProc(t, dir, append([]string{"--workers", "2"}, extra...)...)
	if err != nil {
		t.Fatalf("backlot: %v", err)
	}
	return p
}

// tryStartProc runs `backlot serve` on dir and waits for its listening
// line; a process that exits before listening is reported (with what it
// printed) rather than failing the test.
func tryStartProc(t *testing.T, dir string, extra ...string) (*proc, error) {
	t.Helper()
	return startProcLogged(t, dir, nil, extra...)
}

// startProcLogged is tryStartProc that also copies every line the process
// prints to logTo, when not nil.
func startProcLogged(t *testing.T, dir string, logTo io.Writer, extra ...string) (*proc, error) {
	t.Helper()
	return startProcWrapped(t, nil, dir, logTo, extra...)
}

// startProcWrapped is startProcLogged with the binary run by a wrapper
// command (wrap, then the binary and its arguments), e.g. unshare.
func startProcWrapped(t *testing.T, wrap []string, dir string, logTo io.Writer, extra ...string) (*proc, error) {
	t.Helper()
	args := append([]string{backlotBinary(t), "serve", "--listen", "127.0.0.1:0", "--data", dir, "--log-format", "json"}, extra...)
	args = append(append([]string(nil), wrap...), args...)
	cmd := exec.Command(args[0], args[1:]...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, exited: make(chan struct{})}
	addr := make(chan string, 1)
	var mu sync.Mutex
	var other strings.Builder // lines that are not our JSON log: the exit error, Hollywood's own log
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20) // debug lines can be long
		for sc.Scan() {
			if logTo != nil {
				_, _ = logTo.Write(append(sc.Bytes(), '\n'))
			}
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) != nil {
				mu.Lock()
				other.WriteString(sc.Text() + "\n")
				mu.Unlock()
			} else if line.Msg == "backlot listening" {
				addr <- line.Addr
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	go func() { <-readDone; p.err = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.kill(t) })
	select {
	case a := <-addr:
		p.url = "http://" + a
		return p, nil
	case <-p.exited:
		mu.Lock()
		defer mu.Unlock()
		return nil, fmt.Errorf("exited before listening: %v: %s", p.err, other.String())
	case <-time.After(30 * time.Second):
		return nil, errors.New("did not start listening within 30s")
	}
}

// kill sends SIGKILL to the process we started and waits for it.
func (p *proc) kill(t *testing.T) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	p.wait(t)
}

func (p *proc) wait(t *testing.T) {
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		t.Errorf("process %d did not exit", p.cmd.Process.Pid)
	}
}

// TestCrashRecovery: SIGKILL mid-batch at several moments, restart on the
// same data, and a client resuming with Last-Event-ID sees the promise of
// API.md: ids without gap or repeat, one terminal event per image, done
// once and last.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	crashRecovery(t, nil)
}

// crashRecovery runs the crash plans against `backlot serve` with extra
// flags (the backend).
func crashRecovery(t *testing.T, backend func(t *testing.T) []string) {
	const images = 10
	plans := [][]int{
		{1},       // right after the 202: only queued seen
		{4},       // first attempts in flight
		{9, 3},    // mid-batch, then again early in the recovery
		{2, 2, 2}, // three crashes in a row
	}
	var parts []part
	for i := 0; i < images; i++ {
		parts = append(parts, filePart(fmt.Sprintf("p%d.jpg", i), jpegBytes(t, 1600, 1200, uint64(i))))
	}
	for _, plan := range plans {
		t.Run(fmt.Sprint(plan), func(t *testing.T) {
			dir := t.TempDir()
			flags := []string{"--attempts", "5"}
			if backend != nil {
				flags = append(flags, backend(t)...)
			}
			p := startProc(t, dir, flags...)
			r := upload(t, p.url, parts...)
			var seen []sse.Event
			for _, k := range plan {
				s := openSSE(t, t.Context(), p.url+r.Events, lastID(seen))
				for len(seen) < len(seen)+k {
					ev, ok := <-s.events
					if !ok {
						t.Fatalf("stream ended early after %s (err %v)", names(seen), s.err)
					}
					seen = append(seen, ev)
					if k--; k == 0 {
						break
					}
				}
				p.kill(t)
				// whatever was already on the wire before the kill counts too
				for ev := range s.events {
					seen = append(seen, ev)
				}
				if len(seen) > 0 && seen[len(seen)-1].Name == "done" {
					t.Logf("plan %v: batch finished before the kill", plan)
					break
				}
				p = startProc(t, dir, flags...)
			}
			if len(seen) == 0 || seen[len(seen)-1].Name != "done" {
				rest := openSSE(t, t.Context(), p.url+r.Events, lastID(seen)).collect(t, 90*time.Second)
				seen = append(seen, rest...)
			}
			o := checkSequence(t, r.BatchID, seen)
			replay := openSSE(t, t.Context(), p.url+r.Events, "").collect(t, 10*time.Second)
			if names(replay) != names(seen) {
				t.Fatalf("replay after recovery differs:\n%s\n%s", names(replay), names(seen))
			}
			for i := range replay {
				if replay[i].Data != seen[i].Data {
					t.Fatalf("event %s: %s before, %s in replay", seen[i].ID, seen[i].Data, replay[i].Data)
				}
			}
			retried := 0
			for _, a := range o.attempts {
				if a > 1 {
					retried++
				}
			}
			t.Logf("plan %v: %d events, %d completed, %d failed, %d images redone after a crash", plan, len(seen), o.completed, o.failed, retried)
			for id, state := range o.terminal {
				if state != "completed" {
					continue
				}
				resp, err := http.Get(p.url + "/api/images/" + r.BatchID + "/" + id)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("result %s: %d", id, resp.StatusCode)
				}
			}
		})
	}
}

func lastID(evs []sse.Event) string {
	if len(evs) == 0 {
		return ""
	}
	return evs[len(evs)-1].ID
}

// TestGracefulShutdown: SIGTERM mid-batch exits 0, ends the event stream
// (not with done), and after a restart the batch finishes with the
// invariant intact.
func TestGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	p := startProc(t, dir)
	var parts []part
	for i := 0; i < 8; i++ {
		parts = append(parts, filePart(fmt.Sprintf("g%d.jpg", i), jpegBytes(t, 1600, 1200, uint64(100+i))))
	}
	r := upload(t, p.url, parts...)
	s := openSSE(t, t.Context(), p.url+r.Events, "")
	var seen []sse.Event
	for ev := range s.events {
		seen = append(seen, ev)
		if ev.Name == "processing" {
			break
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for ev := range s.events { // the server ends the stream
		seen = append(seen, ev)
	}
	p.wait(t)
	if p.err != nil {
		t.Fatalf("exit after SIGTERM: %v", p.err)
	}
	if last := seen[len(seen)-1]; last.Name == "done" {
		t.Skip("batch finished before SIGTERM landed")
	}
	p = startProc(t, dir)
	rest := openSSE(t, t.Context(), p.url+r.Events, lastID(seen)).collect(t, 90*time.Second)
	o := checkSequence(t, r.BatchID, append(seen, rest...))
	if o.completed != 8 {
		t.Fatalf("outcome %+v", o)
	}
	if !strings.Contains(names(rest), "done") {
		t.Fatal("no done after restart")
	}
}
