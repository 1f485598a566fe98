package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/backlot/backlot/bench"
)

// benchStopGrace is how long the Backlot that bench started may take to
// stop on SIGTERM: its own default shutdown grace plus a margin.
const benchStopGrace = 45 * time.Second

// benchCommand runs `backlot bench` (bench.Usage): without --url it starts
// this binary's `serve` on 127.0.0.1:0 with a temp data dir for the run.
func benchCommand(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	cfg, err := bench.ParseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stderr, "bench: preparing the workload")
	files, err := bench.Load(cfg)
	if err != nil {
		return err
	}
	if len(cfg.URLs) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find this binary to start a server: %w", err)
		}
		var env []string
		if cfg.Token != "" {
			env = append(env, EnvName("token")+"="+cfg.Token) // not in argv, where ps shows it
		}
		srv, err := bench.StartServer(ctx, exe, cfg.ServeArgs, env, stderr)
		if err != nil {
			return err
		}
		defer func() {
			if stopErr := srv.Stop(benchStopGrace); stopErr != nil {
				err = errors.Join(err, stopErr)
			}
		}()
		fmt.Fprintf(stderr, "bench: started %s serve (pid %d) on %s\n", exe, srv.PID, srv.URL)
		cfg.URLs = []string{srv.URL}
		cfg.PIDs = append([]int{srv.PID}, cfg.PIDs...)
	}
	rep, err := bench.Run(ctx, cfg, files, bench.NewProgress(stderr, cfg.Progress))
	if err != nil {
		return err
	}
	if err := rep.WriteText(stdout); err != nil {
		return err
	}
	if cfg.JSON != "" {
		if err := rep.WriteJSON(cfg.JSON); err != nil {
			return err
		}
	}
	return rep.Check(cfg.AllowErrors)
}
