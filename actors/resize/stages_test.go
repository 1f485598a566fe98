package resize

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/backlot/backlot/persistence"
)

// stageRecorder is a StageWatcher that keeps what it hears.
type stageRecorder struct {
	mu    sync.Mutex
	names []string
	took  []time.Duration
}

func (r *stageRecorder) ResizeStage(stage string, took time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.names = append(r.names, stage)
	r.took = append(r.took, took)
}

func (r *stageRecorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.names, r.took = nil, nil
}

// TestStages: a successful Process tells its watcher each stage once, in
// order, and the stages add up to no more than the call; a failed
// attempt and a Rebuild tell it nothing.
func TestStages(t *testing.T) {
	dir := t.TempDir()
	src := writeFile(t, dir, "src.jpg", encodeAs(t, "jpeg", Synthetic(640, 480, 1)))
	opts := persistence.Options{Width: 100, Height: 100}
	rec := &stageRecorder{}
	for _, lim := range []Limits{
		{Stages: rec}, // on the caller's goroutine
		{Stages: rec, Timeout: time.Minute, Budget: NewBudget(64<<20, 1)}, // on a goroutine of its own, through the budget
	} {
		rec.reset()
		start := time.Now()
		if _, err := processFile(src, filepath.Join(dir, "out.jpg"), opts, lim); err != nil {
			t.Fatal(err)
		}
		call := time.Since(start)
		want := []string{StageAdmit, StageDecode, StageResize, StageEncode, StageWrite}
		if len(rec.names) != len(want) {
			t.Fatalf("stages %v, want %v", rec.names, want)
		}
		var sum time.Duration
		for i, n := range want {
			if rec.names[i] != n || rec.took[i] < 0 {
				t.Errorf("stage %d: %s %v, want %s", i, rec.names[i], rec.took[i], n)
			}
			sum += rec.took[i]
		}
		if sum > call || rec.took[1] == 0 {
			t.Errorf("stages %v add up to %v, the call took %v", rec.took, sum, call)
		}
	}

	rec.reset()
	bad := writeFile(t, dir, "bad.jpg", []byte("\xff\xd8\xff\xe0 not a JPEG after all"))
	if _, err := processFile(bad, filepath.Join(dir, "bad-out.jpg"), opts, Limits{Stages: rec}); err == nil {
		t.Fatal("a broken JPEG processed")
	}
	f, err := openFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Rebuild(f, fileOutput(filepath.Join(dir, "again.jpg")), opts, persistence.DefaultVariant, Limits{Stages: rec}); err != nil {
		t.Fatal(err)
	}
	if len(rec.names) != 0 {
		t.Errorf("a failure and a rebuild told the watcher %v", rec.names)
	}
}
