package resize

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/backlot/backlot/actors/resize/turbojpeg"
	"github.com/backlot/backlot/persistence"
)

// needs is what an attempt on the file at path with the default options
// holds when its decoder succeeds, and with image/jpeg's fallback counted.
func needs(t *testing.T, path string) (sure, withFallback int64) {
	t.Helper()
	f, err := openFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	info, cfg, err := probeConfig(f, 0)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := withDefaults(persistence.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	sure, _ = footprintOf(f, info, cfg, opts, false)
	withFallback, _ = footprintOf(f, info, cfg, opts, true)
	return sure, withFallback
}

// budgetWithCeiling is a budget of one slot whose Ceiling is c.
func budgetWithCeiling(c int64) *Budget { return NewBudget(c/2, 1) }

// TestAdmit: an image is admitted exactly while what its decode needs
// (without the fallback's reservation) is within the ceiling; refused,
// the error says how much it needs; Process refuses it too, as permanent,
// and writes nothing.
func TestAdmit(t *testing.T) {
	src := filepath.Join("testdata", "mem-ycck-progressive.jpg") // 1600x1200 progressive YCCK
	sure, _ := needs(t, src)
	admit := func(ceiling int64) error {
		f, err := openFile(src)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		return Admit(f, persistence.DefaultOptions(), 0, ceiling)
	}
	if err := admit(sure + 2); err != nil {
		t.Fatalf("Admit within the ceiling: %v", err)
	}
	err := admit(sure - 2)
	if !errors.Is(err, ErrTooMuchMemory) {
		t.Fatalf("Admit over the ceiling = %v, want ErrTooMuchMemory", err)
	}
	t.Logf("refused: %v", err)
	if err := admit(0); err != nil {
		t.Fatalf("Admit with no ceiling: %v", err)
	}

	dst := filepath.Join(t.TempDir(), "out.jpg")
	_, err = processFile(src, dst, persistence.DefaultOptions(), Limits{Budget: budgetWithCeiling(sure - 2)})
	if !errors.Is(err, ErrTooMuchMemory) || !Permanent(err) {
		t.Fatalf("Process over the ceiling = %v, want a permanent ErrTooMuchMemory", err)
	}
	if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Process over the ceiling left %s: %v", dst, err)
	}
	if _, err := processFile(src, dst, persistence.DefaultOptions(), Limits{Budget: budgetWithCeiling(sure + 2)}); err != nil {
		t.Fatalf("Process within the ceiling: %v", err)
	}
}

// TestNoFallbackOverCeiling: a JPEG that libjpeg-turbo fails on goes to
// image/jpeg only when image/jpeg's need is within the ceiling; otherwise
// it fails at once, saying why, rather than take the node past its memory.
func TestNoFallbackOverCeiling(t *testing.T) {
	if !turbojpeg.Available {
		t.Skip("a build without libjpeg-turbo has no fallback")
	}
	whole, err := os.ReadFile(filepath.Join("testdata", "mem-ycck-progressive.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "cut.jpg")
	if err := os.WriteFile(src, whole[:len(whole)*2/3], 0o644); err != nil {
		t.Fatal(err)
	}
	sure, withFallback := needs(t, src)
	if withFallback <= sure {
		t.Fatalf("footprint with fallback %d, without %d: want the fallback to cost more", withFallback, sure)
	}
	dst := filepath.Join(t.TempDir(), "out.jpg")
	_, err = processFile(src, dst, persistence.DefaultOptions(), Limits{Budget: budgetWithCeiling(sure + (withFallback-sure)/2)})
	if !errors.Is(err, ErrTooMuchMemory) || !Permanent(err) {
		t.Fatalf("cut file, fallback over the ceiling: %v; want a permanent ErrTooMuchMemory", err)
	}
	t.Logf("without fallback: %v", err)
	_, err = processFile(src, dst, persistence.DefaultOptions(), Limits{Budget: budgetWithCeiling(2 * withFallback)})
	if err == nil || errors.Is(err, ErrTooMuchMemory) || !Permanent(err) {
		t.Fatalf("cut file, fallback within the ceiling: %v; want image/jpeg's own permanent error", err)
	}
	t.Logf("with fallback: %v", err)
}
