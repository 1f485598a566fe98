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

	"github.com/backlot/backlot/persistence/redis"
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
			Entrypoint  []string
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
	// Redis: a primary and its replica, AOF on, each on a volume of its
	// own, announcing its service name (what the Sentinels hand out).
	for name, volume := range map[string]string{"redis": "redis-data", "redis-replica": "redis-replica-data"} {
		r, ok := c.Services[name]
		if !ok || !strings.HasPrefix(r.Image, "redis:") {
			t.Fatalf("no %s service from the official image: %+v", name, r)
		}
		cmd := strings.Join(r.Command, " ")
		if !strings.Contains(cmd, "--appendonly yes") || !strings.Contains(cmd, "--appendfsync everysec") {
			t.Fatalf("%s without AOF: %q", name, cmd)
		}
		if !strings.Contains(cmd, "--replica-announce-ip "+name) {
			t.Fatalf("%s does not announce its service name: %q", name, cmd)
		}
		if !slices.Contains(r.Volumes, volume+":/data") || len(r.Healthcheck.Test) == 0 {
			t.Fatalf("%s volume/healthcheck: %+v", name, r)
		}
	}
	if cmd := strings.Join(c.Services["redis-replica"].Command, " "); !strings.Contains(cmd, "--replicaof redis 6379") {
		t.Fatalf("redis-replica does not replicate redis: %q", cmd)
	}
	// Three Sentinels watching the primary as "backlot", quorum 2,
	// down-after at most 2 s (what the failover test measures).
	var sentinels []string
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("sentinel%d", i)
		s, ok := c.Services[name]
		if !ok || !strings.HasPrefix(s.Image, "redis:") || len(s.Healthcheck.Test) == 0 {
			t.Fatalf("no %s from the official image with a health check: %+v", name, s)
		}
		conf := strings.Join(s.Command, "\n")
		for _, want := range []string{"sentinel monitor backlot redis 6379 2", "sentinel resolve-hostnames yes",
			"sentinel announce-hostnames yes", "--sentinel", "port 26379"} {
			if !strings.Contains(conf, want) {
				t.Fatalf("%s: no %q in %q", name, want, conf)
			}
		}
		var down int
		if _, err := fmt.Sscanf(conf[strings.Index(conf, "down-after-milliseconds backlot"):], "down-after-milliseconds backlot %d", &down); err != nil || down > 2000 {
			t.Fatalf("%s: down-after-milliseconds %d (%v), want at most 2000", name, down, err)
		}
		sentinels = append(sentinels, name+":26379")
	}
	b, ok := c.Services["backlot"]
	if !ok {
		t.Fatal("no backlot service")
	}
	wantURL := "redis-sentinel://" + strings.Join(sentinels, ",") + "/0?master=backlot"
	if b.Build.Dockerfile == "" || b.Environment["BACKLOT_REDIS"] != wantURL ||
		!slices.Contains(b.Volumes, "backlot-data:/data") || !slices.Contains(b.Healthcheck.Test, "healthcheck") {
		t.Fatalf("backlot service: %+v", b)
	}
	for _, s := range []string{"sentinel1", "sentinel2", "sentinel3"} {
		if b.DependsOn[s].Condition != "service_healthy" {
			t.Fatalf("backlot does not wait for %s: %+v", s, b.DependsOn)
		}
	}
	cfg := DefaultConfig()
	if err := cfg.Parse(nil, func(k string) string { return b.Environment[k] }); err != nil || cfg.waitReplicas() != 1 {
		t.Fatalf("backlot's environment: %v; waits for %d replicas, want 1", err, cfg.waitReplicas())
	}
	if err := redis.ValidateURL(b.Environment["BACKLOT_REDIS"]); err != nil {
		t.Fatalf("BACKLOT_REDIS: %v", err)
	}
	if len(b.Profiles) != 0 {
		t.Fatalf("the single-node backlot service must run without a profile: %v", b.Profiles)
	}
	// The cluster profile: three nodes on the same Redis and SeaweedFS
	// bucket, each naming all three as peers, with no volume at all (the
	// image's /data: a disk of each node's own).
	sw, ok := c.Services["seaweedfs"]
	if !ok || !strings.Contains(sw.Image, "seaweedfs") || !slices.Contains(sw.Volumes, "seaweedfs-data:/data") ||
		len(sw.Healthcheck.Test) == 0 || !slices.Contains(sw.Profiles, "cluster") {
		t.Fatalf("seaweedfs service: %+v", sw)
	}
	if cmd := strings.Join(sw.Entrypoint, " "); !strings.Contains(cmd, "-master.telemetry=false") || !strings.Contains(cmd, "-s3.config=") ||
		!strings.Contains(cmd, `"accessKey": "backlot"`) {
		t.Fatalf("seaweedfs: telemetry on, or no identity for the nodes: %q", cmd)
	}
	if mb := c.Services["seaweedfs-bucket"]; !strings.Contains(strings.Join(mb.Entrypoint, " "), "s3.bucket.create -name backlot") ||
		mb.DependsOn["seaweedfs"].Condition != "service_healthy" {
		t.Fatalf("no service makes the bucket once seaweedfs is up: %+v", mb)
	}
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("node%d", i)
		n, ok := c.Services[name]
		if !ok {
			t.Fatalf("no %s in the cluster profile", name)
		}
		env := n.Environment
		if !slices.Contains(n.Profiles, "cluster") || env["BACKLOT_REDIS"] != b.Environment["BACKLOT_REDIS"] ||
			env["BACKLOT_NODE_ID"] != name || env["BACKLOT_CLUSTER_LISTEN"] != name+":7000" ||
			env["BACKLOT_PEERS"] != "node1:7000,node2:7000,node3:7000" || len(n.Volumes) != 0 ||
			n.Build.Dockerfile != b.Build.Dockerfile || n.DependsOn["seaweedfs-bucket"].Condition != "service_completed_successfully" {
			t.Fatalf("%s: %+v", name, n)
		}
		cfg := DefaultConfig()
		if err := cfg.Parse(nil, func(k string) string { return env[k] }); err != nil {
			t.Fatalf("%s's environment is not a valid configuration: %v", name, err)
		}
		if bucket, prefix, s3, err := cfg.S3Blobs(); !s3 || err != nil || bucket != "backlot" || cfg.S3Endpoint != "http://seaweedfs:8333" || !cfg.S3PathStyle {
			t.Fatalf("%s does not keep its bytes in seaweedfs's bucket: %q %q %v %v, %+v", name, bucket, prefix, s3, err, cfg)
		}
		if env["AWS_ACCESS_KEY_ID"] != "backlot" || env["AWS_SECRET_ACCESS_KEY"] == "" {
			t.Fatalf("%s has no credentials for seaweedfs: %v", name, env)
		}
	}
	for _, v := range []string{"redis-data", "redis-replica-data", "backlot-data", "seaweedfs-data"} {
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
