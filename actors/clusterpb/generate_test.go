package clusterpb_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestGeneratedFresh regenerates messages.pb.go as `make generate` does,
// into a temp dir, and fails when the committed file differs: edit
// messages.proto, run make generate, commit both. protoc-gen-go is built
// from the google.golang.org/protobuf of go.mod, which the Makefile's pin
// must equal (checked too). Without protoc the test skips, except under
// CI=true, where it fails: CI must never pass by skipping.
func TestGeneratedFresh(t *testing.T) {
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("protoc not found on PATH and CI=true: install it (make protoc, Debian package protobuf-compiler): %v", err)
		}
		t.Skipf("protoc not found on PATH (make protoc installs it): %v", err)
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	pbVersion := goList(t, "-m", "-f", "{{.Version}}", "google.golang.org/protobuf")
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	pin := regexp.MustCompile(`(?m)^PROTOC_GEN_GO_VERSION\s*\??=\s*(\S+)`).FindSubmatch(makefile)
	if pin == nil || string(pin[1]) != pbVersion {
		t.Fatalf("Makefile PROTOC_GEN_GO_VERSION %q must equal google.golang.org/protobuf %s in go.mod", pin, pbVersion)
	}

	tmp := t.TempDir()
	plugin := filepath.Join(tmp, "protoc-gen-go")
	if out, err := exec.Command("go", "build", "-o", plugin, "google.golang.org/protobuf/cmd/protoc-gen-go").CombinedOutput(); err != nil {
		t.Fatalf("build protoc-gen-go: %v\n%s", err, out)
	}
	hollywood := goList(t, "-m", "-f", "{{.Dir}}", "github.com/anthdm/hollywood")
	out := filepath.Join(tmp, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(protoc, "--plugin=protoc-gen-go="+plugin, "-I", ".", "-I", hollywood,
		"--go_out="+out, "--go_opt=paths=source_relative", "actors/clusterpb/messages.proto")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("protoc: %v\n%s", err, b)
	}
	fresh, err := os.ReadFile(filepath.Join(out, "actors", "clusterpb", "messages.pb.go"))
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("messages.pb.go")
	if err != nil {
		t.Fatal(err)
	}
	// The header names the protoc version; a protoc of another patch level
	// that writes the same code is not staleness.
	if !bytes.Equal(protocLine(fresh), protocLine(committed)) {
		t.Fatalf("messages.pb.go is stale: regenerate with `make generate` and commit it (first difference at line %d)", firstDiff(protocLine(fresh), protocLine(committed)))
	}
}

var protocVersion = regexp.MustCompile(`(?m)^// \tprotoc +v\S+$`)

func protocLine(b []byte) []byte { return protocVersion.ReplaceAll(b, []byte("// \tprotoc (version)")) }

func firstDiff(a, b []byte) int {
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := range min(len(la), len(lb)) {
		if la[i] != lb[i] {
			return i + 1
		}
	}
	return min(len(la), len(lb)) + 1
}

func goList(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}
