package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/lago-rl/lago/engine/plot"
)

func init() {
	register("plot", "draw learning curves of run directories, or a comparison's gain against its priors' agreement (PNG and SVG)", cmdPlot)
}

func cmdPlot(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "gain" {
		return cmdPlotGain(args[1:], stdout, stderr)
	}
	fs := newFlags("plot", stderr)
	out := fs.String("out", "", "output path without extension (default: RUNDIR/curves for one run, ./curves for several)")
	title := fs.String("title", "", "figure title")
	ci := fs.Bool("ci", false, "shade a 95% confidence interval of the mean instead of ± one standard deviation")
	smooth := fs.Int("smooth", 1, "moving-average window over each run's points (1 = none)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: lago plot [flags] RUNDIR...\n       lago plot gain -summary SUMMARY.json -x PRIOR=VALUE ... [flags]\n\nRuns with the same exp_name are drawn as one curve: mean and spread across seeds.")
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

// cmdPlotGain draws a comparison's gain in final success over a baseline row
// against a value per prior given on the command line (issue 13: held-out
// agreement with the expert), from lago compare's summary.json.
func cmdPlotGain(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("plot gain", stderr)
	summary := fs.String("summary", "", "summary.json of lago compare (required)")
	baseline := fs.String("baseline", "none", "the row the gains are measured from")
	out := fs.String("out", "", "output path without extension (default: gain beside the summary)")
	title := fs.String("title", "", "figure title")
	xlabel := fs.String("xlabel", "held-out agreement with the expert", "x axis label")
	var xs multiFlag
	fs.Var(&xs, "x", "PRIOR=VALUE: draw that row at x = VALUE (repeatable; rows without one are left out)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *summary == "" || len(xs) == 0 {
		return errors.New("-summary FILE and at least one -x PRIOR=VALUE are required")
	}
	data, err := os.ReadFile(*summary)
	if err != nil {
		return err
	}
	var rows []struct {
		Prior string   `json:"prior"`
		Mean  float64  `json:"success_mean"`
		Low   *float64 `json:"success_ci95_low"`
		High  *float64 `json:"success_ci95_high"`
	}
	if err := json.Unmarshal(data, &rows); err != nil {
		return fmt.Errorf("%s: %w", *summary, err)
	}
	final := map[string]plot.Estimate{}
	for _, r := range rows {
		if r.Low == nil || r.High == nil {
			final[r.Prior] = plot.Estimate{Mean: r.Mean, Low: r.Mean, High: r.Mean}
			continue
		}
		final[r.Prior] = plot.Estimate{Mean: r.Mean, Low: *r.Low, High: *r.High}
	}
	base, ok := final[*baseline]
	if !ok {
		return fmt.Errorf("-baseline %s: %s has no such row", *baseline, *summary)
	}
	var points []plot.GainPoint
	for _, x := range xs {
		i := strings.LastIndex(x, "=")
		if i <= 0 {
			return fmt.Errorf("-x %q: want PRIOR=VALUE", x)
		}
		v, err := strconv.ParseFloat(x[i+1:], 64)
		if err != nil {
			return fmt.Errorf("-x %q: %w", x, err)
		}
		f, ok := final[x[:i]]
		if !ok {
			return fmt.Errorf("-x %q: %s has no row %s", x, *summary, x[:i])
		}
		points = append(points, plot.GainPoint{Label: x[:i], X: v, Final: f})
	}
	base0 := *out
	if base0 == "" {
		base0 = filepath.Join(filepath.Dir(*summary), "gain")
	}
	files, err := plot.GainVsX(points, base, base0, plot.GainOptions{Title: *title, XLabel: *xlabel})
	if err != nil {
		return err
	}
	for _, f := range files {
		fmt.Fprintln(stdout, f)
	}
	return nil
}
