package bench

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is one bench run: where, what, how hard and for how long.
type Config struct {
	URLs  []string // base URLs, round-robin per batch; empty: start a Backlot
	Token string   // API token (Authorization: Bearer); "" for none

	Size  Size     // generated photo-like JPEGs (1920x1080 unless Files is set)
	Files []string // or these files, in turn
	Seeds int      // distinct generated images (4)

	PerBatch int // images per upload (2)
	InFlight int // batches in flight at once (8); with Rate, the most outstanding
	// Rate, when > 0, runs open loop: batch i is scheduled at i/Rate
	// seconds, whatever earlier ones do, and its completion latency counts
	// from that schedule (so a server that falls behind is not flattered:
	// no coordinated omission, as wrk2 does it). 0: closed loop, InFlight
	// batches at once, each started when one ends.
	Rate float64
	// Calibrate runs the resize pipeline alone, in this process, on the
	// workload after the run, so the report can tell a server's CPU per
	// image beyond the pipeline's.
	Calibrate bool

	Total    int           // images to send; 200 when neither Total nor Duration is set
	Duration time.Duration // or stop starting batches after this long
	Drain    time.Duration // after Duration, how long running batches may finish (60 s)
	Timeout  time.Duration // per batch, upload start to done (5 min)
	Warmup   int           // images sent first and not counted (0)

	Width, Height int    // output box (100x100)
	Fit, Format   string // sent only when set: the server's default otherwise
	Quality       int    // sent only when > 0

	JSON        string   // write the report as JSON to this file
	Label       string   // a name for this run in the report (e.g. "node")
	AllowErrors bool     // exit 0 even when errors were counted
	ServeArgs   []string // extra `backlot serve` arguments when the bench starts the server
	PIDs        []int    // local processes whose peak RSS the report gives
	Progress    string   // auto, bar, lines or off
	// Trace, when set, is called with each batch as the client saw it
	// once it ends (from the goroutine that ran it: it must be safe for
	// concurrent use). No flag: tests use it to check every batch the
	// server acknowledged against the server's own record.
	Trace func(Trace)
}

// Size is a width x height in pixels.
type Size struct{ W, H int }

func (s Size) String() string {
	if s.W == 0 && s.H == 0 {
		return ""
	}
	return fmt.Sprintf("%dx%d", s.W, s.H)
}

// ParseSize reads "1920x1080".
func ParseSize(s string) (Size, error) {
	ws, hs, ok := strings.Cut(strings.ToLower(strings.TrimSpace(s)), "x")
	w, errW := strconv.Atoi(ws)
	h, errH := strconv.Atoi(hs)
	// 20000 keeps one generated RGBA frame under ~1.6 GB.
	if !ok || errW != nil || errH != nil || w < 1 || h < 1 || w > 20000 || h > 20000 {
		return Size{}, fmt.Errorf("%q is not a size like 1920x1080 (1..20000 each)", s)
	}
	return Size{w, h}, nil
}

// Set implements flag.Value.
func (s *Size) Set(v string) error {
	p, err := ParseSize(v)
	if err != nil {
		return err
	}
	*s = p
	return nil
}

// listFlag collects a repeatable, comma-separated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// argsFlag collects a repeatable flag verbatim (one argument each).
type argsFlag []string

func (a *argsFlag) String() string     { return strings.Join(*a, " ") }
func (a *argsFlag) Set(v string) error { *a = append(*a, v); return nil }

// pidFlag collects repeatable or comma-separated process ids.
type pidFlag []int

func (p *pidFlag) String() string {
	s := make([]string, len(*p))
	for i, v := range *p {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

func (p *pidFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("%q is not a process id", s)
		}
		*p = append(*p, n)
	}
	return nil
}

// Usage heads `backlot bench -h`.
const Usage = `usage: backlot bench [flags]

Drives a Backlot (or any server with its upload and event API) through the
public API: uploads batches, follows each batch's event stream to "done",
and reports images/s, latencies and every error. Without --url it starts a
Backlot of its own (this binary, "serve" on 127.0.0.1:0, a temp data dir) and
reports its peak RSS. Exits non-zero when any error was counted, unless
--allow-errors.

flags:
`

