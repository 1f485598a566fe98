package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayers fails when an import points the wrong way. Layers, from the
// top: cmd → http → actors → persistence; a package imports its own layer
// or one below, never one above. Within them:
//   - persistence and its backends import nothing of ours but persistence;
//     the blob store (persistence/blob/...) nothing but itself;
//   - actors reach the store through persistence alone, never a backend;
//   - http talks to the actors through package actors (the System) and
//     actors/resize (what an upload's bytes are: sniff, probe, admit), never
//     to the cluster machinery (actors/cluster, actors/clusterpb) or a
//     store backend; http/metrics and http/edge import nothing of the
//     actors;
//   - bench (the load harness) imports no server package but the SSE
//     parser and the image code it makes inputs with.
func TestLayers(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "github.com/backlot/backlot/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const mod = "github.com/backlot/backlot/"
	under := func(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }
	layer := func(p string) int {
		switch {
		case under(p, "persistence"):
			return 0
		case under(p, "actors"):
			return 1
		case under(p, "http"):
			return 2
		case under(p, "bench"):
			return 2
		default: // cmd
			return 3
		}
	}
	forbidden := func(from, to string) string {
		switch {
		case layer(to) > layer(from):
			return "points up a layer"
		case under(from, "persistence/blob") && !under(to, "persistence/blob"):
			return "the blob store stands alone"
		case under(from, "persistence") && !under(to, "persistence"):
			return "persistence imports only persistence"
		case under(from, "actors") && (under(to, "persistence/bolt") || under(to, "persistence/pebble") || under(to, "persistence/redis")):
			return "the actors see the store's contract, not a backend"
		case under(from, "http") && (under(to, "actors/cluster") || under(to, "actors/clusterpb") || under(to, "persistence/bolt") || under(to, "persistence/pebble") || under(to, "persistence/redis")):
			return "http sees the actors' System and the image code, not the cluster machinery or a backend"
		case (from == "http/metrics" || from == "http/edge") && under(to, "actors"):
			return "metrics and the edge import nothing of the actors"
		case under(from, "bench") && to != "http/sse" && !under(to, "actors/resize"):
			return "the harness imports no server package"
		}
		return ""
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || !strings.HasPrefix(fields[0], mod) {
			continue
		}
		from := strings.TrimPrefix(fields[0], mod)
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, mod) {
				continue
			}
			to := strings.TrimPrefix(imp, mod)
			checked++
			if why := forbidden(from, to); why != "" {
				t.Errorf("%s imports %s: %s", from, to, why)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("checked only %d imports of ours: go list gave\n%s", checked, out)
	}
}
