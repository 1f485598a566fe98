package seaweedtest

import (
	"fmt"
	"os"
	"strconv"
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

// TestOnlyItsPorts: weed mini listens on the ports Start chose and on no
// other. Left to its defaults, the admin's gRPC took 22535 and 33646 in
// every weed, and a second weed running meanwhile went hunting for free
// ports of its own, which another test could have just been handed.
// Two run side by side, as the packages' tests start them.
func TestOnlyItsPorts(t *testing.T) {
	for _, s := range []*Server{Start(t), Start(t)} {
		chosen := map[int]bool{}
		for _, p := range s.ports {
			chosen[p] = true
		}
		for _, p := range listening(t, s.PID()) {
			if !chosen[p] {
				t.Errorf("weed (pid %d) listens on %d, not one of its ports %v", s.PID(), p, s.ports)
			}
		}
	}
}

// listening is the TCP ports pid listens on: its sockets' inodes, found
// in /proc/net/tcp in the LISTEN state (0A).
func listening(t *testing.T, pid int) []int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Skipf("cannot read weed's descriptors: %v", err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.Trim(l[len("socket:"):], "[]")] = true
		}
	}
	raw, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	var ports []int
	for _, line := range strings.Split(string(raw), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] {
			continue
		}
		_, hexPort, _ := strings.Cut(f[1], ":")
		p, err := strconv.ParseInt(hexPort, 16, 32)
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, int(p))
	}
	if len(ports) == 0 {
		t.Fatalf("weed (pid %d) listens on no TCP port", pid)
	}
	return ports
}
