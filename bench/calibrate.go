package bench

import (
	"fmt"
	"time"

	"github.com/backlot/backlot/actors/resize"
)

// calibrate times the resize pipeline alone on the workload's files, on
// one goroutine of this process (idle otherwise once the run is over):
// two passes over the files at least, and at least a second of CPU. Its
// CPU per image is what a server spends on the pipeline for the same
// work; the rest of the server's CPU per image is its overhead.
func calibrate(c Config, files []File) (*Pipeline, error) {
	n, cpu0 := 0, selfCPU()
	for pass := 0; pass < 2 || (selfCPU().sub(cpu0).Total() < time.Second && pass < 1000); pass++ {
		for _, f := range files {
			if _, err := resize.PipelineOnce(f.Data, c.Width, c.Height, c.Fit, c.Format, c.Quality); err != nil {
				return nil, fmt.Errorf("calibrating the pipeline on %s: %w", f.Name, err)
			}
			n++
		}
	}
	cpu := selfCPU().sub(cpu0)
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(n) }
	return &Pipeline{Images: n, CPUMsPerImage: per(cpu.Total()), UserMsPerImage: per(cpu.User), SystemMsPerImage: per(cpu.System)}, nil
}