// ParseFlags reads the bench flags; -h prints the usage to out and returns
// flag.ErrHelp.
func ParseFlags(args []string, out io.Writer) (Config, error) {
	c := Config{
		Seeds: 4, PerBatch: 2, InFlight: 8, Drain: 60 * time.Second, Timeout: 5 * time.Minute,
		Width: 100, Height: 100, Progress: "auto", Calibrate: true,
	}
	var urls, files listFlag
	var serveArgs argsFlag
	var pids pidFlag
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprint(out, Usage)
		fs.PrintDefaults()
	}
	fs.Var(&urls, "url", "server base URL, repeatable or comma-separated (batches go round-robin); none: start a Backlot")
	fs.StringVar(&c.Token, "token", "", "API token, sent as Authorization: Bearer (also given to the Backlot the bench starts)")
	fs.Var(&c.Size, "size", "generate photo-like JPEGs (q90) of this size, e.g. 1920x1080 (default 1920x1080 unless --files)")
	fs.Var(&files, "files", "upload these image files in turn instead, repeatable or comma-separated")
	fs.IntVar(&c.Seeds, "seeds", c.Seeds, "distinct generated images")
	fs.IntVar(&c.PerBatch, "per-batch", c.PerBatch, "images per upload")
	fs.IntVar(&c.InFlight, "in-flight", c.InFlight, "batches in flight at once (upload + event stream each); with --rate, the most outstanding")
	fs.Float64Var(&c.Rate, "rate", 0, "open loop: start this many batches per second whatever earlier ones do; completion latency counts from each batch's scheduled start (0: closed loop)")
	fs.BoolVar(&c.Calibrate, "calibrate", c.Calibrate, "after the run, time the resize pipeline alone on the workload in this process, for the server's CPU per image beyond it")
	fs.IntVar(&c.Total, "total", 0, "images to send (default 200 when --duration is not set either)")
	fs.DurationVar(&c.Duration, "duration", 0, "stop starting batches after this long (with --total: whichever comes first)")
	fs.DurationVar(&c.Drain, "drain", c.Drain, "with --duration: how long running batches may still finish")
	fs.DurationVar(&c.Timeout, "batch-timeout", c.Timeout, "per batch, from upload start to its done event")
	fs.IntVar(&c.Warmup, "warmup", 0, "images sent first and not counted")
	fs.IntVar(&c.Width, "width", c.Width, "output width")
	fs.IntVar(&c.Height, "height", c.Height, "output height")
	fs.StringVar(&c.Fit, "fit", "", "cover, contain or fill (not sent when empty: the server's default)")
	fs.StringVar(&c.Format, "format", "", "jpeg or png (not sent when empty)")
	fs.IntVar(&c.Quality, "quality", 0, "output JPEG quality (not sent when 0)")
	fs.StringVar(&c.JSON, "json", "", "also write the report as JSON to this file")
	fs.StringVar(&c.Label, "label", "", "a name for this run in the report")
	fs.BoolVar(&c.AllowErrors, "allow-errors", false, "exit 0 even when errors were counted")
	fs.Var(&serveArgs, "serve-arg", "extra argument for the Backlot the bench starts, repeatable (e.g. --serve-arg=--workers=4)")
	fs.Var(&pids, "pid", "also report the peak RSS and CPU time of this local process (e.g. a server you started), repeatable")
	fs.StringVar(&c.Progress, "progress", c.Progress, "auto (a bar on a terminal, else a line every 5 s), bar, lines or off")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	c.Files, c.ServeArgs, c.PIDs = files, serveArgs, pids
	for _, u := range urls {
		norm, err := normalizeURL(u)
		if err != nil {
			return Config{}, err
		}
		c.URLs = append(c.URLs, norm)
	}
	if c.Size == (Size{}) && len(c.Files) == 0 {
		c.Size = Size{1920, 1080}
	}
	if c.Total == 0 && c.Duration == 0 {
		c.Total = 200
	}
	return c, c.Validate()
}

// Validate checks every field once, naming the flag at fault.
func (c *Config) Validate() error {
	var errs []error
	check := func(ok bool, format string, a ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, a...))
		}
	}
	check(c.Size == (Size{}) || len(c.Files) == 0, "--size and --files exclude each other")
	check(c.Size != (Size{}) || len(c.Files) > 0, "--size or --files is needed")
	check(c.Seeds >= 1 && c.Seeds <= 64, "--seeds must be 1..64, not %d", c.Seeds)
	check(c.PerBatch >= 1 && c.PerBatch <= 1000, "--per-batch must be 1..1000, not %d", c.PerBatch)
	check(c.InFlight >= 1 && c.InFlight <= 10000, "--in-flight must be 1..10000, not %d", c.InFlight)
	check(c.Rate >= 0 && c.Rate <= 100000, "--rate must be 0..100000 batches/s, not %v", c.Rate)
	check(c.Total >= 0, "--total must not be negative")
	check(c.Duration >= 0, "--duration must not be negative")
	check(c.Total > 0 || c.Duration > 0, "--total or --duration is needed")
	check(c.Drain > 0, "--drain must be positive")
	check(c.Timeout > 0, "--batch-timeout must be positive")
	check(c.Warmup >= 0, "--warmup must not be negative")
	// Wider than API.md's 1..4096 on purpose: other servers (the Node peer
	// takes 1..10000) and rejection tests are fair game; the server judges.
	check(c.Width >= 1 && c.Height >= 1, "--width and --height must be positive")
	check(c.Quality >= 0, "--quality must not be negative")
	switch c.Progress {
	case "auto", "bar", "lines", "off":
	default:
		errs = append(errs, fmt.Errorf("--progress must be auto, bar, lines or off, not %q", c.Progress))
	}
	for _, u := range c.URLs {
		_, err := normalizeURL(u)
		check(err == nil, "%v", err)
	}
	return errors.Join(errs...)
}

// normalizeURL checks a base URL and drops its trailing slash.
func normalizeURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("--url %q is not a base URL like http://127.0.0.1:8080", s)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// fields are the multipart text parts every upload carries.
func (c *Config) fields() [][2]string {
	f := [][2]string{{"width", strconv.Itoa(c.Width)}, {"height", strconv.Itoa(c.Height)}}
	if c.Fit != "" {
		f = append(f, [2]string{"fit", c.Fit})
	}
	if c.Format != "" {
		f = append(f, [2]string{"format", c.Format})
	}
	if c.Quality > 0 {
		f = append(f, [2]string{"quality", strconv.Itoa(c.Quality)})
	}
	return f
}
