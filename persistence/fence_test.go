package persistence

import (
	"errors"
	"testing"
)

// TestLocalFences: tokens grow across batches; only the latest of an
// unfinished batch passes Check; a done batch's token is not kept, and
// Forget drops one.
func TestLocalFences(t *testing.T) {
	var f LocalFences
	a1 := f.Next("a", false)
	b1 := f.Next("b", false)
	a2 := f.Next("a", false)
	if !(a1 < b1 && b1 < a2) {
		t.Fatalf("tokens %d %d %d do not grow", a1, b1, a2)
	}
	if err := f.Check("a", a2); err != nil {
		t.Fatalf("latest token refused: %v", err)
	}
	if err := f.Check("a", a1); !errors.Is(err, ErrFenced) || !errors.Is(err, ErrConflict) {
		t.Fatalf("stale token: %v, want ErrFenced", err)
	}
	if d := f.Next("done", true); d <= a2 || f.Len() != 2 {
		t.Fatalf("a done batch's token %d (after %d), %d kept, want 2", d, a2, f.Len())
	}
	f.Forget("a")
	if err := f.Check("a", a2); !errors.Is(err, ErrFenced) || f.Len() != 1 {
		t.Fatalf("after Forget: %v, %d kept", err, f.Len())
	}
}
