package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/lago-rl/lago/engine/plot"
)

func init() {
	register("plot", "draw learning curves of run directories (PNG and SVG)", cmdPlot)
}

func cmdPlot(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("plot", stderr)
	out := fs.String("out", "", "output path without extension (default: RUNDIR/curves for one run, ./curves for several)")
	title := fs.String("title", "", "figure title")
	ci := fs.Bool("ci", false, "shade a 95% confidence interval of the mean instead of ± one standard deviation")
	smooth := fs.Int("smooth", 1, "moving-average window over each run's points (1 = none)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: lago plot [flags] RUNDIR...\n\nRuns with the same exp_name are drawn as one curve: mean and spread across seeds.")
		fs.PrintDefaults()
	}
	dirs, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(dirs) == 0 {
		fs.Usage()
		return errors.New("no run directory given")
	}
	runs := make([]plot.Run, 0, len(dirs))
	for _, d := range dirs {
		r, err := plot.LoadRun(d)
		if err != nil {
			return err
		}
		runs = append(runs, r)
	}
	base := *out
	if base == "" {
		base = "curves"
		if len(dirs) == 1 {
			base = filepath.Join(dirs[0], "curves")
		}
	}
	opt := plot.Options{Title: *title, Smooth: *smooth}
	if *ci {
		opt.Band = plot.CI95
	}
	files, err := plot.LearningCurves(runs, base, opt)
	if err != nil {
		return err
	}
	for _, f := range files {
		fmt.Fprintln(stdout, f)
	}
	return nil
}
