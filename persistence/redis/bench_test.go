package redis_test

import (
	"testing"

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
