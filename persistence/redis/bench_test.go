package redis_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backlot/backlot/persistence"

	"github.com/backlot/backlot/persistence/redis"
	"github.com/backlot/backlot/persistence/redis/redistest"
	"github.com/backlot/backlot/persistence/storetest"
)

// The benchmarks mirror bolt's, on a local redis-server with AOF on
// (appendfsync everysec, as docker-compose.yml runs it), so the two
// backends' figures compare.

// BenchmarkAppend: WATCH, GET+LLEN, MULTI/EXEC per op (three round trips).
func BenchmarkAppend(b *testing.B) {
	srv := redistest.Start(b, redistest.WithAOF())
	storetest.BenchAppend(b, mustOpen(b, srv, redis.Options{Prefix: "bench", NodeID: "a"}))
}

// BenchmarkClaimAck: BLMOVE and LREM per op.
func BenchmarkClaimAck(b *testing.B) {
	srv := redistest.Start(b, redistest.WithAOF())
	storetest.BenchClaimAck(b, mustOpen(b, srv, redis.Options{Prefix: "bench", NodeID: "a"}))
}

// BenchmarkWait: what WAIT adds to one write, a Create of a batch of 2,
// against a primary with one replica on this host: wait=0 sends no WAIT,
// wait=1 waits for the replica.
//
//	go test -run '^$' -bench Wait -benchtime 2000x ./persistence/redis/
func BenchmarkWait(b *testing.B) {
	p := redistest.Start(b)
	r := redistest.Start(b, redistest.WithReplicaOf(p))
	r.WaitSynced(b, wait)
	for _, n := range []int{0, 1} {
		b.Run(fmt.Sprintf("wait=%d", n), func(b *testing.B) {
			s := mustOpen(b, p, redis.Options{Prefix: fmt.Sprintf("w%d", n), NodeID: "a", WaitReplicas: n})
			ctx := context.Background()
			for b.Loop() {
				b.StopTimer()
				bt, ev := newBatch(b, 2)
				b.StartTimer()
				if err := s.Create(ctx, bt, ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPrimary: how many images one Redis primary (with a replica,
// every write waiting for it) takes when the store's work for an image is
// all there is: per batch of 2, Create and Fence; per image Claim, the
// processing and the completed AppendFenced (done with the last) and Ack,
// as a node does. 32 workers, each a node of its own (own prefix: its own
// queue), on this machine's cores alongside Redis; it reports images/s,
// the primary's CPU time per image (INFO's used_cpu_sys + used_cpu_user,
// all its threads), its commands per image and the share of one core it
// used, from which the
// README works out where one primary is the bottleneck.
//
//	go test -run '^$' -bench Primary -benchtime 20000x ./persistence/redis/
func BenchmarkPrimary(b *testing.B) {
	p := redistest.Start(b)
	r := redistest.Start(b, redistest.WithReplicaOf(p))
	r.WaitSynced(b, wait)
	rdb := rawClient(b, p)
	const workers, perBatch = 32, 2
	stores := make([]*redis.Store, workers)
	for i := range stores {
		stores[i] = mustOpen(b, p, redis.Options{Prefix: fmt.Sprintf("p%d", i), NodeID: "a", WaitReplicas: 1})
	}
	cpu := func() float64 {
		info := rdb.Info(context.Background(), "cpu").Val()
		var sum float64
		for line := range strings.SplitSeq(info, "\n") {
			k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
			if k == "used_cpu_sys" || k == "used_cpu_user" {
				f, _ := strconv.ParseFloat(v, 64)
				sum += f
			}
		}
		return sum
	}
	calls := func() float64 {
		info := rdb.Info(context.Background(), "commandstats").Val()
		var sum float64
		for line := range strings.SplitSeq(info, "\n") {
			if _, v, ok := strings.Cut(line, "calls="); ok {
				n, _, _ := strings.Cut(v, ",")
				f, _ := strconv.ParseFloat(n, 64)
				sum += f
			}
		}
		return sum
	}
	ctx := context.Background()
	var next atomic.Int64
	b.ResetTimer()
	cpu0, calls0, start := cpu(), calls(), time.Now()
	var wg sync.WaitGroup
	for _, s := range stores {
		wg.Go(func() {
			for next.Add(perBatch) <= int64(b.N)+perBatch-1 {
				bt, ev := newBatch(b, perBatch)
				if err := s.Create(ctx, bt, ev); err != nil {
					b.Error(err)
					return
				}
				tok, err := s.Fence(ctx, bt.ID)
				if err != nil {
					b.Error(err)
					return
				}
				for range perBatch {
					j, err := s.Claim(ctx)
					if err != nil {
						b.Error(err)
						return
					}
					proc := persistence.Event{Type: persistence.EventProcessing, BatchID: j.BatchID, ImageID: j.ImageID}
					done := persistence.Event{Type: persistence.EventCompleted, BatchID: j.BatchID, ImageID: j.ImageID, Width: 100, Height: 100, Bytes: 3000}
					for _, e := range []persistence.Event{proc, done} {
						if _, _, err := s.AppendFenced(ctx, j.BatchID, tok, e); err != nil {
							b.Error(err)
							return
						}
					}
					if err := s.Ack(ctx, j); err != nil {
						b.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	wall, used, cmds := time.Since(start), cpu()-cpu0, calls()-calls0-1
	b.StopTimer()
	images := float64(b.N)
	b.ReportMetric(cmds/images, "redis-cmds/image")
	b.ReportMetric(images/wall.Seconds(), "images/s")
	b.ReportMetric(used/images*1e6, "redis-µs/image")
	b.ReportMetric(used/wall.Seconds()*100, "redis-%cpu")
}
