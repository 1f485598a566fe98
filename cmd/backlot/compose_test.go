package main

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// TestComposeFile: no Docker engine runs here, so check what the README
// promises of docker-compose.yml and the Dockerfile by reading them; where
// the compose CLI exists, let it validate the file too.
func TestComposeFile(t *testing.T) {
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Image       string
			Command     []string
			Build       struct{ Context, Dockerfile string }
			Environment map[string]string
			Volumes     []string
			Ports       []string
			DependsOn   map[string]struct{ Condition string } `yaml:"depends_on"`
			Healthcheck struct{ Test []string }
			Profiles    []string
		}
		Volumes map[string]any
	}
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("docker-compose.yml does not parse: %v", err)
	}
	redis, ok := c.Services["redis"]
	if !ok || !strings.HasPrefix(redis.Image, "redis:") {
		t.Fatalf("no redis service from the official image: %+v", redis)
	}
	cmd := strings.Join(redis.Command, " ")
	if !strings.Contains(cmd, "--appendonly yes") || !strings.Contains(cmd, "--appendfsync everysec") {
		t.Fatalf("redis without AOF: %q", cmd)
	}
	if !slices.Contains(redis.Volumes, "redis-data:/data") || len(redis.Healthcheck.Test) == 0 {
		t.Fatalf("redis volume/healthcheck: %+v", redis)
	}
	b, ok := c.Services["backlot"]
	if !ok {
		t.Fatal("no backlot service")
	}
	if b.Build.Dockerfile == "" || b.Environment["BACKLOT_REDIS"] != "redis://redis:6379/0" ||
		!slices.Contains(b.Volumes, "backlot-data:/data") || b.DependsOn["redis"].Condition != "service_healthy" ||
		!slices.Contains(b.Healthcheck.Test, "healthcheck") {
		t.Fatalf("backlot service: %+v", b)
	}
	if len(b.Profiles) != 0 {
		t.Fatalf("the single-node backlot service must run without a profile: %v", b.Profiles)
	}
	// The cluster profile: three nodes on the same Redis and volume, each
	// naming all three as peers.
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("node%d", i)
		n, ok := c.Services[name]
		if !ok {
			t.Fatalf("no %s in the cluster profile", name)
		}
		env := n.Environment
		if !slices.Contains(n.Profiles, "cluster") || env["BACKLOT_REDIS"] != b.Environment["BACKLOT_REDIS"] ||
			env["BACKLOT_NODE_ID"] != name || env["BACKLOT_CLUSTER_LISTEN"] != name+":7000" ||
			env["BACKLOT_PEERS"] != "node1:7000,node2:7000,node3:7000" || !slices.Contains(n.Volumes, "backlot-data:/data") ||
			n.Build.Dockerfile != b.Build.Dockerfile {
			t.Fatalf("%s: %+v", name, n)
		}
		cfg := DefaultConfig()
		if err := cfg.Parse(nil, func(k string) string { return env[k] }); err != nil {
			t.Fatalf("%s's environment is not a valid configuration: %v", name, err)
		}
	}
	for _, v := range []string{"redis-data", "backlot-data"} {
		if _, ok := c.Volumes[v]; !ok {
			t.Fatalf("volume %s not declared", v)
		}
	}
	df, err := os.ReadFile("../../" + b.Build.Dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	stages := 0
	for _, line := range strings.Split(string(df), "\n") {
		if strings.HasPrefix(line, "FROM ") {
			stages++
		}
	}
	if stages < 2 {
		t.Fatalf("Dockerfile has %d stages, want a multi-stage build", stages)
	}
	if !strings.Contains(string(df), "AS build") || !strings.Contains(string(df), `-extldflags "-static"`) || !strings.Contains(string(df), "COPY --from=build") {
		t.Fatal("Dockerfile is not a multi-stage static build")
	}
	if _, err := exec.LookPath("docker-compose"); err == nil {
		out, err := exec.Command("docker-compose", "-f", "../../docker-compose.yml", "config", "-q").CombinedOutput()
		if err != nil {
			t.Fatalf("docker-compose config: %v\n%s", err, out)
		}
	}
}

// TestHealthcheckCommand: the command the containers use for health.
func TestHealthcheckCommand(t *testing.T) {
	n := startNode(t, t.TempDir(), nil)
	var out strings.Builder
	if err := run(t.Context(), []string{"healthcheck", "--url", n.url + "/readyz"}, os.Getenv, &out); err != nil {
		t.Fatalf("healthy node: %v", err)
	}
	n.Server().StopAccepting()
	if err := run(t.Context(), []string{"healthcheck", "--url", n.url + "/readyz", "--timeout", (2 * time.Second).String()}, os.Getenv, &out); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("stopping node: %v", err)
	}
}
