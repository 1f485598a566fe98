package resize

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/backlot/backlot/persistence"
)

func TestMessageHidesPaths(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "secret-dir", "x.src")
	_, err := processFile(src, filepath.Join(dir, "out.jpg"), persistence.DefaultOptions(), Limits{})
	if err == nil || Permanent(err) {
		t.Fatalf("missing source: %v", err)
	}
	msg := Message(err)
	if strings.Contains(msg, dir) || strings.Contains(msg, "secret-dir") || !strings.Contains(msg, "no such file") {
		t.Fatalf("Message(%q) = %q", err, msg)
	}
}
