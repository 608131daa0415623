package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/lago-rl/lago/engine/run"
)

func init() {
	register("train", "train PPO on a config (embedded CartPole defaults without -config); -resume continues a run", cmdTrain)
}

func cmdTrain(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("train", stderr)
	path := fs.String("config", "", "TOML config file (default: the embedded defaults, `lago config -list`)")
	out := fs.String("out", "", "run directory (default runs/EXP_NAME-SEED-TIME)")
	resume := fs.String("resume", "", "continue the run in this directory from its checkpoint, with its own config.toml")
	logFormat := fs.String("log-format", "console", "log format: console or json")
	quiet := fs.Bool("quiet", false, "no progress line")
	progressJSON := fs.Bool("progress-json", false, "print progress as JSON lines on stdout (for lago compare)")
	var sets multiFlag
	fs.Var(&sets, "set", "override a config key: -set key=value (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags come as -config FILE, -set key=value, ...)", fs.Arg(0))
	}
	prog := newProgressLine(stderr, *quiet)
	log, err := newLogger(*logFormat, prog)
	if err != nil {
		return err
	}

	opt := run.Options{Log: log, Progress: prog.update}
	if *progressJSON {
		opt.Progress = jsonProgress(stdout)
	}
	var cfgErr error
	cfg := defaultConfig()
	switch {
	case *resume != "":
		if *path != "" || len(sets) > 0 {
			return errors.New("-resume takes the run's own config.toml; drop -config and -set")
		}
		opt.Dir, opt.Resume = *resume, true
		cfg, cfgErr = run.LoadConfig(*resume)
	default:
		cfg, cfgErr = loadConfig(*path, sets)
		opt.Dir = *out
		if opt.Dir == "" {
			opt.Dir = run.DefaultDir(cfg, time.Now())
		}
	}
	if cfgErr != nil {
		return cfgErr
	}

	// The first Ctrl-C (or SIGTERM) stops at the end of the current iteration
	// and writes a checkpoint; a second one kills at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
		prog.clear()
		fmt.Fprintln(stderr, "stopping after this iteration to write a checkpoint (Ctrl-C again to kill)")
	}()
	sum, err := run.Train(ctx, cfg, opt)
	prog.clear()
	if errors.Is(err, run.ErrInterrupted) {
		fmt.Fprintf(stdout, "interrupted; checkpoint written. Resume with: lago train -resume %s\n", opt.Dir)
		return nil
	}
	if err != nil {
		return err
	}
	if !*progressJSON {
		fmt.Fprintf(stdout, "run %s: %d steps, final return %.2f, success %.2f (last %d episodes)\n",
			opt.Dir, sum.GlobalStep, sum.FinalReturn, sum.FinalSuccess, sum.FinalEpisodes)
	}
	return nil
}

// jsonProgress prints at most two progress lines a second, and the last.
func jsonProgress(w io.Writer) func(run.Progress) {
	var last time.Time
	enc := json.NewEncoder(w)
	return func(p run.Progress) {
		if time.Since(last) < 500*time.Millisecond && p.Step < p.Total {
			return
		}
		last = time.Now()
		enc.Encode(map[string]any{"step": p.Step, "total": p.Total, "return": p.RecentReturn, "success": p.RecentSuccess})
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

func (p *progressLine) update(pr run.Progress) {
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
		100*float64(pr.Step)/float64(pr.Total), pr.SPS, pr.ETA.Round(time.Second))
	if pr.Episodes > 0 {
		line += fmt.Sprintf("  return %.2f  success %.2f", pr.RecentReturn, pr.RecentSuccess)
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
