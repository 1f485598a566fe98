package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the result of one run: what `backlot bench` prints and writes
// with --json (snake_case keys; latencies in milliseconds).
type Report struct {
	Label            string         `json:"label,omitempty"`
	StartedAt        time.Time      `json:"started_at"`
	URLs             []string       `json:"urls"`
	Workload         Workload       `json:"workload"`
	ClientCPUs       int            `json:"client_cpus"`        // the bench shares the machine with a local server
	ClientCPUSeconds float64        `json:"client_cpu_seconds"` // the bench's own CPU time in the measured phase
	WallSeconds      float64        `json:"wall_seconds"`       // first upload start to last done
	ImagesPerSec     float64        `json:"images_per_sec"`     // completed images / wall_seconds
	Batches          Batches        `json:"batches"`
	Images           Images         `json:"images"`
	Upload           Latency        `json:"upload_latency"`      // upload start to its 202 read
	Completion       Latency        `json:"completion_latency"`  // per batch: upload start (open loop: its schedule) to done
	StartLag         *Latency       `json:"start_lag,omitempty"` // open loop: how late batches started after their schedule
	Stages           Stages         `json:"stages"`
	Tail             *Tail          `json:"tail,omitempty"`
	Server           *ServerMetrics `json:"server,omitempty"` // the servers' /metrics over the measured phase
	Pipeline         *Pipeline      `json:"pipeline,omitempty"`
	ErrorTotal       int            `json:"error_total"`
	Errors           []ErrorCount   `json:"errors"`
	Warmup           *Warmup        `json:"warmup,omitempty"`
	Processes        []Process      `json:"processes,omitempty"`
	Interrupted      bool           `json:"interrupted,omitempty"`
}

// Stages split a done batch's time as the client saw its events arrive.
type Stages struct {
	Queue  Latency `json:"queue"`  // 202 read to the first processing event
	Work   Latency `json:"work"`   // first processing to the last completed or failed
	Finish Latency `json:"finish"` // last completed or failed to done
	// Upload is the 202s' Server-Timing metrics by name, when the server
	// sends them (Backlot: read, sync, commit, total).
	Upload map[string]Latency `json:"upload,omitempty"`
}

// Pipeline is the resize pipeline alone (probe, decode, resize, encode),
// timed in the bench's process on the workload after the run (--calibrate).
type Pipeline struct {
	Images        int     `json:"images"`
	CPUMsPerImage float64 `json:"cpu_ms_per_image"`
	// UserMsPerImage + SystemMsPerImage = CPUMsPerImage, split as
	// getrusage splits it.
	UserMsPerImage   float64 `json:"user_ms_per_image"`
	SystemMsPerImage float64 `json:"system_ms_per_image"`
}

// Workload is what was sent.
type Workload struct {
	Source          string   `json:"source"` // "generated" or "files"
	Size            string   `json:"size,omitempty"`
	Seeds           int      `json:"seeds,omitempty"`
	Files           []string `json:"files,omitempty"`
	MeanInputBytes  int64    `json:"mean_input_bytes"`
	PerBatch        int      `json:"per_batch"`
	InFlight        int      `json:"in_flight"`
	RatePerSec      float64  `json:"rate_batches_per_sec,omitempty"` // open loop; absent: closed loop
	Total           int      `json:"total,omitempty"`
	DurationSeconds float64  `json:"duration_seconds,omitempty"`
	Warmup          int      `json:"warmup"`
	Width           int      `json:"width"`
	Height          int      `json:"height"`
	Fit             string   `json:"fit,omitempty"`
	Format          string   `json:"format,omitempty"`
	Quality         int      `json:"quality,omitempty"`
}

// Batches counts uploads.
type Batches struct {
	Started int `json:"started"`
	Done    int `json:"done"` // saw their done event
}

// Images counts images.
type Images struct {
	Sent       int `json:"sent"`
	Accepted   int `json:"accepted"`   // in a 202
	Completed  int `json:"completed"`  // per done events
	Failed     int `json:"failed"`     // per done events
	Unfinished int `json:"unfinished"` // accepted, but no done seen
	Retries    int `json:"retries"`    // retrying events
}

