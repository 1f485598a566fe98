package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/backlot/backlot/bench"
)

// BenchmarkIdleStreams starts the real backlot binary, makes a batch that
// stays unfinished and idle (its one image's first attempt times out,
// --resize-timeout 1ns, and the retry waits an hour, --retry-backoff 1h),
// opens BACKLOT_STREAMS (10,000) real event streams on it over as many TCP
// connections, each read up to its replayed retrying event and then left
// open, and reports what one idle stream costs the server: the growth of
// its resident set (VmRSS, after a GC, before and after) per stream, the
// streams one GiB holds at that rate, and the Go heap and stacks in use
// per stream. Then it closes every connection and reports how long the
// server took to free every subscription (close detection at scale).
//
//	go test -run '^$' -bench IdleStreams -benchtime 1x -timeout 20m ./cmd/backlot
//
// BACKLOT_BIN runs that binary instead of building this tree's (to measure
// another commit); BACKLOT_PPROF_DIR saves the server's heap profile and
// goroutine stacks there while the streams are open. Never an assertion:
// the figures are in the README.
func BenchmarkIdleStreams(b *testing.B) {
	b.StopTimer() // only the opening of the streams is timed
	if _, err := os.Stat("/proc/self/status"); err != nil {
		b.Skip("needs /proc (Linux)")
	}
	streams := 10_000
	if s := os.Getenv("BACKLOT_STREAMS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("BACKLOT_STREAMS=%q", s)
		}
		streams = n
	}
	// One descriptor per client connection here; the server raises its
	// own soft limit to the hard one (Go does at start).
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < uint64(streams)+256 {
		b.Skipf("RLIMIT_NOFILE %d is too low for %d streams", lim.Cur, streams)
	}
	bin := os.Getenv("BACKLOT_BIN")
	if bin == "" {
		bin = backlotBinary(b)
	}
	var r idleRun
	for range b.N {
		r = idleStreamsRun(b, bin, streams)
	}
	perStream := float64(r.rssAfter-r.rssBefore) / float64(streams)
	b.ReportMetric(perStream/1024, "RSS-KiB/stream")
	b.ReportMetric(float64(1<<30)/perStream, "streams/GiB")
	b.ReportMetric((r.after["go_memstats_heap_inuse_bytes"]-r.before["go_memstats_heap_inuse_bytes"])/float64(streams)/1024, "heap-KiB/stream")
	b.ReportMetric((r.after["go_memstats_stack_inuse_bytes"]-r.before["go_memstats_stack_inuse_bytes"])/float64(streams)/1024, "stack-KiB/stream")
	b.ReportMetric((r.after["go_goroutines"]-r.before["go_goroutines"])/float64(streams), "goroutines/stream")
	b.ReportMetric(r.freed.Seconds(), "s-to-free-all")
	b.Logf("%d streams: VmRSS %.1f -> %.1f MiB, open in %v, all freed %v after the clients closed",
		streams, float64(r.rssBefore)/(1<<20), float64(r.rssAfter)/(1<<20), r.opened.Round(time.Millisecond), r.freed.Round(time.Millisecond))
}

type idleRun struct {
	rssBefore, rssAfter int64
	before, after       map[string]float64
	opened, freed       time.Duration
}

