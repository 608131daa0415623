// Package compare runs every (prior × seed) training of a config and reports
// them side by side: vanilla PPO against LaGO with priors of several kinds.
//
// Each run is a child `lago train` process: runs stay deterministic (libtorch
// seeds one global generator per process), a crash takes one run down, not
// the comparison, and the children share the prior cache through its
// multi-process log on disk. Finished runs are skipped when the comparison
// is run again; interrupted ones are resumed.
package compare

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/plot"
	"github.com/lago-rl/lago/engine/run"
)

// Options describe a comparison.
type Options struct {
	Base   config.Config // every run's config, but for prior, seed and steps
	Priors []string
	Seeds  int
	Steps  int64 // total_timesteps of each run; 0 keeps the config's
	Out    string
	Jobs   int    // runs at once
	Exe    string // the lago binary that runs each child
	// Status receives a one-line summary of all runs' progress, about once
	// a second (nil: none).
	Status func(line string)
}

// Row is one prior's results across seeds.
type Row struct {
	Prior           string   `json:"prior"`
	Seeds           int      `json:"seeds"`
	SuccessMean     float64  `json:"success_mean"`
	SuccessCI95Low  float64  `json:"success_ci95_low"`
	SuccessCI95High float64  `json:"success_ci95_high"`
	ReturnMean      float64  `json:"return_mean"`
	ReturnCI95Low   float64  `json:"return_ci95_low"`
	ReturnCI95High  float64  `json:"return_ci95_high"`
	AUC             float64  `json:"auc"`
	WallS           float64  `json:"wall_s"`
	LLMCalls        float64  `json:"llm_calls"`
	Runs            []string `json:"runs"`
}

type job struct {
	prior string
	seed  int64
	dir   string
	cfg   config.Config
}

// Slug makes a prior spec safe as a directory name.
func Slug(prior string) string {
	return strings.NewReplacer(":", "-", "/", "_", " ", "_").Replace(prior)
}

// Run runs (or resumes, or skips) every job, then writes the summary files
// into opt.Out: summary.md, summary.json, success.png and .svg.
func Run(ctx context.Context, opt Options) ([]Row, error) {
	if len(opt.Priors) == 0 || opt.Seeds < 1 {
		return nil, errors.New("compare needs at least one prior and one seed")
	}
	if opt.Jobs < 1 {
		opt.Jobs = 1
	}
	var jobs []job
	for _, p := range opt.Priors {
		if _, err := config.ParsePrior(p); err != nil {
			return nil, fmt.Errorf("-priors: %w", err)
		}
		for k := 0; k < opt.Seeds; k++ {
			cfg := opt.Base
			cfg.Prior = p
			cfg.ExpName = p
			cfg.Seed = opt.Base.Seed + int64(k)
			if opt.Steps > 0 {
				cfg.TotalTimesteps = opt.Steps
			}
			if err := cfg.Validate(); err != nil {
				return nil, err
			}
			jobs = append(jobs, job{prior: p, seed: cfg.Seed, cfg: cfg,
				dir: filepath.Join(opt.Out, "runs", Slug(p), fmt.Sprintf("seed-%d", cfg.Seed))})
		}
	}
	if err := os.MkdirAll(filepath.Join(opt.Out, "configs"), 0o755); err != nil {
		return nil, err
	}

	st := newStatus(jobs, opt.Status)
	defer st.stop()
	var wg sync.WaitGroup
	sem := make(chan struct{}, opt.Jobs)
	errs := make([]error, len(jobs))
	for i, j := range jobs {
		if done(j.dir) {
			st.finish(i)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			errs[i] = runChild(ctx, opt, j, func(p progress) { st.update(i, p) })
			st.finish(i)
		}()
	}
	wg.Wait()
	st.stop()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return summarise(opt, jobs)
}

func done(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, run.SummaryFile))
	return err == nil
}

// progress is what a child prints with -progress-json.
type progress struct {
	Step    int64   `json:"step"`
	Total   int64   `json:"total"`
	Return  float64 `json:"return"`
	Success float64 `json:"success"`
}