// Warmup is the uncounted first phase; its errors still fail the run.
type Warmup struct {
	Images     int          `json:"images"`
	Seconds    float64      `json:"seconds"`
	ErrorTotal int          `json:"error_total"`
	Errors     []ErrorCount `json:"errors"`
}

// Process is a local server process's memory and CPU in the measured phase.
type Process struct {
	PID        int     `json:"pid"`
	Name       string  `json:"name"`
	CPUSeconds float64 `json:"cpu_seconds"` // user + system, all threads
	// UserCPUSeconds and SystemCPUSeconds split CPUSeconds as
	// /proc/<pid>/stat does (utime, stime): system is the kernel's work
	// on the process's behalf, mostly its system calls.
	UserCPUSeconds   float64 `json:"user_cpu_seconds"`
	SystemCPUSeconds float64 `json:"system_cpu_seconds"`
	// CPUMsPerImage is CPUSeconds per completed image, and
	// BeyondPipelineMs what is left of it once the pipeline's own CPU per
	// image (Report.Pipeline) is taken off: the server's overhead.
	// BeyondPipelineUserMs and BeyondPipelineSystemMs split it: user CPU
	// per image less the pipeline's user CPU, and the same for system.
	CPUMsPerImage          float64 `json:"cpu_ms_per_image,omitempty"`
	BeyondPipelineMs       float64 `json:"beyond_pipeline_ms_per_image,omitempty"`
	BeyondPipelineUserMs   float64 `json:"beyond_pipeline_user_ms_per_image"`
	BeyondPipelineSystemMs float64 `json:"beyond_pipeline_system_ms_per_image"`
	PeakRSSBytes           int64   `json:"peak_rss_bytes"` // VmHWM
	// Since is "measurement" when the peak was reset as the measured phase
	// began, "process start" when it could not be.
	Since string `json:"since"`
	Error string `json:"error,omitempty"`
}

func newWorkload(c Config, files []File) Workload {
	w := Workload{
		PerBatch: c.PerBatch, InFlight: c.InFlight, RatePerSec: c.Rate, Total: c.Total, DurationSeconds: c.Duration.Seconds(),
		Warmup: c.Warmup, Width: c.Width, Height: c.Height, Fit: c.Fit, Format: c.Format, Quality: c.Quality,
	}
	if len(c.Files) > 0 {
		w.Source, w.Files = "files", c.Files
	} else {
		w.Source, w.Size, w.Seeds = "generated", c.Size.String(), c.Seeds
	}
	var sum int64
	for _, f := range files {
		sum += int64(len(f.Data))
	}
	if len(files) > 0 {
		w.MeanInputBytes = sum / int64(len(files))
	}
	return w
}

// Check is the run's verdict: an error when it was interrupted, or when
// any error was counted (in the warmup too) and allowErrors is false.
func (r *Report) Check(allowErrors bool) error {
	if r.Interrupted {
		return errors.New("bench interrupted; the report is partial")
	}
	n := r.ErrorTotal
	if r.Warmup != nil {
		n += r.Warmup.ErrorTotal
	}
	if n > 0 && !allowErrors {
		return fmt.Errorf("%d errors (see the report; --allow-errors to exit 0 anyway)", n)
	}
	return nil
}

