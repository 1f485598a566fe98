package persistence

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/backlot/backlot/persistence/blob"
)

// retireBatch is how many expired batches one pass deletes at most, so a
// long backlog is worked off in bounded steps.
const retireBatch = 100

// Retire deletes every batch done before cut: first from st (so no client
// is told of objects that are gone), then its objects in blobs
// (DeletePrefix of the batch). Objects of a batch deleted from st but not
// from blobs (a crash in between, or the blob store unreachable) are
// removed by the sweep of unrecorded batches (SweepOrphans). It returns
// how many it deleted.
func Retire(ctx context.Context, st Store, blobs blob.Store, cut time.Time) (int, error) {
	deleted := 0
	for {
		ids, err := st.Expired(ctx, cut, retireBatch)
		if err != nil {
			return deleted, err
		}
		for _, id := range ids {
			if err := st.Delete(ctx, id); err != nil {
				return deleted, err
			}
			if err := blobs.DeletePrefix(ctx, blob.BatchPrefix(id)); err != nil {
				return deleted, fmt.Errorf("delete batch %s's objects: %w", id, err)
			}
			deleted++
		}
		if len(ids) < retireBatch {
			return deleted, nil
		}
	}
}

// Janitor runs Retire for batches done more than a period ago, every
// period/10 (at least every second, at most hourly) unless told otherwise.
type Janitor struct {
	stop context.CancelFunc
	done chan struct{}
}

// StartJanitor starts a janitor; every <= 0 takes the default pace.
func StartJanitor(st Store, blobs blob.Store, period, every time.Duration, log *slog.Logger) *Janitor {
	if every <= 0 {
		every = min(max(period/10, time.Second), time.Hour)
	}
	return startLoop(every, func(ctx context.Context) {
		n, err := Retire(ctx, st, blobs, time.Now().Add(-period))
		if err != nil && ctx.Err() == nil {
			log.Warn("retention sweep", "err", err, "deleted", n)
		} else if n > 0 {
			log.Info("retention: deleted finished batches", "count", n, "older_than", period)
		}
	})
}

// startLoop runs pass every period on a goroutine of its own until Stop.
func startLoop(every time.Duration, pass func(ctx context.Context)) *Janitor {
	ctx, cancel := context.WithCancel(context.Background())
	j := &Janitor{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(j.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			pass(ctx)
		}
	}()
	return j
}

// Stop stops the janitor and waits for a pass under way to end.
func (j *Janitor) Stop() {
	j.stop()
	<-j.done
}
