package seaweedtest

import (
	"os"
	"strings"
	"testing"
)

// TestVersionMatchesScript: the binary this package looks for is the one
// scripts/weed.sh builds.
func TestVersionMatchesScript(t *testing.T) {
	b, err := os.ReadFile("../../../../scripts/weed.sh")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "VERSION=${WEED_VERSION:-"+Version+"}") {
		t.Fatalf("scripts/weed.sh does not build %s", Version)
	}
}
