package resize

import "time"

// Stage names, as StageWatcher hears them and /metrics labels them.
const (
	StageAdmit  = "admit"  // from Process's call to the work's start: the header probe, the footprint, the wait for the decode budget, the hand-off to a worker
	StageDecode = "decode" // the colour profile and the decode to pixels (DCT-scaled), the source dropped from the cache
	StageResize = "resize" // the resample (Lanczos passes), the colour transform, the conversion for the encoder, every output
	StageEncode = "encode" // the encoder, every output, but its writes into the store
	StageWrite  = "write"  // in the blob store: creating each output, writing its bytes, committing it
)

// StageWatcher hears where a successful Process spent its time, stage by
// stage (the Stage constants), once per stage per attempt, from the
// goroutine that ran it: it must be cheap and safe for concurrent use.
// The stages follow one another, so their sum is the attempt's time from
// Process's call to its commit.
type StageWatcher interface {
	ResizeStage(stage string, took time.Duration)
}

// stageTimes adds up one attempt's stages.
type stageTimes struct {
	admit, decode, resize, encode, write time.Duration
}

// lap adds the time since t to *d and returns now.
func (s *stageTimes) lap(d *time.Duration, t time.Time) time.Time {
	now := time.Now()
	*d += now.Sub(t)
	return now
}

func (s *stageTimes) tell(w StageWatcher) {
	w.ResizeStage(StageAdmit, s.admit)
	w.ResizeStage(StageDecode, s.decode)
	w.ResizeStage(StageResize, s.resize)
	w.ResizeStage(StageEncode, s.encode)
	w.ResizeStage(StageWrite, s.write)
}
