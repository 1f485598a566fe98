//go:build cgo && linux

package resize

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMallocTuned checks what bl_tune_malloc promises, through glibc's
// own count of mapped blocks: with the thresholds set, a 2 MiB block (a
// 1600x900 picture's planes in libwebp) comes from the heap and a 16 MiB
// one is still mapped; in a process started with BACKLOT_MALLOC=default
// nothing is set and the same 2 MiB block is mapped, as glibc does
// before any mapped block has been freed.
func TestMallocTuned(t *testing.T) {
	if os.Getenv("BACKLOT_MALLOC_CHILD") == "1" {
		heap, _ := heapHolds(2 << 20)
		if mallocTuned() || heap {
			t.Fatalf("BACKLOT_MALLOC=default: tuned %v, 2 MiB from the heap %v; want neither", mallocTuned(), heap)
		}
		return
	}
	if _, ok := heapHolds(1); !ok {
		t.Skip("not glibc 2.33 or later: mallinfo2 cannot tell")
	}
	for _, k := range []string{"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_"} {
		if _, set := os.LookupEnv(k); set {
			t.Skipf("malloc set by %s in this environment", k)
		}
	}
	if strings.Contains(os.Getenv("GLIBC_TUNABLES"), "glibc.malloc.") || os.Getenv("BACKLOT_MALLOC") == "default" {
		t.Skip("malloc left to GLIBC_TUNABLES or BACKLOT_MALLOC=default in this environment")
	}
	if !mallocTuned() {
		t.Fatal("glibc's malloc thresholds were not set")
	}
	if heap, _ := heapHolds(2 << 20); !heap {
		t.Error("a 2 MiB block was mapped; want it from the heap")
	}
	if heap, _ := heapHolds(16 << 20); heap {
		t.Error("a 16 MiB block came from the heap; want it mapped (over the 4 MiB threshold)")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMallocTuned$", "-test.count=1")
	cmd.Env = append(os.Environ(), "BACKLOT_MALLOC_CHILD=1", "BACKLOT_MALLOC=default")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child with BACKLOT_MALLOC=default: %v\n%s", err, out)
	}
}
