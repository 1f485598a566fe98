package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/backlot/backlot/persistence"
)

// Store wraps st so that each call's latency is observed by operation and
// result. Claim is not timed (it blocks until work arrives); the optional
// Pinger, QueueStats and Retainer pass through, and the wrapper is a
// persistence.Fencer exactly when st is one (the supervisors of a cluster
// look for it).
func (m *Metrics) Store(st persistence.Store) persistence.Store {
	t := &timedStore{Store: st, m: m}
	if f, ok := st.(persistence.Fencer); ok {
		return &fencedStore{timedStore: t, f: f}
	}
	return t
}

// fencedStore is timedStore for a store that fences.
type fencedStore struct {
	*timedStore
	f persistence.Fencer
}

var _ persistence.Fencer = (*fencedStore)(nil)

func (s *fencedStore) Fence(ctx context.Context, id string) (uint64, error) {
	start := time.Now()
	t, err := s.f.Fence(ctx, id)
	s.observe("fence", start, ignoreNotFound(err))
	return t, err
}

func (s *fencedStore) AppendFenced(ctx context.Context, id string, token uint64, evs ...persistence.Event) ([]persistence.Event, *persistence.Batch, error) {
	start := time.Now()
	out, b, err := s.f.AppendFenced(ctx, id, token, evs...)
	s.observe("append", start, err)
	return out, b, err
}

type timedStore struct {
	persistence.Store
	m *Metrics
}

var (
	_ persistence.Pinger     = (*timedStore)(nil)
	_ persistence.QueueStats = (*timedStore)(nil)
	_ persistence.Retainer   = (*timedStore)(nil)
)

func (s *timedStore) observe(op string, start time.Time, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	s.m.storeSeconds.WithLabelValues(op, result).Observe(time.Since(start).Seconds())
}

func (s *timedStore) Create(ctx context.Context, b *persistence.Batch, q persistence.Event) error {
	start := time.Now()
	err := s.Store.Create(ctx, b, q)
	s.observe("create", start, err)
	return err
}

func (s *timedStore) Batch(ctx context.Context, id string) (*persistence.Batch, error) {
	start := time.Now()
	b, err := s.Store.Batch(ctx, id)
	s.observe("batch", start, ignoreNotFound(err))
	return b, err
}

func (s *timedStore) Events(ctx context.Context, id string, after uint64) ([]persistence.Event, error) {
	start := time.Now()
	evs, err := s.Store.Events(ctx, id, after)
	s.observe("events", start, ignoreNotFound(err))
	return evs, err
}

func (s *timedStore) Append(ctx context.Context, id string, evs ...persistence.Event) ([]persistence.Event, *persistence.Batch, error) {
	start := time.Now()
	out, b, err := s.Store.Append(ctx, id, evs...)
	s.observe("append", start, err)
	return out, b, err
}

func (s *timedStore) Ack(ctx context.Context, j persistence.Job) error {
	start := time.Now()
	err := s.Store.Ack(ctx, j)
	s.observe("ack", start, err)
	return err
}

func (s *timedStore) Requeue(ctx context.Context, j persistence.Job) error {
	start := time.Now()
	err := s.Store.Requeue(ctx, j)
	s.observe("requeue", start, err)
	return err
}

// Ping reports the wrapped store's health; a store that cannot tell is
// taken as reachable.
func (s *timedStore) Ping(ctx context.Context) error {
	if p, ok := s.Store.(persistence.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

// QueueDepth counts the wrapped store's queue, if it can.
func (s *timedStore) QueueDepth(ctx context.Context) (int, int, error) {
	if q, ok := s.Store.(persistence.QueueStats); ok {
		return q.QueueDepth(ctx)
	}
	return 0, 0, nil
}

// ignoreNotFound: an unknown id is an answer, not a store failure.
func ignoreNotFound(err error) error {
	if errors.Is(err, persistence.ErrNotFound) {
		return nil
	}
	return err
}

// Expired passes through to a store that supports retention; one that does
// not has nothing that expires.
func (s *timedStore) Expired(ctx context.Context, before time.Time, limit int) ([]string, error) {
	r, ok := s.Store.(persistence.Retainer)
	if !ok {
		return nil, nil
	}
	start := time.Now()
	ids, err := r.Expired(ctx, before, limit)
	s.observe("expired", start, err)
	return ids, err
}

// Delete passes through to a store that supports retention.
func (s *timedStore) Delete(ctx context.Context, id string) error {
	r, ok := s.Store.(persistence.Retainer)
	if !ok {
		return errors.New("this store cannot delete batches")
	}
	start := time.Now()
	err := r.Delete(ctx, id)
	s.observe("delete", start, err)
	return err
}