func runChild(ctx context.Context, opt Options, j job, report func(progress)) error {
	var args []string
	if _, err := os.Stat(filepath.Join(j.dir, run.CheckpointFile)); err == nil {
		args = []string{"train", "-resume", j.dir}
	} else {
		cfgPath := filepath.Join(opt.Out, "configs", fmt.Sprintf("%s-seed-%d.toml", Slug(j.prior), j.seed))
		if err := j.cfg.WriteFile(cfgPath); err != nil {
			return err
		}
		// A half-made directory (killed before its first checkpoint) starts over.
		if err := os.RemoveAll(j.dir); err != nil {
			return err
		}
		args = []string{"train", "-config", cfgPath, "-out", j.dir}
	}
	args = append(args, "-quiet", "-progress-json", "-log-format", "json")
	cmd := exec.CommandContext(ctx, opt.Exe, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) } // checkpoint, then exit
	cmd.WaitDelay = 2 * time.Minute
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr tail
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var p progress
		if json.Unmarshal(sc.Bytes(), &p) == nil && p.Total > 0 {
			report(p)
		}
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("run %s (prior %s, seed %d): %v\n%s", j.dir, j.prior, j.seed, err, stderr.String())
	}
	if !done(j.dir) {
		return fmt.Errorf("run %s stopped before finishing; run the comparison again to resume it", j.dir)
	}
	return nil
}

