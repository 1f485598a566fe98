package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Memory and CPU of local processes, from Linux's /proc. VmHWM is the peak
// resident set size since the process started or since it was last reset
// by writing 5 to /proc/<pid>/clear_refs (allowed to the process's owner),
// which is how a run reports the peak of its own measured phase.

// PeakRSS returns a process's VmHWM in bytes.
func PeakRSS(pid int) (int64, error) { return StatusBytes(pid, "VmHWM") }

// StatusBytes returns a "kB" field of a process's /proc/<pid>/status
// (VmRSS, VmHWM, …) in bytes.
func StatusBytes(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("%s of pid %d: %w", field, pid, err)
	}
	kb, err := statusKB(b, field)
	if err != nil {
		return 0, fmt.Errorf("%s of pid %d: %w", field, pid, err)
	}
	return kb << 10, nil
}

// ResetPeakRSS sets a process's VmHWM to its current RSS.
func ResetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// processName is the process's command name ("node", "backlot"), or "?".
func processName(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// statusKB reads a "Field:   1234 kB" line of /proc/<pid>/status.
func statusKB(status []byte, field string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("malformed %s line %q", field, sc.Text())
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("malformed %s line %q", field, sc.Text())
		}
		return n, nil
	}
	return 0, fmt.Errorf("no %s line (not Linux, or a kernel thread?)", field)
}

// CPUTime returns the user + system CPU time a process (all its threads)
// has used, from /proc/<pid>/stat.
func CPUTime(pid int) (time.Duration, error) {
	t, err := CPUTimes(pid)
	return t.Total(), err
}

// CPU is a process's CPU time split as the kernel counts it: in user
// space, and in the kernel on its behalf (system calls, page faults). Work
// the kernel does in its own threads (a file system's journal, writeback
// of unsynced files) is in neither.
type CPU struct{ User, System time.Duration }

// Total is User + System.
func (c CPU) Total() time.Duration { return c.User + c.System }

func (c CPU) sub(d CPU) CPU { return CPU{c.User - d.User, c.System - d.System} }

// CPUTimes returns the user and system CPU time a process (all its
// threads) has used, from /proc/<pid>/stat.
func CPUTimes(pid int) (CPU, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return CPU{}, fmt.Errorf("CPU time of pid %d: %w", pid, err)
	}
	return statCPU(b)
}

// userHZ is the unit of /proc's tick counts: 100 on every Linux, whatever
// the kernel's own HZ (USER_HZ is part of the ABI).
const userHZ = 100

// statCPU reads utime and stime (fields 14 and 15) of a /proc/<pid>/stat
// line. The command name (field 2) may hold spaces and parentheses, so
// fields are counted from its last ')'.
func statCPU(stat []byte) (CPU, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return CPU{}, errors.New("malformed stat: no command name")
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return CPU{}, errors.New("malformed stat: too few fields")
	}
	var ticks [2]int64
	for k, s := range f[11:13] { // fields 14 and 15; f[0] is field 3
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return CPU{}, fmt.Errorf("malformed stat: CPU field %q", s)
		}
		ticks[k] = n
	}
	tick := func(n int64) time.Duration { return time.Duration(n) * time.Second / userHZ }
	return CPU{User: tick(ticks[0]), System: tick(ticks[1])}, nil
}

// watch follows the given processes over one phase: peak RSS (reset as
// the phase begins, where allowed) and CPU time used.
type watch struct {
	pids  []int
	since map[int]string
	cpu   map[int]CPU
	self  CPU
}

// startWatch resets the peaks of pids and notes their CPU times and ours.
func startWatch(pids []int) *watch {
	w := &watch{pids: pids, since: map[int]string{}, cpu: map[int]CPU{}, self: selfCPU()}
	for _, pid := range pids {
		w.since[pid] = "measurement"
		if err := ResetPeakRSS(pid); err != nil {
			w.since[pid] = "process start"
		}
		w.cpu[pid], _ = CPUTimes(pid)
	}
	return w
}

// read returns each process's peak RSS and CPU time since startWatch.
func (w *watch) read() []Process {
	var out []Process
	for _, pid := range w.pids {
		p := Process{PID: pid, Name: processName(pid), Since: w.since[pid]}
		rss, err := PeakRSS(pid)
		if err != nil {
			p.Error = err.Error()
		}
		p.PeakRSSBytes = rss
		if cpu, err := CPUTimes(pid); err == nil {
			d := cpu.sub(w.cpu[pid])
			p.CPUSeconds = roundSeconds(d.Total())
			p.UserCPUSeconds, p.SystemCPUSeconds = roundSeconds(d.User), roundSeconds(d.System)
		}
		out = append(out, p)
	}
	return out
}

// clientCPU is the harness's own CPU time since startWatch: it shares the
// machine with a local server, so its cost is part of the picture.
func (w *watch) clientCPU() float64 { return roundSeconds(selfCPU().sub(w.self).Total()) }

func selfCPU() CPU {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return CPU{}
	}
	return CPU{User: time.Duration(ru.Utime.Nano()), System: time.Duration(ru.Stime.Nano())}
}

func roundSeconds(d time.Duration) float64 { return d.Round(time.Millisecond).Seconds() }
