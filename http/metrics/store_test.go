package metrics_test

import (
	"path/filepath"
	"testing"

	"github.com/backlot/backlot/http/metrics"
	"github.com/backlot/backlot/persistence"
	"github.com/backlot/backlot/persistence/bolt"
	"github.com/backlot/backlot/persistence/redis"
	"github.com/backlot/backlot/persistence/redis/redistest"
)

// TestStoreKeepsFencer: the timing wrapper is a Fencer exactly when the
// store it wraps is one, so a cluster's supervisors still fence through it.
func TestStoreKeepsFencer(t *testing.T) {
	m := metrics.New()
	b, err := bolt.Open(filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, ok := m.Store(b).(persistence.Fencer); ok {
		t.Error("the wrapped bolt store claims to fence")
	}
	srv := redistest.Start(t)
	r, err := redis.Open(t.Context(), redis.Options{URL: srv.URL, NodeID: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w := m.Store(r)
	f, ok := w.(persistence.Fencer)
	if !ok {
		t.Fatal("the wrapped Redis store does not fence")
	}
	if _, err := f.Fence(t.Context(), "no-such-batch"); err == nil {
		t.Error("Fence of an unknown batch: no error")
	}
}
