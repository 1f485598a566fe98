package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/backlot/backlot/persistence"
)

// Store wraps st so that each call's latency is observed by operation and
// result. Claim is not timed (it blocks until work arrives). Every method
// of persistence.Store passes through to st: the contract has no optional
// parts a wrapper could hide.
func (m *Metrics) Store(st persistence.Store) persistence.Store {
	return &timedStore{Store: st, m: m}
}

type timedStore struct {
	persistence.Store
	m *Metrics
}

func (s *timedStore) Fence(ctx context.Context, id string) (uint64, error) {
	start := time.Now()
	t, err := s.Store.Fence(ctx, id)
	s.observe("fence", start, ignoreNotFound(err))
	return t, err
}

func (s *timedStore) AppendFenced(ctx context.Context, id string, token uint64, evs ...persistence.Event) ([]persistence.Event, *persistence.Batch, error) {
	start := time.Now()
	out, b, err := s.Store.AppendFenced(ctx, id, token, evs...)
	s.observe("append", start, err)
	return out, b, err
}

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

// ignoreNotFound: an unknown id is an answer, not a store failure.
func ignoreNotFound(err error) error {
	if errors.Is(err, persistence.ErrNotFound) {
		return nil
	}
	return err
}

func (s *timedStore) Expired(ctx context.Context, before time.Time, limit int) ([]string, error) {
	start := time.Now()
	ids, err := s.Store.Expired(ctx, before, limit)
	s.observe("expired", start, err)
	return ids, err
}

func (s *timedStore) Delete(ctx context.Context, id string) error {
	start := time.Now()
	err := s.Store.Delete(ctx, id)
	s.observe("delete", start, err)
	return err
}
