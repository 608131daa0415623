package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/lago-rl/lago/engine/compare"
	"github.com/lago-rl/lago/engine/run"
)

func init() {
	register("compare", "train every (prior × seed) of a config and compare: table, summary.json, curves", cmdCompare)
}

func cmdCompare(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("compare", stderr)
	path := fs.String("config", "", "TOML config of every run (default: the embedded defaults)")
	priors := fs.String("priors", "none,scripted:0.5,scripted:0.9", "comma-separated priors: none, uniform, scripted:Q, scripted-wrong:Q, ollama:MODEL, lm:PATH.gguf")
	seeds := fs.Int("seeds", 5, "seeds per prior (seed, seed+1, ...)")
	steps := fs.Int64("steps", 0, "env steps per run (default: the config's total_timesteps)")
	out := fs.String("out", "", "output directory (default runs/compare-ENV)")
	jobs := fs.Int("jobs", runtime.NumCPU(), "runs at once; each gets cores/jobs libtorch and env threads")
	var sets multiFlag
	fs.Var(&sets, "set", "override a config key of every run: -set key=value (repeatable)")
	var runs multiFlag
	fs.Var(&runs, "runs", "aggregate finished run directories instead of training: a directory or glob (repeatable), e.g. -runs 'sweep/*' from a job array")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(runs) > 0 {
		given := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		for _, name := range []string{"config", "priors", "seeds", "steps", "jobs", "set"} {
			if given[name] {
				return fmt.Errorf("-runs aggregates finished runs as they are: drop -%s", name)
			}
		}
		dirs, err := compare.FindRuns(runs)
		if err != nil {
			return err
		}
		opt, rows, err := compare.Aggregate(dirs, *out)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, compare.Markdown(opt, rows))
		fmt.Fprintf(stdout, "\nwritten: %s\n", strings.Join(compare.Outputs(opt.Out), ", "))
		return nil
	}
	cfg, err := loadConfig(*path, sets)
	if err != nil {
		return err
	}
	if *jobs < 1 {
		return errors.New("-jobs must be ≥ 1")
	}
	dir := *out
	if dir == "" {
		dir = compare.DefaultDir(cfg)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	prog := newProgressLine(stderr, false)
	// The first Ctrl-C makes every run checkpoint after its iteration; a
	// second makes them abandon it and keep their last checkpoints.
	in := run.WatchInterrupts(func(notice string) {
		prog.clear()
		fmt.Fprintln(stderr, notice)
	})
	defer in.Close()
	opt := compare.Options{
		Base: cfg, Priors: splitList(*priors), Seeds: *seeds, Steps: *steps, Out: dir, Jobs: *jobs, Exe: exe,
		Status: prog.status, Abort: in.Abort,
	}
	rows, err := compare.Run(in.Stop, opt)
	prog.clear()
	if in.Abort.Err() != nil || in.Stop.Err() != nil {
		how := "interrupted"
		if in.Abort.Err() != nil {
			how = "aborted"
		}
		// Say what a rerun will do: a run stopped in its first iteration
		// has no checkpoint and starts again from the beginning.
		if n := len(compare.Resumable(compare.RunDirs(opt))); n > 0 {
			return fmt.Errorf("%s; %d unfinished run(s) have a checkpoint and resume from it, any other starts afresh: run the same command again", how, n)
		}
		return fmt.Errorf("%s before any run wrote a checkpoint: run the same command again to start them", how)
	}
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, compare.Markdown(opt, rows))
	fmt.Fprintf(stdout, "\nwritten: %s\n", strings.Join(compare.Outputs(dir), ", "))
	if others := compare.Others(dir, rows); len(others) > 0 {
		fmt.Fprintf(stdout, "note: the summary covers this command's runs only; %s holds %d more finished run(s) (other priors or seeds), e.g. %s; summarise them all with: lago compare -runs '%s' -out %s\n",
			dir, len(others), others[0], compare.RunsGlob(dir), dir)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
