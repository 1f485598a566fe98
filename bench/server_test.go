package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes this test binary act as `backlot serve` for StartServer's
// tests (the os/exec tests' helper-process pattern): building nothing, it
// still runs a real process that StartServer execs, reads and stops.
const helperEnv = "BENCH_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "serve":
		os.Exit(helperServe(os.Args[1:]))
	case "exit":
		fmt.Fprintln(os.Stderr, `{"level":"ERROR","msg":"open store: disk on fire"}`)
		os.Exit(3)
	}
	os.Exit(2)
}

// helperServe parses the arguments StartServer passes, logs like Backlot
// with --log-format json, serves the fake API and stops on SIGTERM.
func helperServe(args []string) int {
	if len(args) == 0 || args[0] != "serve" {
		fmt.Fprintln(os.Stderr, "helper: want serve, got", args)
		return 2
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	listen := fs.String("listen", "", "")
	data := fs.String("data", "", "")
	format := fs.String("log-format", "", "")
	extra := fs.String("extra", "", "")
	if err := fs.Parse(args[1:]); err != nil || *format != "json" || *extra != "yes" || os.Getenv("BACKLOT_TOKEN") != "t0k" {
		fmt.Fprintln(os.Stderr, "helper: bad arguments", args, err)
		return 2
	}
	if err := os.WriteFile(filepath.Join(*data, "backlot.db"), []byte("x"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Handler: newFake(fakeOptions{token: "t0k"}).handler()}
	go srv.Serve(ln)
	fmt.Fprintf(os.Stderr, `{"time":"2025-01-01T00:00:00Z","level":"INFO","msg":"starting"}`+"\n")
	fmt.Fprintf(os.Stderr, `{"time":"2025-01-01T00:00:00Z","level":"WARN","msg":"sweeping unrecorded uploads","err":"x"}`+"\n")
	// Written in two pieces: the reader must join a line split across writes.
	line := fmt.Sprintf(`{"time":"2025-01-01T00:00:00Z","level":"INFO","msg":"backlot listening","addr":%q,"config":{}}`+"\n", ln.Addr().String())
	os.Stderr.WriteString(line[:20])
	os.Stderr.WriteString(line[20:])
	<-ctx.Done()
	srv.Close()
	fmt.Fprintln(os.Stderr, `{"level":"INFO","msg":"stopped"}`)
	return 0
}

func TestStartServer(t *testing.T) {
	var log strings.Builder
	s, err := StartServer(t.Context(), os.Args[0], []string{"--extra", "yes"}, []string{helperEnv + "=serve", "BACKLOT_TOKEN=t0k", "GORACE=atexit_sleep_ms=0"}, &log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "data", "backlot.db")); err != nil {
		t.Errorf("data dir not passed: %v", err)
	}
	if p, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", s.PID)); err != nil || p != filepath.Join(s.dir, "backlot") {
		t.Errorf("server runs %q (%v), want its own copy of the binary", p, err)
	}
	c := config(t, "--url", s.URL, "--total", "4", "--token", "t0k", "--pid", fmt.Sprint(s.PID))
	r := run(t, t.Context(), c)
	if r.Images.Completed != 4 || r.ErrorTotal != 0 {
		t.Errorf("%+v %+v", r.Images, r.Errors)
	}
	if len(r.Processes) != 1 || r.Processes[0].PeakRSSBytes <= 0 || r.Processes[0].Error != "" {
		t.Errorf("processes %+v", r.Processes)
	}
	if err := s.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.dir); !os.IsNotExist(err) {
		t.Errorf("data dir left behind: %v", err)
	}
	if err := syscall.Kill(s.PID, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process %d still there: %v", s.PID, err)
	}
	if err := s.Stop(time.Second); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if out := log.String(); !strings.Contains(out, `server: {"time":"2025-01-01T00:00:00Z","level":"WARN","msg":"sweeping`) || strings.Contains(out, "starting") {
		t.Errorf("forwarded log:\n%s", out)
	}
}

func TestStartServerFails(t *testing.T) {
	_, err := StartServer(t.Context(), os.Args[0], nil, []string{helperEnv + "=exit"}, nil)
	if err == nil || !strings.Contains(err.Error(), "exited before listening") || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("error %v", err)
	}
	_, err = StartServer(t.Context(), filepath.Join(t.TempDir(), "nonexistent"), nil, nil, nil)
	if err == nil {
		t.Error("no error for a missing binary")
	}
}
