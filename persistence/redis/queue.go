package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/backlot/backlot/persistence"
	goredis "github.com/redis/go-redis/v9"
)

// claimBlock is how long one BLMOVE waits on the server for work. Redis
// hands a job to a blocked BLMOVE the moment it is pushed, so this is not a
// polling interval: it only bounds how late Claim notices its ctx ending
// (go-redis never cuts a reply off on ctx, by our choice; see Open). Close
// does not wait for it: closing the client breaks the blocked read.
const claimBlock = time.Second

// moveIfPresent moves one in-flight job back to pending, to the back
// (Requeue) or, with ARGV[2] = "front", to the front (a claim handed back).
// Only a job found in flight moves, so a job is never pending twice.
var moveIfPresent = goredis.NewScript(`
local n = redis.call('LREM', KEYS[1], 0, ARGV[1])
if n > 0 then
	if ARGV[2] == 'front' then
		redis.call('LPUSH', KEYS[2], ARGV[1])
	else
		redis.call('RPUSH', KEYS[2], ARGV[1])
	end
end
return n
`)

// Claim moves the oldest pending job to this node's processing list
// (BLMOVE pending → processing:<node>, LEFT to RIGHT) and returns it. With
// nothing pending it waits until a job is pushed, ctx ends (ctx.Err()) or
// the store is closed (persistence.ErrClosed). Redis runs each BLMOVE alone,
// so every job goes to exactly one claimer, on any node.
//
// When Redis cannot be reached, Claim returns an error wrapping
// persistence.ErrUnavailable at once rather than spinning; the caller backs
// off. A job that arrives just as ctx ends is put back at the front of the
// queue, so an abandoned Claim never holds one.
func (s *Store) Claim(ctx context.Context) (persistence.Job, error) {
	for {
		if err := s.begin(ctx); err != nil {
			return persistence.Job{}, err
		}
		v, err := s.rdb.BLMove(ctx, s.k.pending, s.k.processing, "LEFT", "RIGHT", claimBlock).Result()
		if errors.Is(err, goredis.Nil) {
			continue // nothing within claimBlock: look at ctx and Close again
		}
		if err != nil {
			return persistence.Job{}, s.fail("claim job", err)
		}
		s.hold(v) // a job that does not decode stays held: in flight until an operator looks
		if err := s.begin(ctx); err != nil {
			s.handBack(ctx, v)
			return persistence.Job{}, err
		}
		var j persistence.Job
		if err := json.Unmarshal([]byte(v), &j); err != nil {
			// Left in flight: it goes back to pending when this node reopens,
			// and is an operator's matter, not a worker's.
			return persistence.Job{}, fmt.Errorf("claim job: decode %q: %w: %w", v, errCorrupt, err)
		}
		return j, nil
	}
}

// handBack returns a job claimed for a caller that has gone to the front of
// pending, where it was. If that fails (the store closing, Redis gone) the
// job stays in flight here and is redelivered by the next sweeps
// (SweepNow), when this node reopens, or by another node once this node's
// lease expires: later, never lost.
func (s *Store) handBack(ctx context.Context, v string) {
	s.unhold(v)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), claimBlock)
	defer cancel()
	err := moveIfPresent.Run(ctx, s.rdb, []string{s.k.processing, s.k.pending}, v, "front").Err()
	if err != nil && !s.closed.Load() {
		s.log.Warn("could not hand back a job claimed for a caller that left; it stays in flight until redelivered", "job", v, "err", err)
	}
}

// Ack removes j from this node's processing list for good (LREM). A job not
// in flight here (acked already, never claimed, or requeued by a reaper
// after this node's lease expired) is left alone and is not an error. An
// Ack that fails leaves the job in flight with no claim of this process
// on it: the sweeps redeliver it, and its log settles it.
func (s *Store) Ack(ctx context.Context, j persistence.Job) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	v, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("ack job %s: %w", j, err)
	}
	s.unhold(string(v))
	return s.fail(fmt.Sprintf("ack job %s", j), s.rdb.LRem(ctx, s.k.processing, 0, v).Err())
}

// Requeue moves j from this node's processing list to the back of the
// pending queue, atomically (a script: LREM, and RPUSH only if something
// was removed). A job that is not in flight here is left alone and is not
// an error: enqueueing it anyway could hand out a job that is still
// pending, or one acked already, a second time.
func (s *Store) Requeue(ctx context.Context, j persistence.Job) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	v, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("requeue job %s: %w", j, err)
	}
	s.unhold(string(v))
	err = moveIfPresent.Run(ctx, s.rdb, []string{s.k.processing, s.k.pending}, v, "back").Err()
	return s.fail(fmt.Sprintf("requeue job %s", j), err)
}
