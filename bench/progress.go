package bench

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Progress shows a run's progress while it goes: on a terminal one line
// redrawn in place about four times a second, elsewhere (a CI log) one line
// every five seconds. A nil *Progress shows nothing.
type Progress struct {
	w     io.Writer
	tty   bool
	every time.Duration
	drawn bool // a bar is on screen and needs its newline
}

// NewProgress picks the display for mode (auto, bar, lines or off); auto
// draws a bar when w is a terminal.
func NewProgress(w io.Writer, mode string) *Progress {
	switch mode {
	case "off":
		return nil
	case "bar":
		return &Progress{w: w, tty: true, every: 250 * time.Millisecond}
	case "lines":
		return &Progress{w: w, every: 5 * time.Second}
	}
	if IsTerminal(w) {
		return &Progress{w: w, tty: true, every: 250 * time.Millisecond}
	}
	return &Progress{w: w, every: 5 * time.Second}
}

// IsTerminal reports whether w is a character device such as a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (p *Progress) interval() time.Duration {
	if p == nil {
		return time.Hour // the run loop needs a ticker either way
	}
	return p.every
}

// snapshot is what the display shows.
type snapshot struct {
	phase     string // "warmup" or "run"
	elapsed   time.Duration
	limit     time.Duration // the phase's duration bound, 0 if none
	total     int           // the phase's image bound, 0 if none
	sent      int
	finished  int // completed + failed + given up
	completed int
	errors    int
	inFlight  int
}

func (p *Progress) show(s snapshot) {
	if p == nil {
		return
	}
	if p.tty {
		// \x1b[K clears what a longer previous line left.
		fmt.Fprintf(p.w, "\r%s\x1b[K", progressLine(s, true))
		p.drawn = true
		return
	}
	fmt.Fprintln(p.w, progressLine(s, false))
}

// end closes the bar's line, so the report starts on a fresh one.
func (p *Progress) end(s snapshot) {
	if p == nil {
		return
	}
	p.show(s)
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

// progressLine renders one snapshot: "run [#####.....] 40/200 images
// 12.5 img/s 0 errors 8 in flight 3.2s".
func progressLine(s snapshot, bar bool) string {
	var b strings.Builder
	b.WriteString(s.phase)
	frac := -1.0
	switch {
	case s.total > 0:
		frac = float64(s.finished) / float64(s.total)
	case s.limit > 0:
		frac = float64(s.elapsed) / float64(s.limit)
	}
	if bar && frac >= 0 {
		const width = 24
		n := int(min(max(frac, 0), 1) * width)
		b.WriteString(" [" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]")
	}
	if s.total > 0 {
		fmt.Fprintf(&b, " %d/%d images", s.finished, s.total)
	} else {
		fmt.Fprintf(&b, " %d images", s.finished)
	}
	r := 0.0
	if s.elapsed > 0 {
		r = float64(s.completed) / s.elapsed.Seconds()
	}
	fmt.Fprintf(&b, "  %.1f img/s  %s  %d in flight  %s", r, plural(s.errors, "error"), s.inFlight, s.elapsed.Round(100*time.Millisecond))
	if s.limit > 0 {
		fmt.Fprintf(&b, "/%s", s.limit)
	}
	return b.String()
}
