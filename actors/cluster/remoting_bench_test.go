package cluster_test

import (
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anthdm/hollywood/actor"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/backlot/backlot/actors/cluster"
	"github.com/backlot/backlot/actors/clusterpb"
)

// BenchmarkRemotingPerImage measures what clustering adds per image when
// the node that claims a job is not its batch's owner (the common case
// with n nodes: (n-1)/n of the jobs), over real Hollywood remoting on
// 127.0.0.1 between two engines: the claiming pool sends Claimed; the
// supervisor sends Work back, and a Delivery of the processing event to a
// subscriber on the claiming node; the pool sends WorkDone; the supervisor
// sends a Delivery of the completed event and Settle. Six messages per
// image, the whole chain each time.
//
// Reported per image: µs of wall time (serial: one image at a time, the
// latency the chain adds; window8: eight in flight, as eight resizers
// would keep them), CPU µs of the whole process (both engines, user+sys),
// proto payload bytes, and bytes written to sockets (from /proc/self/io
// wchar: payload plus Hollywood's envelope and framing, both directions).
//
//	go test -run '^$' -bench RemotingPerImage -benchtime 3000x ./actors/cluster/
func BenchmarkRemotingPerImage(b *testing.B) {
	for _, window := range []int{1, 8} {
		name := "serial"
		if window > 1 {
			name = "window" + strconv.Itoa(window)
		}
		b.Run(name, func(b *testing.B) { benchChain(b, window) })
	}
}

func benchChain(b *testing.B, window int) {
	a, s := benchNode(b, "a"), benchNode(b, "s")
	settled := make(chan struct{}, window)
	var payload atomic.Int64
	send := func(e *actor.Engine, to *actor.PID, m proto.Message) {
		payload.Add(int64(proto.Size(m)))
		e.Send(to, m)
	}
	batch := uuid.NewString()
	opts := &clusterpb.Options{Width: 200, Height: 200, Fit: "cover", Format: "jpeg", Quality: 85}

	var sub, pool, sup *actor.PID
	sub = a.Engine().SpawnFunc(func(c *actor.Context) {}, "subscriber")
	pool = a.Engine().SpawnFunc(func(c *actor.Context) {
		switch m := c.Message().(type) {
		case *clusterpb.Work:
			send(c.Engine(), sup, &clusterpb.WorkDone{
				Job: m.GetJob(), Attempt: m.GetAttempt(), Width: 200, Height: 150, Bytes: 12345,
				Took: durationpb.New(42 * time.Millisecond), Pool: c.PID(),
			})
		case *clusterpb.Settle:
			settled <- struct{}{}
		}
	}, "pool")
	sup = s.Engine().SpawnFunc(func(c *actor.Context) {
		now := timestamppb.Now()
		switch m := c.Message().(type) {
		case *clusterpb.Claimed:
			j := m.GetJob()
			send(c.Engine(), sub, &clusterpb.Delivery{Events: []*clusterpb.Event{{
				Seq: 2, Type: "processing", BatchId: j.GetBatchId(), ImageId: j.GetImageId(), Attempt: 1, At: now,
			}}})
			send(c.Engine(), m.GetPool(), &clusterpb.Work{Job: j, Opts: opts, Attempt: 1})
		case *clusterpb.WorkDone:
			j := m.GetJob()
			send(c.Engine(), sub, &clusterpb.Delivery{Events: []*clusterpb.Event{{
				Seq: 3, Type: "completed", BatchId: j.GetBatchId(), ImageId: j.GetImageId(),
				Width: 200, Height: 150, Bytes: 12345, At: now,
			}}})
			send(c.Engine(), m.GetPool(), &clusterpb.Settle{Job: j})
		}
	}, "supervisor")
	// The remote PIDs, as the other side builds them.
	supRemote := actor.NewPID(s.Engine().Address(), sup.ID)
	poolRemote := actor.NewPID(a.Engine().Address(), pool.ID)
	sub = actor.NewPID(a.Engine().Address(), sub.ID)
	sup = supRemote

	jobs := make([]*clusterpb.Job, 256)
	for i := range jobs {
		jobs[i] = &clusterpb.Job{BatchId: batch, ImageId: uuid.NewString()}
	}
	claim := func(i int) {
		send(a.Engine(), supRemote, &clusterpb.Claimed{Job: jobs[i%len(jobs)], Pool: poolRemote})
	}
	// Warm up: both connections dialled.
	claim(0)
	<-settled

	payload.Store(0)
	cpu0, w0 := cpuTime(b), wchar(b)
	b.ResetTimer()
	inFlight := 0
	for i := 0; i < b.N; i++ {
		if inFlight == window {
			<-settled
			inFlight--
		}
		claim(i)
		inFlight++
	}
	for ; inFlight > 0; inFlight-- {
		<-settled
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(b.Elapsed().Microseconds())/n, "µs/img")
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/n, "cpu-µs/img")
	b.ReportMetric(float64(payload.Load())/n, "payload-B/img")
	b.ReportMetric(float64(wchar(b)-w0)/n, "wire-B/img")
	b.ReportMetric(0, "ns/op") // µs/img says it
}

func benchNode(b *testing.B, id string) *cluster.Node {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	n, err := cluster.Start(cluster.Config{ID: id, Listen: addr})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { n.Stop() })
	return n
}

// cpuTime is the CPU time (user + system) used by this process so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// wchar is the bytes this process has passed to write-like system calls,
// sockets included (Linux /proc/self/io); 0 where there is no such file.
func wchar(b *testing.B) int64 {
	raw, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "wchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}