func idleStreamsRun(b *testing.B, bin string, streams int) idleRun {
	b.Helper()
	b.StopTimer()
	cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--data", b.TempDir(), "--log-format", "json",
		"--workers", "1", "--claim-ahead", "0", "--resize-timeout", "1ns", "--retry-backoff", "1h", "--attempts", "2",
		"--max-conns", strconv.Itoa(streams+1000), "--pprof")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	addr := make(chan string, 1)
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "backlot listening" {
				addr <- line.Addr
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		_ = cmd.Wait()
	}()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case <-exited:
		b.Fatal("backlot exited before listening")
	case <-time.After(30 * time.Second):
		b.Fatal("backlot did not listen within 30s")
	}
	pid := cmd.Process.Pid

	up := upload(b, base, filePart("idle.jpg", jpegBytes(b, 640, 480, 1)))
	// The first stream waits for the retrying event: from then on the
	// batch is idle for an hour.
	first := dialIdleStream(b, base, up.Events)
	first.Close()
	metrics := func() map[string]float64 {
		get(b, base+"/debug/pprof/heap?gc=1", 200) // runtime.GC in the server
		return scrapeIdle(b, base)
	}
	// A build from before close detection frees that stream at its ping.
	waitSubscribers(b, base, 0, time.Minute)
	r := idleRun{before: metrics(), rssBefore: vmRSS(b, pid)}

	b.StartTimer()
	start := time.Now()
	conns := make([]net.Conn, streams)
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	sem := make(chan struct{}, 64)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := openIdleStream(base, up.Events)
			if err != nil {
				select {
				case errs <- fmt.Errorf("stream %d: %w", i, err):
				default:
				}
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	r.opened = time.Since(start)
	b.StopTimer()
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	r.after, r.rssAfter = metrics(), vmRSS(b, pid)
	if s := r.after["backlot_sse_subscribers"]; s != float64(streams) {
		b.Fatalf("%v subscribers open, want %d", s, streams)
	}
	if dir := os.Getenv("BACKLOT_PPROF_DIR"); dir != "" {
		// What the streams hold: go tool pprof -sample_index=inuse_space.
		for name, path := range map[string]string{"heap.pb.gz": "/debug/pprof/heap", "goroutines.txt": "/debug/pprof/goroutine?debug=1"} {
			if err := os.WriteFile(filepath.Join(dir, name), get(b, base+path, 200), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	var st struct{ State string }
	if err := json.Unmarshal(get(b, base+up.Status, 200), &st); err != nil || st.State == "done" {
		b.Fatalf("the batch is %q (%v): the streams were not idle", st.State, err)
	}

	closed := time.Now()
	for i, c := range conns {
		c.Close()
		conns[i] = nil
	}
	waitSubscribers(b, base, 0, time.Minute)
	r.freed = time.Since(closed)
	return r
}

// waitSubscribers polls the server's open streams until there are want.
func waitSubscribers(b *testing.B, base string, want float64, within time.Duration) {
	b.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for scrapeIdle(b, base)["backlot_sse_subscribers"] != want {
		if time.Now().After(deadline) {
			b.Fatalf("not %v streams open within %v", want, within)
		}
		<-tick.C
	}
}

// openIdleStream opens an event stream on a raw connection and reads it
// up to the replayed retrying event; the connection stays open.
func openIdleStream(base, path string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 30*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: backlot\r\nAccept: text/event-stream\r\n\r\n", path); err != nil {
		c.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(c, 1024)
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, " 200 ") {
		c.Close()
		return nil, fmt.Errorf("status %q: %v", status, err)
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("before the retrying event: %w", err)
		}
		if strings.HasPrefix(line, "event: retrying") {
			break
		}
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

func dialIdleStream(b *testing.B, base, path string) net.Conn {
	b.Helper()
	c, err := openIdleStream(base, path)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// scrapeIdle reads the unlabelled samples of /metrics.
func scrapeIdle(b *testing.B, base string) map[string]float64 {
	b.Helper()
	out := map[string]float64{}
	for _, line := range bytes.Split(get(b, base+"/metrics", 200), []byte("\n")) {
		f := strings.Fields(string(line))
		if len(f) != 2 || strings.HasPrefix(f[0], "#") || strings.Contains(f[0], "{") {
			continue
		}
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			out[f[0]] = v
		}
	}
	return out
}

// vmRSS is the resident set of process pid, in bytes.
func vmRSS(b *testing.B, pid int) int64 {
	b.Helper()
	n, err := bench.StatusBytes(pid, "VmRSS")
	if err != nil {
		b.Fatal(err)
	}
	return n
}
