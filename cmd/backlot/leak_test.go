package main

import (
	"bufio"
	"context"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDroppedStreamsLeaveNothing opens and drops 1,000 event streams on a
// batch that stays in progress, and checks that every subscriber actor,
// stream writer and goroutine is gone afterwards.
func TestDroppedStreamsLeaveNothing(t *testing.T) {
	n := startNode(t, t.TempDir(), func(c *Config) { c.SSEPing = 20 * time.Millisecond })
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := n.System().Drain(ctx); err != nil { // nothing is claimed: the batch stays queued
		t.Fatal(err)
	}
	r := upload(t, n.url, filePart("a.jpg", jpegBytes(t, 64, 64, 1)))
	tr := &http.Transport{DisableKeepAlives: true}
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()

	// read up to the queued event, then hang up
	drop := func() error {
		req, _ := http.NewRequestWithContext(ctx, "GET", n.url+r.Events, nil)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return err
			}
			if strings.HasPrefix(line, "event: queued") {
				return nil
			}
		}
	}
	// One stream first: the batch's supervisor, which stays while the
	// batch is unfinished, is then running before the count.
	if err := drop(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the first stream's subscriber to end", func() bool {
		return n.Server().Streams() == 0 && n.System().Subscribers() == 0
	})
	before := ourGoroutines()
	const total, concurrent = 1000, 50
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, concurrent)
	errs := make(chan error, total)
	for i := 0; i < total; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := drop(); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	t.Logf("opened and dropped %d streams in %v", total, time.Since(start))
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "every stream and subscriber to end", func() bool {
		return n.Server().Streams() == 0 && n.System().Subscribers() == 0
	})
	eventually(t, 30*time.Second, "our goroutines back to where they were", func() bool {
		return ourGoroutines() <= before
	})
	t.Logf("goroutines running our code or the engine's: %d before, %d after (all: %d)", before, ourGoroutines(), runtime.NumGoroutine())
}

// ourGoroutines counts goroutines running Backlot's or Hollywood's code.
// (fasthttp keeps idle workers of its own for 10 s; they are not ours.)
func ourGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "testing.tRunner") || strings.Contains(g, "testing.(*T).Run") {
			continue // the test itself
		}
		if strings.Contains(g, "github.com/backlot/backlot") || strings.Contains(g, "anthdm/hollywood") {
			count++
		}
	}
	return count
}
