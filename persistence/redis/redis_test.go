package redis_test

import (
	"cmp"
	"context"
	"errors"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/redis"
	"github.com/backlot/backlot/persistence/redis/redistest"
	"github.com/backlot/backlot/persistence/storetest"
)

// TestStore runs the conformance suite on one redis-server. Each subtest
// gets a key prefix of its own ("t1", "t2" …) instead of a flushed database,
// so subtests never see each other's keys; its Opener always opens the same
// prefix and node id, so a reopen sees the data and takes back its own
// in-flight jobs, as a restarted node does.
func TestStore(t *testing.T) {
	srv := redistest.Start(t)
	runSuite(t, redis.Options{URL: storeURL(srv), NodeID: "node-a"})
}

// runSuite runs the conformance suite on stores opened with o, each
// subtest under a key prefix of its own ("t1", "t2" …).
func runSuite(t *testing.T, o redis.Options) {
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		o := o
		o.Prefix = "t" + strconv.FormatInt(n.Add(1), 10)
		return func(t *testing.T) persistence.Store {
			t.Helper()
			s, err := redis.Open(t.Context(), o)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}

// TestKeyLayout pins the keys doc.go promises operators: their names, types
// and the lease's expiry.
func TestKeyLayout(t *testing.T) {
	srv := redistest.Start(t)
	s := mustOpen(t, srv, redis.Options{Prefix: "lay", NodeID: "n1", LeaseTTL: 10 * time.Second})
	b := create(t, s, 2)
	j := claim(t, s)
	rdb, ctx := rawClient(t, srv), t.Context()
	fin, at := create(t, s, 1), time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC)
	last := completed(fin, 0)
	last.At = at // done, which the store adds, takes the last event's time
	evs := []persistence.Event{processing(fin, 0), last}
	if _, _, err := s.Append(ctx, fin.ID, evs...); err != nil {
		t.Fatal(err)
	}

	want := map[string]string{
		"lay:batch:{" + b.ID + "}":    "string",
		"lay:events:{" + b.ID + "}":   "list",
		"lay:batch:{" + fin.ID + "}":  "string",
		"lay:events:{" + fin.ID + "}": "list",
		"lay:unfinished":              "set",
		"lay:done":                    "zset",
		"lay:pending":                 "list",
		"lay:processing:n1":           "list",
		"lay:lease:n1":                "string",
		"lay:nodes":                   "set",
	}
	keys, err := rdb.Keys(ctx, "lay:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	var wantKeys []string
	for k := range want {
		wantKeys = append(wantKeys, k)
	}
	slices.Sort(wantKeys)
	if !slices.Equal(keys, wantKeys) {
		t.Fatalf("keys = %q\nwant %q", keys, wantKeys)
	}
	for k, typ := range want {
		if got := rdb.Type(ctx, k).Val(); got != typ {
			t.Errorf("TYPE %s = %s, want %s", k, got, typ)
		}
	}
	if ttl := rdb.PTTL(ctx, "lay:lease:n1").Val(); ttl <= 0 || ttl > 10*time.Second {
		t.Errorf("lease PTTL = %s, want within (0, 10s]", ttl)
	}
	for _, k := range []string{"lay:batch:{" + b.ID + "}", "lay:events:{" + b.ID + "}"} {
		if ttl := rdb.PTTL(ctx, k).Val(); ttl >= 0 {
			t.Errorf("PTTL %s = %s: a batch and its log must not expire", k, ttl)
		}
	}
	if got := rdb.ZRangeWithScores(ctx, "lay:done", 0, -1).Val(); len(got) != 1 || got[0].Member != fin.ID || got[0].Score != float64(at.UnixMicro()) {
		t.Errorf("done index = %+v, want %s scored %d (DoneAt in µs)", got, fin.ID, at.UnixMicro())
	}
	if n := rdb.LLen(ctx, "lay:events:{"+b.ID+"}").Val(); n != 1 {
		t.Errorf("log length = %d, want 1 (queued)", n)
	}
	if got := rdb.LRange(ctx, "lay:processing:n1", 0, -1).Val(); len(got) != 1 || !strings.Contains(got[0], j.ImageID) {
		t.Errorf("processing list = %q, want the claimed job %v", got, j)
	}
	if got := rdb.LRange(ctx, "lay:pending", 0, -1).Val(); len(got) != 2 || !strings.Contains(got[0], b.Images[1].ID) || !strings.Contains(got[1], fin.Images[0].ID) {
		t.Errorf("pending = %q, want b's image 1, then fin's job", got)
	}
	if !rdb.SIsMember(ctx, "lay:nodes", "n1").Val() || !slices.Equal(rdb.SMembers(ctx, "lay:unfinished").Val(), []string{b.ID}) {
		t.Errorf("node set %q, unfinished set %q", rdb.SMembers(ctx, "lay:nodes").Val(), rdb.SMembers(ctx, "lay:unfinished").Val())
	}
}

// TestOpenErrors: an unreachable Redis is ErrUnavailable with a clear
// message; invalid options are refused before dialling; a bad URL's
// password never reaches the error.
func TestOpenErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	ln.Close() // nothing listens there now

	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	_, err = redis.Open(ctx, redis.Options{URL: "redis://" + deadAddr + "/0?dial_timeout=1s"})
	if !errors.Is(err, persistence.ErrUnavailable) || !strings.Contains(err.Error(), "does not answer") {
		t.Errorf("Open of a closed port = %v, want ErrUnavailable saying it does not answer", err)
	}
	t.Logf("unreachable: %v", err)

	for _, tc := range []struct {
		name string
		o    redis.Options
		want string
	}{
		{"braces in prefix", redis.Options{Prefix: "a{b}"}, "hash tags"},
		{"space in node id", redis.Options{NodeID: "node 1"}, "node id"},
		{"lease too short", redis.Options{LeaseTTL: time.Millisecond}, "minimum"},
		{"bad URL", redis.Options{URL: "redis://user:s3cret@[::1/0"}, "not a valid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.URL = cmp.Or(tc.o.URL, "redis://"+deadAddr+"/0")
			_, err := redis.Open(ctx, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open = %v, want an error about %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

// TestClaimCanceledHandsBack: a job pushed while a canceled Claim is still
// blocked on the server is taken by that BLMOVE; Claim must hand it back to
// the front of the queue rather than keep it in flight.
func TestClaimCanceledHandsBack(t *testing.T) {
	srv := redistest.Start(t)
	s := mustOpen(t, srv, redis.Options{Prefix: "hb", NodeID: "a"})
	rdb := rawClient(t, srv)

	ctx, cancel := context.WithCancel(t.Context())
	got := goClaim(ctx, s)
	waitBlocked(t, rdb, 1)
	cancel()
	b := create(t, s, 2) // most likely taken by the BLMOVE still blocked
	if r := recv(t, got, "canceled Claim"); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("canceled Claim = %v, %v; want context.Canceled", r.job, r.err)
	}
	depth(t, s, 2, 0)
	for i := range 2 {
		if j := claim(t, s); j != jobOf(b, i) {
			t.Fatalf("claimed %v, want %v: the handed-back job keeps its place", j, jobOf(b, i))
		}
	}
}

// TestAppendLeavesCallerEvents: Append assigns seqs to copies (the WATCH loop
// may apply the events more than once), and an empty Append writes nothing.
func TestAppendLeavesCallerEvents(t *testing.T) {
	srv := redistest.Start(t)
	s := mustOpen(t, srv, redis.Options{Prefix: "ev", NodeID: "a"})
	b := create(t, s, 2)
	evs := []persistence.Event{processing(b, 0), completed(b, 0)}
	orig := slices.Clone(evs)
	got, nb, err := s.Append(t.Context(), b.ID, evs...)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(evs, orig) {
		t.Errorf("Append changed the caller's events: %+v", evs)
	}
	if got[0].Seq != 2 || got[1].Seq != 3 || nb.LastSeq != 3 {
		t.Errorf("seqs %d, %d, LastSeq %d; want 2, 3, 3", got[0].Seq, got[1].Seq, nb.LastSeq)
	}
	if got, nb, err := s.Append(t.Context(), b.ID); err != nil || len(got) != 0 || nb.LastSeq != 3 {
		t.Errorf("empty Append = %v, %+v, %v; want no events and the batch", got, nb, err)
	}
}