// WriteJSON writes the report, indented, to path.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// WriteText prints the report as a plain-text table.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	wl := r.Workload
	what := wl.Size + " JPEG q90, " + plural(wl.Seeds, "seed")
	if wl.Source == "files" {
		what = strings.Join(wl.Files, ", ")
	}
	limit := fmt.Sprintf("%d images", wl.Total)
	switch {
	case wl.DurationSeconds > 0 && wl.Total > 0:
		limit = fmt.Sprintf("%d images or %v", wl.Total, secs(wl.DurationSeconds))
	case wl.DurationSeconds > 0:
		limit = secs(wl.DurationSeconds).String()
	}
	title := "backlot bench"
	if r.Label != "" {
		title += " [" + r.Label + "]"
	}
	load := fmt.Sprintf("%d in flight", wl.InFlight)
	if wl.RatePerSec > 0 {
		load = fmt.Sprintf("open loop at %g batches/s (at most %d outstanding)", wl.RatePerSec, wl.InFlight)
	}
	fmt.Fprintf(&b, "%s: %s (mean %s) -> %dx%d, %d per batch, %s, %s, warmup %d\n",
		title, what, bytesIEC(wl.MeanInputBytes), wl.Width, wl.Height, wl.PerBatch, load, limit, wl.Warmup)
	fmt.Fprintf(&b, "  against %s\n", strings.Join(r.URLs, ", "))
	if r.Interrupted {
		b.WriteString("  INTERRUPTED: partial results\n")
	}
	b.WriteString("\n")

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "throughput\t%.2f images/s\t(%d completed in %.2f s, first upload to last done)\n", r.ImagesPerSec, r.Images.Completed, r.WallSeconds)
	fmt.Fprintf(tw, "batches\t%d done / %d started\n", r.Batches.Done, r.Batches.Started)
	im := r.Images
	fmt.Fprintf(tw, "images\t%d completed, %d failed, %d unfinished\t(%d sent, %d accepted, %d retries)\n",
		im.Completed, im.Failed, im.Unfinished, im.Sent, im.Accepted, im.Retries)
	tw.Flush()

	fmt.Fprintf(&b, "\n%-22s %5s %9s %9s %9s %9s %9s\n", "latency (ms)", "n", "p50", "p95", "p99", "max", "mean")
	rows := []struct {
		name string
		l    Latency
	}{{"upload (to 202)", r.Upload}, {"completion (to done)", r.Completion},
		{"  queue (202 to work)", r.Stages.Queue}, {"  work (to last image)", r.Stages.Work}, {"  finish (to done)", r.Stages.Finish}}
	names := make([]string, 0, len(r.Stages.Upload))
	for n := range r.Stages.Upload {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		rows = append(rows, struct {
			name string
			l    Latency
		}{"  server " + n, r.Stages.Upload[n]})
	}
	if r.StartLag != nil {
		rows = append(rows, struct {
			name string
			l    Latency
		}{"start lag (schedule)", *r.StartLag})
	}
	for _, l := range rows {
		fmt.Fprintf(&b, "%-22s %5d %9.1f %9.1f %9.1f %9.1f %9.1f\n", l.name, l.l.N, l.l.P50, l.l.P95, l.l.P99, l.l.Max, l.l.Mean)
	}
	if sm := r.Server; sm != nil {
		writeServer(&b, sm)
	}
	if t := r.Tail; t != nil {
		fmt.Fprintf(&b, "\ntail (ms, means)        %9s %9s %9s %9s %9s %9s\n", "to done", "lag", "upload", "queue", "work", "finish")
		for _, row := range []struct {
			name string
			s    StageSplit
		}{{fmt.Sprintf("%d at >= p99 %.1f", t.N, t.P99Ms), t.Slowest}, {"all done batches", t.All}} {
			fmt.Fprintf(&b, "  %-20s %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f\n", row.name, row.s.Completion, row.s.StartLag, row.s.Upload, row.s.Queue, row.s.Work, row.s.Finish)
		}
		fmt.Fprintf(&b, "  the slowest started at (s): %v\n", t.At)
	}

	for _, p := range r.Processes {
		if p.Error != "" {
			fmt.Fprintf(&b, "\nserver pid %d (%s): peak RSS unknown: %s", p.PID, p.Name, p.Error)
			continue
		}
		fmt.Fprintf(&b, "\nserver pid %d (%s): peak RSS %s (since %s), CPU %.2f s%s", p.PID, p.Name,
			bytesIEC(p.PeakRSSBytes), p.Since, p.CPUSeconds, perImage(p.CPUSeconds, r.Images.Completed))
		if r.Pipeline != nil && p.CPUMsPerImage > 0 {
			fmt.Fprintf(&b, ", %.2f ms beyond the pipeline (user %.2f, system %.2f)", p.BeyondPipelineMs, p.BeyondPipelineUserMs, p.BeyondPipelineSystemMs)
		}
	}
	if r.Pipeline != nil {
		fmt.Fprintf(&b, "\npipeline alone (in the bench, %d images): %.2f ms CPU per image (user %.2f, system %.2f)", r.Pipeline.Images, r.Pipeline.CPUMsPerImage, r.Pipeline.UserMsPerImage, r.Pipeline.SystemMsPerImage)
	}
	fmt.Fprintf(&b, "\nbench client: CPU %.2f s%s on %d CPUs\n", r.ClientCPUSeconds, perImage(r.ClientCPUSeconds, r.Images.Completed), r.ClientCPUs)

	writeErrors(&b, "errors", r.ErrorTotal, r.Errors)
	if r.Warmup != nil {
		fmt.Fprintf(&b, "\nwarmup: %d images in %.2f s, not counted above\n", r.Warmup.Images, r.Warmup.Seconds)
		if r.Warmup.ErrorTotal > 0 {
			writeErrors(&b, "warmup errors", r.Warmup.ErrorTotal, r.Warmup.Errors)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeServer prints the servers' /metrics histograms (ServerMetrics).
func writeServer(b *strings.Builder, sm *ServerMetrics) {
	fmt.Fprintf(b, "\n%-22s %5s %9s %9s %9s %9s %9s\n", "server /metrics (ms)", "n", "p50", "p95", "p99", "max", "mean")
	row := func(name string, l Latency) {
		fmt.Fprintf(b, "%-22s %5d %9.2f %9.2f %9.2f %9.2f %9.2f\n", name, l.N, l.P50, l.P95, l.P99, l.Max, l.Mean)
	}
	for _, st := range []string{"admit", "decode", "resize", "encode", "write"} {
		if l, ok := sm.Resize[st]; ok {
			row("  image "+st, l)
		}
	}
	for _, st := range slices.Sorted(maps.Keys(sm.Resize)) {
		if !slices.Contains([]string{"admit", "decode", "resize", "encode", "write"}, st) {
			row("  image "+st, sm.Resize[st])
		}
	}
	if sm.Attempt != nil {
		row("  image attempt", *sm.Attempt)
	}
	if sm.Resize != nil {
		fmt.Fprintf(b, "  image stages' means add up to %.2f ms\n", sm.ResizeSumMeanMs)
	}
	for _, op := range slices.Sorted(maps.Keys(sm.Store)) {
		row("  store "+op, sm.Store[op])
	}
	if sm.GCPauses != nil {
		row("  GC pauses", *sm.GCPauses)
		fmt.Fprintf(b, "  GC pauses total %.2f ms\n", sm.GCPauseTotalMs)
	}
	if sm.SchedLatency != nil {
		row("  sched wait (coarse)", *sm.SchedLatency)
		fmt.Fprintf(b, "  goroutine waits to run over ~1 ms: %d\n", sm.SchedOver1ms)
	}
	if sm.GoMallocs > 0 {
		fmt.Fprintf(b, "  Go heap allocations: %.0f (%.1f per completed image), %s (%s per image)\n",
			sm.GoMallocs, sm.MallocsPerImage, bytesIEC(int64(sm.GoAllocBytes)), bytesIEC(int64(sm.AllocBytesPerImage)))
	}
}

// perImage is " (12.3 ms per completed image)", or "" with none.
func perImage(cpu float64, completed int) string {
	if completed == 0 {
		return ""
	}
	return fmt.Sprintf(" (%.1f ms per completed image)", cpu*1000/float64(completed))
}

func writeErrors(b *strings.Builder, title string, total int, errs []ErrorCount) {
	if total == 0 {
		fmt.Fprintf(b, "\n%s: none\n", title)
		return
	}
	fmt.Fprintf(b, "\n%s: %d\n", title, total)
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	for _, e := range errs {
		fmt.Fprintf(tw, "  %d\t%s\te.g. %s\n", e.Count, e.Kind, oneLine(e.Example))
	}
	tw.Flush()
}

func oneLine(s string) string {
	return truncate(strings.Join(strings.Fields(s), " "), 160)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func secs(s float64) time.Duration {
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond)
}

// bytesIEC prints a byte count as B, KiB, MiB or GiB.
func bytesIEC(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/unit, 0
	for v >= unit && i < 2 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMG"[i])
}
