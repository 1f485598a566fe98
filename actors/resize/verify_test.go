package resize

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/backlot/backlot/persistence"
)

// TestVerify: a result as written passes; one a power cut could leave
// (cut short, same size with other bytes) is ErrResultLost; a record
// without a sum (results written before sums were kept) checks the size
// alone. (A missing result is its reader's to tell, from the blob store's
// ErrNotFound: cmd/backlot's TestLostResultIsRebuilt.)
func TestVerify(t *testing.T) {
	dir := t.TempDir()
	src := writeFile(t, dir, "src", encodeAs(t, "jpeg", Synthetic(320, 240, 3)))
	dst := filepath.Join(dir, "out")
	res, err := processFile(src, dst, persistence.DefaultOptions(), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyFile(dst, res.Bytes, res.Sum); err != nil {
		t.Fatalf("result as written: %v", err)
	}
	if err := verifyFile(dst, res.Bytes, 0); err != nil {
		t.Fatalf("no sum recorded, right size: %v", err)
	}

	lost := map[string]func(){
		"cut short": func() { os.WriteFile(dst, good[:len(good)/2], 0o644) },
		"zeroed":    func() { os.WriteFile(dst, make([]byte, len(good)), 0o644) },
		"one bit off": func() {
			bad := append([]byte(nil), good...)
			bad[len(bad)/2] ^= 1
			os.WriteFile(dst, bad, 0o644)
		},
	}
	for name, damage := range lost {
		t.Run(name, func(t *testing.T) {
			damage()
			t.Cleanup(func() { os.WriteFile(dst, good, 0o644) })
			if err := verifyFile(dst, res.Bytes, res.Sum); !errors.Is(err, ErrResultLost) {
				t.Fatalf("Verify = %v, want ErrResultLost", err)
			}
		})
	}
	// Without a sum only the size can tell.
	os.WriteFile(dst, make([]byte, len(good)), 0o644)
	if err := verifyFile(dst, res.Bytes, 0); err != nil {
		t.Fatalf("no sum, same size: %v", err)
	}
	os.WriteFile(dst, good[:1], 0o644)
	if err := verifyFile(dst, res.Bytes, 0); !errors.Is(err, ErrResultLost) {
		t.Fatalf("no sum, other size: %v", err)
	}
}
