package bench

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// stats aggregates the outcomes of one phase. Only the run loop touches it.
type stats struct {
	batches, batchesDone          int
	sent, accepted                int
	completed, failed, unfinished int
	retries                       int
	uploads, completions          []time.Duration
	lags                          []time.Duration            // open loop: start - scheduled
	queue, work, finish           []time.Duration            // per done batch: 202 → first processing → last terminal → done
	server                        map[string][]time.Duration // the 202s' Server-Timing metrics by name
	splits                        []split                    // per done batch, for the tail
	first, last                   time.Time
	errs                          map[string]*ErrorCount
	errTotal                      int
	interrupted                   bool
}

func newStats() *stats { return &stats{errs: map[string]*ErrorCount{}} }

func (s *stats) add(o outcome) {
	s.batches++
	s.sent += o.images
	s.retries += o.retries
	if !o.start.IsZero() && (s.first.IsZero() || o.start.Before(s.first)) {
		s.first = o.start
	}
	if !o.scheduled.IsZero() && !o.start.IsZero() {
		s.lags = append(s.lags, o.start.Sub(o.scheduled))
	}
	if o.uploaded {
		s.accepted += o.images
		s.uploads = append(s.uploads, o.upload)
		for _, t := range o.serverTiming {
			if s.server == nil {
				s.server = map[string][]time.Duration{}
			}
			s.server[t.name] = append(s.server[t.name], t.dur)
		}
	}
	if o.done && !o.firstWork.IsZero() && !o.lastTerm.IsZero() {
		accepted := o.start.Add(o.upload)
		s.queue = append(s.queue, max(o.firstWork.Sub(accepted), 0))
		s.work = append(s.work, o.lastTerm.Sub(o.firstWork))
		s.finish = append(s.finish, o.end.Sub(o.lastTerm))
		sp := split{start: o.start, upload: o.upload, queue: max(o.firstWork.Sub(accepted), 0), work: o.lastTerm.Sub(o.firstWork),
			finish: o.end.Sub(o.lastTerm), completion: o.completion}
		if !o.scheduled.IsZero() {
			sp.lag = o.start.Sub(o.scheduled)
		}
		s.splits = append(s.splits, sp)
	}
	switch {
	case o.done:
		s.batchesDone++
		s.completed += o.completed
		s.failed += o.failed
		s.completions = append(s.completions, o.completion)
		if o.end.After(s.last) {
			s.last = o.end
		}
	case o.uploaded:
		s.unfinished += o.images
	}
	if o.interrupted {
		s.interrupted = true
	}
	for _, f := range o.failures {
		s.fail(f)
	}
}

func (s *stats) fail(f failure) {
	s.errTotal++
	e := s.errs[f.kind]
	if e == nil {
		e = &ErrorCount{Kind: f.kind, Example: f.detail}
		s.errs[f.kind] = e
	}
	e.Count++
}

// wall is first upload start to last done; zero before any done.
func (s *stats) wall() time.Duration {
	if s.last.IsZero() || s.first.IsZero() {
		return 0
	}
	return s.last.Sub(s.first)
}

// rate is completed images per second of wall time. Failed images do not
// count: a server that fails fast must not look fast.
func rate(completed int, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return float64(completed) / wall.Seconds()
}

// errors lists the error kinds, most frequent first; never nil, so the
// JSON says [] rather than null.
func (s *stats) errors() []ErrorCount {
	out := make([]ErrorCount, 0, len(s.errs))
	for _, e := range s.errs {
		out = append(out, *e)
	}
	slices.SortFunc(out, func(a, b ErrorCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Kind, b.Kind))
	})
	return out
}

// ErrorCount is one kind of error and how often it happened.
type ErrorCount struct {
	Kind    string `json:"kind"`    // e.g. "upload: http 503 queue_full", "sse: stream ended before done"
	Count   int    `json:"count"`   //
	Example string `json:"example"` // the first one's detail
}

// Latency summarises durations, in milliseconds.
type Latency struct {
	N    int     `json:"n"`
	P50  float64 `json:"p50_ms"`
	P95  float64 `json:"p95_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

// Summarize computes a Latency; it sorts ds in place.
func Summarize(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return Latency{
		N:    len(ds),
		P50:  ms(Percentile(ds, 50)),
		P95:  ms(Percentile(ds, 95)),
		P99:  ms(Percentile(ds, 99)),
		Max:  ms(ds[len(ds)-1]),
		Mean: ms(sum / time.Duration(len(ds))),
	}
}

// Percentile is the nearest-rank p-th percentile (0 < p <= 100) of sorted:
// the smallest value with at least p% of the values at or below it. It is
// always one of the measured values, never an interpolation; 0 for none.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p * float64(len(sorted)) / 100)) // p*n first: 0.95 is inexact
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// split is one done batch's time by stage.
type split struct {
	start                                        time.Time
	completion, lag, upload, queue, work, finish time.Duration
}

// Tail splits the slowest batches' time by stage: those whose completion
// (to done; open loop: from the schedule) was at or over its p99, each
// stage's mean over them, against the same over every done batch. The
// stages add up to the completion.
type Tail struct {
	P99Ms   float64    `json:"p99_ms"`
	N       int        `json:"n"`       // batches at or over the p99
	Slowest StageSplit `json:"slowest"` // means over those
	All     StageSplit `json:"all"`     // means over every done batch
	// At is when each of those started, in seconds from the phase's
	// first upload: slow batches bunched together point at the machine
	// (a stall, another process), spread out at the batches themselves.
	At []float64 `json:"at_s"`
}

// StageSplit is a mean batch's time by stage, in milliseconds.
type StageSplit struct {
	Completion float64 `json:"completion_ms"`
	StartLag   float64 `json:"start_lag_ms"` // open loop: started after its schedule
	Upload     float64 `json:"upload_ms"`    // upload start to 202
	Queue      float64 `json:"queue_ms"`     // 202 to the first processing
	Work       float64 `json:"work_ms"`      // to the last completed or failed
	Finish     float64 `json:"finish_ms"`    // to done
}

// tail is nil with no done batch.
func (s *stats) tail() *Tail {
	if len(s.splits) == 0 {
		return nil
	}
	cs := make([]time.Duration, len(s.splits))
	for i, sp := range s.splits {
		cs[i] = sp.completion
	}
	slices.Sort(cs)
	p99 := Percentile(cs, 99)
	var slow []split
	at := []float64{}
	for _, sp := range s.splits {
		if sp.completion >= p99 {
			slow = append(slow, sp)
			at = append(at, math.Round(sp.start.Sub(s.first).Seconds()*1000)/1000)
		}
	}
	slices.Sort(at)
	return &Tail{P99Ms: ms(p99), N: len(slow), Slowest: meanSplit(slow), All: meanSplit(s.splits), At: at}
}

func meanSplit(sps []split) StageSplit {
	var sum split
	for _, sp := range sps {
		sum.completion += sp.completion
		sum.lag += sp.lag
		sum.upload += sp.upload
		sum.queue += sp.queue
		sum.work += sp.work
		sum.finish += sp.finish
	}
	n := time.Duration(len(sps))
	return StageSplit{
		Completion: ms(sum.completion / n), StartLag: ms(sum.lag / n), Upload: ms(sum.upload / n),
		Queue: ms(sum.queue / n), Work: ms(sum.work / n), Finish: ms(sum.finish / n),
	}
}
