package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/run"
	"github.com/lago-rl/lago/engine/runfile"
)

func init() {
	register(runfile.TrainCommand, "train PPO on a config (embedded CartPole defaults without -config); -resume continues a run", cmdTrain)
}

func cmdTrain(args []string, stdout, stderr io.Writer) error {
	fs := newFlags(runfile.TrainCommand, stderr)
	var a runfile.TrainArgs
	a.Register(fs)
	var dist distFlags
	dist.register(fs, "start this many ranks of a data-parallel run on this machine (each rank num_envs/N envs; gradients averaged every minibatch)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags come as -config FILE, -set key=value, ...)", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if err := a.Check(given); err != nil {
		return err
	}
	if dist.nproc > 1 {
		return dist.launch(a, stdout, stderr)
	}
	prog := newProgressLine(stderr, a.Quiet)
	log, err := newLogger(a.LogFormat, prog)
	if err != nil {
		return err
	}

	opt := run.Options{Log: log, Progress: prog.update}
	if a.ProgressJSON {
		opt.Progress = jsonProgress(stdout)
	}
	var cfg config.Config
	if a.Resume != "" {
		opt.Dir, opt.Resume = a.Resume, true
		cfg, err = run.LoadConfig(a.Resume)
	} else {
		cfg, err = loadConfig(a.Config, a.Sets)
		opt.Dir = a.Out
		if opt.Dir == "" {
			opt.Dir = run.DefaultDir(cfg, time.Now())
		}
	}
	group, cores, gerr := dist.join(cfg, err)
	if gerr != nil {
		return gerr
	}
	if group != nil {
		defer group.Close()
		opt.Group, opt.Cores = group, cores
		if group.Rank() != 0 {
			err = nil // it trains rank 0's config
			opt.Progress = nil
		}
	}
	if err != nil {
		return err
	}

	// The first Ctrl-C (or SIGTERM) stops at the end of the current
	// iteration and writes a checkpoint; a second abandons the iteration.
	in := run.WatchInterrupts(func(notice string) {
		prog.clear()
		fmt.Fprintln(stderr, notice)
	})
	opt.Abort = in.Abort
	sum, err := run.Train(in.Stop, cfg, opt)
	in.Close()
	prog.clear()
	switch {
	case errors.Is(err, run.ErrInterrupted):
		if group == nil || group.Rank() == 0 {
			fmt.Fprintf(stdout, "interrupted; checkpoint written. Resume with: lago train -resume %s\n", opt.Dir)
		}
		return nil
	case errors.Is(err, run.ErrAborted):
		if !run.HasCheckpoint(opt.Dir) {
			return fmt.Errorf("aborted before the first checkpoint; start the run again")
		}
		return fmt.Errorf("aborted mid-iteration; the last checkpoint is kept. Resume with: lago train -resume %s", opt.Dir)
	case err != nil:
		return err
	}
	if !a.ProgressJSON && (group == nil || group.Rank() == 0) {
		line := fmt.Sprintf("run %s: %d steps, final return %.2f, success %.2f (last %d episodes)",
			opt.Dir, sum.GlobalStep, sum.FinalReturn, sum.FinalSuccess, sum.FinalEpisodes)
		if sum.PriorCoverage != nil {
			line += fmt.Sprintf(", prior coverage %.2f (mean over iterations)", *sum.PriorCoverage)
		}
		fmt.Fprintln(stdout, line)
	}
	return nil
}

// jsonProgress prints at most two progress lines a second, and the last.
func jsonProgress(w io.Writer) func(runfile.Progress) {
	var last time.Time
	return func(p runfile.Progress) {
		if time.Since(last) < 500*time.Millisecond && p.Step < p.Total {
			return
		}
		last = time.Now()
		runfile.WriteProgress(w, p)
	}
}

func newLogger(format string, prog *progressLine) (zerolog.Logger, error) {
	switch format {
	case "json":
		return zerolog.New(prog.logWriter()).With().Timestamp().Logger(), nil
	case "console":
		w := zerolog.ConsoleWriter{Out: prog.logWriter(), TimeFormat: "15:04:05", NoColor: !prog.tty}
		return zerolog.New(w).With().Timestamp().Logger(), nil
	}
	return zerolog.Logger{}, fmt.Errorf("-log-format %q: want console or json", format)
}

// progressLine keeps one live status line at the bottom of a terminal. Log
// lines clear it first, so the two never interleave. Off a terminal it stays
// silent except for a log-style line every 30 s.
type progressLine struct {
	w     io.Writer
	tty   bool
	quiet bool
	shown bool
	last  time.Time
}

func newProgressLine(w io.Writer, quiet bool) *progressLine {
	p := &progressLine{w: w, quiet: quiet}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progressLine) update(pr runfile.Progress) {
	if p.quiet {
		return
	}
	every := 30 * time.Second
	if p.tty {
		every = 100 * time.Millisecond
	}
	if time.Since(p.last) < every && pr.Step < pr.Total {
		return
	}
	p.last = time.Now()
	line := fmt.Sprintf("step %d/%d (%.1f%%)  %.0f SPS  ETA %s", pr.Step, pr.Total,
		100*float64(pr.Step)/float64(pr.Total), pr.SPS, (time.Duration(pr.ETASecs) * time.Second).Round(time.Second))
	if pr.Episodes > 0 {
		// The same window as the final line's, so the two agree.
		line += fmt.Sprintf("  return %.2f  success %.2f (last %d episodes)", pr.Return, pr.Success, pr.Episodes)
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.shown = true
	} else {
		fmt.Fprintln(p.w, line)
	}
}

// status shows a free-form line (lago compare's summary of its runs).
func (p *progressLine) status(line string) {
	if p.quiet {
		return
	}
	every := 30 * time.Second
	if p.tty {
		every = 0
	}
	if time.Since(p.last) < every {
		return
	}
	p.last = time.Now()
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.shown = true
	} else {
		fmt.Fprintln(p.w, line)
	}
}

func (p *progressLine) clear() {
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}

func (p *progressLine) logWriter() io.Writer { return clearingWriter{p} }

type clearingWriter struct{ p *progressLine }

func (c clearingWriter) Write(b []byte) (int, error) {
	c.p.clear()
	return c.p.w.Write(b)
}
