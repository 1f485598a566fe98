package blob

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestKeysAreTheFilesLayout: under a root, the keys name the very paths
// the node always used (persistence.Files, before this package), so
// existing data directories stay valid.
func TestKeysAreTheFilesLayout(t *testing.T) {
	const b, i = "0b7e9a3c-1d2f-4a5b-8c6d-7e8f9a0b1c2d", "1c2d3e4f-5a6b-4c7d-9e8f-0a1b2c3d4e5f"
	for _, tc := range []struct{ key, path string }{
		{SourceKey(b, i), "/data/batches/" + b + "/" + i + ".src"},
		{OutputKey(b, i, "jpg"), "/data/batches/" + b + "/" + i + ".out.jpg"},
		{OutputKey(b, i, "png"), "/data/batches/" + b + "/" + i + ".out.png"},
		{VariantKey(b, i, "thumb-2_x", "webp"), "/data/batches/" + b + "/" + i + ".v.thumb-2_x.webp"},
		{strings.TrimSuffix(BatchPrefix(b), "/"), "/data/batches/" + b},
		{strings.TrimSuffix(BatchesPrefix, "/"), "/data/batches"},
	} {
		if got := filepath.ToSlash(filepath.Join("/data", filepath.FromSlash(tc.key))); got != tc.path {
			t.Errorf("key %s is %s under the root, the layout says %s", tc.key, got, tc.path)
		}
		if !ValidKey(tc.key) {
			t.Errorf("ValidKey(%q) = false", tc.key)
		}
	}
	if !ValidDeletePrefix(BatchPrefix(b)) || !ValidPrefix(BatchesPrefix) {
		t.Error("a batch's prefix is not valid")
	}
}

func TestBatchOf(t *testing.T) {
	for _, tc := range []struct {
		key, id string
		ok      bool
	}{
		{SourceKey("b1", "i1"), "b1", true},
		{OutputKey("b2", "i1", "png"), "b2", true},
		{"batches/b3/x/y", "b3", true},
		{"batches/b4", "", false}, // not under a batch
		{"batches//x", "", false},
		{"other/b1/x", "", false},
	} {
		if id, ok := BatchOf(tc.key); id != tc.id || ok != tc.ok {
			t.Errorf("BatchOf(%q) = %q, %v; want %q, %v", tc.key, id, ok, tc.id, tc.ok)
		}
	}
}

func TestValidKey(t *testing.T) {
	good := []string{"a", "a/b", "batches/x/y.src", "a-b_c.d~e", "ünïcode/ok", strings.Repeat("a", 200), strings.Repeat("a/", 300) + "a"}
	bad := []string{"", "/a", "a/", "a//b", ".", "..", "a/..", "../a", "a/./b", ".a", "a/.b", `a\b`, "a\x00", "a\tb",
		"a\x7f", "\xc3", strings.Repeat("a", 201), strings.Repeat("a/", 512) + "a"}
	for _, k := range good {
		if !ValidKey(k) {
			t.Errorf("ValidKey(%q) = false, want true", k)
		}
	}
	for _, k := range bad {
		if ValidKey(k) {
			t.Errorf("ValidKey(%q) = true, want false", k)
		}
	}
	for _, tc := range []struct {
		prefix       string
		list, delete bool
	}{
		{"", true, false},
		{"batches/", true, true},
		{"batches/ab", true, false},
		{"batches//", false, false},
		{"/", false, false},
		{"../", false, false},
		{"batches/.", false, false},
	} {
		if ValidPrefix(tc.prefix) != tc.list || ValidDeletePrefix(tc.prefix) != tc.delete {
			t.Errorf("%q: ValidPrefix %v, ValidDeletePrefix %v; want %v, %v", tc.prefix,
				ValidPrefix(tc.prefix), ValidDeletePrefix(tc.prefix), tc.list, tc.delete)
		}
	}
}