// tail keeps the last 4 KiB written to it (a child's stderr, for errors).
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 4096 {
		t.buf = t.buf[len(t.buf)-4096:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// status folds the children's progress into one line.
type status struct {
	mu     sync.Mutex
	jobs   []job
	prog   []progress
	fin    []bool
	out    func(string)
	ticker *time.Ticker
	quit   chan struct{}
	once   sync.Once
}

func newStatus(jobs []job, out func(string)) *status {
	s := &status{jobs: jobs, prog: make([]progress, len(jobs)), fin: make([]bool, len(jobs)), out: out, quit: make(chan struct{})}
	if out != nil {
		s.ticker = time.NewTicker(time.Second)
		go func() {
			for {
				select {
				case <-s.ticker.C:
					s.print()
				case <-s.quit:
					return
				}
			}
		}()
	}
	return s
}

func (s *status) update(i int, p progress) {
	s.mu.Lock()
	s.prog[i] = p
	s.mu.Unlock()
}

func (s *status) finish(i int) {
	s.mu.Lock()
	s.fin[i] = true
	s.mu.Unlock()
}

func (s *status) print() {
	s.mu.Lock()
	defer s.mu.Unlock()
	byPrior := map[string][]int{}
	var order []string
	for i, j := range s.jobs {
		if _, ok := byPrior[j.prior]; !ok {
			order = append(order, j.prior)
		}
		byPrior[j.prior] = append(byPrior[j.prior], i)
	}
	var parts []string
	for _, p := range order {
		var step, total int64
		var succ float64
		running, finished := 0, 0
		for _, i := range byPrior[p] {
			step += s.prog[i].Step
			total += s.prog[i].Total
			if s.fin[i] {
				finished++
			} else if s.prog[i].Total > 0 {
				running++
				succ += s.prog[i].Success
			}
		}
		part := fmt.Sprintf("%s %d/%d done", p, finished, len(byPrior[p]))
		if running > 0 && total > 0 {
			part += fmt.Sprintf(", %.0f%% success %.2f", 100*float64(step)/float64(total), succ/float64(running))
		}
		parts = append(parts, part)
	}
	s.out(strings.Join(parts, " | "))
}

func (s *status) stop() {
	s.once.Do(func() {
		if s.ticker != nil {
			s.ticker.Stop()
			close(s.quit)
		}
	})
}

// summarise reads every run's summary and metrics into one row per prior,
// and writes the summary files.
func summarise(opt Options, jobs []job) ([]Row, error) {
	var rows []Row
	var curves []plot.Run
	for _, p := range opt.Priors {
		row := Row{Prior: p}
		var succ, ret []float64
		var aucs []float64
		for _, j := range jobs {
			if j.prior != p {
				continue
			}
			var sum run.Summary
			data, err := os.ReadFile(filepath.Join(j.dir, run.SummaryFile))
			if err != nil {
				return nil, err
			}
			if err := json.Unmarshal(data, &sum); err != nil {
				return nil, fmt.Errorf("%s: %w", filepath.Join(j.dir, run.SummaryFile), err)
			}
			r, err := plot.LoadRun(j.dir)
			if err != nil {
				return nil, err
			}
			r.Label = p
			curves = append(curves, r)
			succ = append(succ, sum.FinalSuccess)
			ret = append(ret, sum.FinalReturn)
			aucs = append(aucs, AUC(r.Series("episodic_success"), float64(sum.GlobalStep)))
			row.WallS += sum.WallSeconds
			for _, m := range r.Metrics {
				row.LLMCalls += m["prior_llm_calls"]
			}
			row.Runs = append(row.Runs, j.dir)
			row.Seeds++
		}
		row.SuccessMean, row.SuccessCI95Low, row.SuccessCI95High = plot.MeanCI95(succ)
		// A rate's interval stays within [0, 1].
		row.SuccessCI95Low, row.SuccessCI95High = math.Max(row.SuccessCI95Low, 0), math.Min(row.SuccessCI95High, 1)
		row.ReturnMean, row.ReturnCI95Low, row.ReturnCI95High = plot.MeanCI95(ret)
		row.AUC, _, _ = plot.MeanCI95(aucs)
		rows = append(rows, row)
	}
	js, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(opt.Out, "summary.json"), append(js, '\n'), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(opt.Out, "summary.md"), []byte(Markdown(opt, rows)), 0o644); err != nil {
		return nil, err
	}
	_, err = plot.LearningCurves(curves, filepath.Join(opt.Out, "success"), plot.Options{
		Title:  fmt.Sprintf("%s: success by prior (mean, 95%% CI over %d seeds)", opt.Base.EnvID, opt.Seeds),
		Panels: []plot.Panel{{Metric: "episodic_success", YLabel: "success rate"}, {Metric: "episodic_return", YLabel: "return"}},
		Band:   plot.CI95,
		Smooth: 5,
	})
	return rows, err
}

// AUC is the area under the success curve over [0, total] env steps,
// divided by total: the mean success rate across training, in [0, 1].
func AUC(pts []plot.Point, total float64) float64 {
	if len(pts) == 0 || total <= 0 {
		return 0
	}
	sort.Slice(pts, func(a, b int) bool { return pts[a].Step < pts[b].Step })
	area := pts[0].Value * pts[0].Step // flat before the first point
	for i := 1; i < len(pts); i++ {
		area += (pts[i].Step - pts[i-1].Step) * (pts[i].Value + pts[i-1].Value) / 2
	}
	area += pts[len(pts)-1].Value * math.Max(total-pts[len(pts)-1].Step, 0)
	return area / total
}

// Markdown renders the comparison table.
func Markdown(opt Options, rows []Row) string {
	var b strings.Builder
	steps := opt.Steps
	if steps == 0 {
		steps = opt.Base.TotalTimesteps
	}
	fmt.Fprintf(&b, "# %s: vanilla PPO vs LaGO\n\n", opt.Base.EnvID)
	fmt.Fprintf(&b, "%d seeds per prior, %d env steps each; final = last 100 episodes of each run; 95%% CI by Student's t over seeds; AUC = mean success over training.\n\n", opt.Seeds, steps)
	b.WriteString("| prior | final success (95% CI) | final return (95% CI) | AUC | wall time (s, sum) | LLM calls |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %.3f [%.3f, %.3f] | %.2f [%.2f, %.2f] | %.3f | %.0f | %.0f |\n",
			r.Prior, r.SuccessMean, r.SuccessCI95Low, r.SuccessCI95High, r.ReturnMean, r.ReturnCI95Low, r.ReturnCI95High, r.AUC, r.WallS, r.LLMCalls)
	}
	b.WriteString("\nCurves: success.png (success.svg).\n")
	return b.String()
}
