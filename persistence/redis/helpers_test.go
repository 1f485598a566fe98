package redis_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/redis"
	"github.com/backlot/backlot/persistence/redis/redistest"
	"github.com/backlot/backlot/persistence/testkit"
	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"
)

// wait bounds every wait on another goroutine, on Redis or on a lease. It is
// a deadlock guard, not a speed assertion: generous, so slow CI never trips it.
const wait = 20 * time.Second

// storeURL is srv's URL with client timeouts of a second, so that an outage
// shows as ErrUnavailable within about that long rather than go-redis's 5 s.
func storeURL(srv *redistest.Server) string {
	return srv.URL + "?dial_timeout=1s&read_timeout=1s&write_timeout=1s"
}

// mustOpen opens a store on srv (o.URL defaults to storeURL) and closes it
// when the test ends, unless the test closed it first.
func mustOpen(tb testing.TB, srv *redistest.Server, o redis.Options) *redis.Store {
	tb.Helper()
	if o.URL == "" {
		o.URL = storeURL(srv)
	}
	s, err := redis.Open(context.Background(), o)
	if err != nil {
		tb.Fatalf("Open(prefix %q, node %q): %v", o.Prefix, o.NodeID, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, persistence.ErrClosed) {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

// rawClient is a plain go-redis client on srv, for looking at keys directly.
func rawClient(tb testing.TB, srv *redistest.Server) *goredis.Client {
	tb.Helper()
	opt, err := goredis.ParseURL(storeURL(srv))
	if err != nil {
		tb.Fatal(err)
	}
	c := goredis.NewClient(opt)
	tb.Cleanup(func() { c.Close() })
	return c
}

// newBatch builds a fresh batch of n images and its queued event.
func newBatch(tb testing.TB, n int) (*persistence.Batch, persistence.Event) {
	tb.Helper()
	images := make([]persistence.Image, n)
	for i := range images {
		images[i] = persistence.Image{ID: uuid.NewString(), Name: fmt.Sprintf("img%d.png", i), Format: "png"}
	}
	b, ev, err := persistence.NewBatch(uuid.NewString(), time.Now(), persistence.DefaultOptions(), images)
	if err != nil {
		tb.Fatalf("NewBatch: %v", err)
	}
	return b, ev
}

// create stores a fresh batch of n images and returns it as created.
func create(tb testing.TB, s persistence.Store, n int) *persistence.Batch {
	tb.Helper()
	b, ev := newBatch(tb, n)
	want := b.Clone()
	if err := s.Create(context.Background(), b, ev); err != nil {
		tb.Fatalf("Create: %v", err)
	}
	return want
}

func jobOf(b *persistence.Batch, i int) persistence.Job {
	return persistence.Job{BatchID: b.ID, ImageID: b.Images[i].ID}
}

func processing(b *persistence.Batch, i int) persistence.Event {
	return persistence.Event{Type: persistence.EventProcessing, BatchID: b.ID, ImageID: b.Images[i].ID}
}

func completed(b *persistence.Batch, i int) persistence.Event {
	return persistence.Event{Type: persistence.EventCompleted, BatchID: b.ID, ImageID: b.Images[i].ID,
		Width: 10, Height: 10, Bytes: 100}
}

// claim takes one job, which must be there or arrive within wait.
func claim(tb testing.TB, s persistence.Store) persistence.Job {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	j, err := s.Claim(ctx)
	if err != nil {
		tb.Fatalf("Claim: %v", err)
	}
	return j
}

type claimResult struct {
	job persistence.Job
	err error
}

// goClaim runs Claim in a goroutine and delivers its result on the channel.
func goClaim(ctx context.Context, s persistence.Store) <-chan claimResult {
	ch := make(chan claimResult, 1)
	go func() {
		j, err := s.Claim(ctx)
		ch <- claimResult{j, err}
	}()
	return ch
}

// recv waits for one value on ch, failing the test after wait.
func recv[T any](tb testing.TB, ch <-chan T, what string) T {
	tb.Helper()
	return testkit.Recv(tb, ch, wait, what)
}

// eventually polls cond every 10 ms until it holds, failing the test if it
// does not within wait or if it returns an error.
func eventually(tb testing.TB, what string, cond func() (bool, error)) {
	tb.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	var last error
	for {
		ok, err := cond()
		if ok && err == nil {
			return
		}
		last = err
		select {
		case <-deadline.C:
			tb.Fatalf("%s: not after %s (last error: %v)", what, wait, last)
		case <-tick.C:
		}
	}
}

// waitBlocked waits until n clients of srv are blocked in a command (a
// BLMOVE from Claim), so a test knows the claimer is waiting on the server.
func waitBlocked(tb testing.TB, rdb *goredis.Client, n int) {
	tb.Helper()
	eventually(tb, fmt.Sprintf("%d blocked client(s)", n), func() (bool, error) {
		info, err := rdb.Info(context.Background(), "clients").Result()
		if err != nil {
			return false, err
		}
		for line := range strings.SplitSeq(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "blocked_clients:"); ok {
				got, err := strconv.Atoi(v)
				return got >= n, err
			}
		}
		return false, errors.New("INFO clients has no blocked_clients")
	})
}

// depth asserts the queue's counts.
func depth(tb testing.TB, s *redis.Store, wantPending, wantInflight int) {
	tb.Helper()
	p, f, err := s.QueueDepth(context.Background())
	if err != nil || p != wantPending || f != wantInflight {
		tb.Fatalf("QueueDepth = %d pending, %d in flight, %v; want %d, %d", p, f, err, wantPending, wantInflight)
	}
}
