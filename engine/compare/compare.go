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
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/env"
	_ "github.com/lago-rl/lago/engine/envs" // every env id resolves
	"github.com/lago-rl/lago/engine/plot"
	"github.com/lago-rl/lago/engine/ppo"
	"github.com/lago-rl/lago/engine/runfile"
)

// Options describe a comparison.
type Options struct {
	Base   config.Config // every run's config, but for prior, seed and steps
	Priors []string
	Seeds  int
	Steps  int64 // total_timesteps of each run; 0 keeps the config's
	Out    string
	Jobs   int    // runs at once; each gets cores/Jobs libtorch and env threads where Base leaves them 0
	Exe    string // the lago binary that runs each child
	// Status receives a one-line summary of all runs' progress, about once
	// a second (nil: none).
	Status func(line string)
	// Abort, when cancelled after the ctx of Run, makes every child abandon
	// its iteration and keep its last checkpoint (a second Ctrl-C); nil: never.
	Abort context.Context
}

// Row is one prior's results across seeds. Success and return are each
// run's final figures (over its last runfile.EpisodeWindow episodes),
// averaged over seeds; a 95% CI needs two seeds or more and is nil (null)
// with one.
type Row struct {
	Prior           string   `json:"prior"`
	Seeds           int      `json:"seeds"`
	EpisodeWindow   int      `json:"episode_window"`
	SuccessMean     float64  `json:"success_mean"`
	SuccessCI95Low  *float64 `json:"success_ci95_low"`
	SuccessCI95High *float64 `json:"success_ci95_high"`
	ReturnMean      float64  `json:"return_mean"`
	ReturnCI95Low   *float64 `json:"return_ci95_low"`
	ReturnCI95High  *float64 `json:"return_ci95_high"`
	AUC             float64  `json:"auc"`
	WallS           float64  `json:"wall_s"`
	LLMCalls        float64  `json:"llm_calls"`
	Runs            []string `json:"runs"`
	// Levels and LevelAverage are for envs whose episodes have task levels
	// (CLEVR-Robot): absent otherwise. See LevelRow.
	Levels       map[string]LevelRow `json:"levels,omitempty"`
	LevelAverage *LevelRow           `json:"level_average,omitempty"`
}

// LevelRow is a prior's final success on one task level, from each run's
// summary.json (final_success_by_level; for a summary written before it,
// the run's last checkpoint, which holds the same episodes): the success
// rate over the episodes of that level among the run's last
// runfile.EpisodeWindow episodes, averaged over the seeds whose window held
// any; a 95% CI needs two such seeds. For Row.LevelAverage, each seed's figure is instead the
// unweighted mean of its levels' figures (the paper's "average success"),
// over every level of the comparison: only seeds whose window held every
// level count.
type LevelRow struct {
	Seeds           int      `json:"seeds"`
	Episodes        int      `json:"episodes"` // final-window episodes behind the figure, summed over those seeds
	SuccessMean     float64  `json:"success_mean"`
	SuccessCI95Low  *float64 `json:"success_ci95_low"`
	SuccessCI95High *float64 `json:"success_ci95_high"`
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

// expName is the exp_name of a prior's runs: the prior itself (it labels
// the curves of `lago plot`), or its slug when it is no file name (an
// Ollama model path such as ollama:hf.co/user/model).
func expName(prior string) string {
	if config.CheckExpName(prior) != nil {
		return Slug(prior)
	}
	return prior
}

// DefaultDir is where a comparison of cfg's env goes when no directory is
// given: runs/compare-ENV.
func DefaultDir(cfg config.Config) string {
	return filepath.Join("runs", "compare-"+cfg.EnvID)
}

// The summary files Run writes into Options.Out.
const (
	SummaryMarkdown = "summary.md"
	SummaryJSON     = "summary.json"
	CurvesBase      = "success" // success.png and success.svg
)

// Outputs lists the summary files Run writes into out: the two tables and
// the curves as PNG.
func Outputs(out string) []string {
	return []string{filepath.Join(out, SummaryMarkdown), filepath.Join(out, SummaryJSON), filepath.Join(out, CurvesBase+".png")}
}

// shareCores gives each of jobs runs at once its part of cpus cores, for
// libtorch and for its env workers, where cfg leaves them automatic (0).
func shareCores(cfg config.Config, jobs, cpus int) config.Config {
	threads := max(1, cpus/jobs)
	if cfg.TorchThreads == 0 {
		cfg.TorchThreads = threads
	}
	if cfg.NumWorkers == 0 {
		cfg.NumWorkers = threads
	}
	return cfg
}

// Run runs (or resumes, or skips) every job, then writes the summary files
// into opt.Out: summary.md, summary.json, success.png and .svg.
func Run(ctx context.Context, opt Options) ([]Row, error) {
	if len(opt.Priors) == 0 || opt.Seeds < 1 {
		return nil, errors.New("compare: needs at least one prior and one seed")
	}
	if opt.Jobs < 1 {
		opt.Jobs = 1
	}
	opt.Base = shareCores(opt.Base, opt.Jobs, runtime.NumCPU())
	// Once here rather than in every child.
	if !slices.Contains(env.IDs(), opt.Base.EnvID) {
		return nil, fmt.Errorf("config key env_id: unknown env_id %q; known: %s", opt.Base.EnvID, strings.Join(env.IDs(), ", "))
	}
	var jobs []job
	for _, p := range opt.Priors {
		if _, err := config.ParsePrior(p); err != nil {
			return nil, fmt.Errorf("compare: -priors: %w", err)
		}
		for k := 0; k < opt.Seeds; k++ {
			cfg := opt.Base
			cfg.Prior = p
			cfg.ExpName = expName(p)
			cfg.Seed = opt.Base.Seed + int64(k)
			if opt.Steps > 0 {
				cfg.TotalTimesteps = opt.Steps
			}
			if err := cfg.Validate(); err != nil {
				return nil, err
			}
			if err := cfg.CheckTrainable(); err != nil {
				return nil, err
			}
			jobs = append(jobs, job{prior: p, seed: cfg.Seed, cfg: cfg, dir: runDir(opt.Out, p, cfg.Seed)})
		}
	}
	if err := os.MkdirAll(filepath.Join(opt.Out, "configs"), 0o755); err != nil {
		return nil, fmt.Errorf("compare: %w", err)
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
			errs[i] = runChild(ctx, opt, j, func(p runfile.Progress) { st.update(i, p) })
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

// runDir is where the run of a prior and a seed lives under out.
func runDir(out, prior string, seed int64) string {
	return filepath.Join(out, "runs", Slug(prior), fmt.Sprintf("seed-%d", seed))
}

// RunDirs lists the run directories of opt's priors and seeds, as Run lays
// them out: those of this comparison among any others in opt.Out.
func RunDirs(opt Options) []string {
	var dirs []string
	for _, p := range opt.Priors {
		for k := range opt.Seeds {
			dirs = append(dirs, runDir(opt.Out, p, opt.Base.Seed+int64(k)))
		}
	}
	return dirs
}

func done(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, runfile.SummaryFile))
	return err == nil
}

// childArgs are the `lago train` flags of job j: resume its directory when
// it holds a checkpoint, else start it from its config file (written here).
func childArgs(opt Options, j job) (runfile.TrainArgs, error) {
	a := runfile.TrainArgs{Quiet: true, ProgressJSON: true, LogFormat: "json"}
	if _, err := os.Stat(filepath.Join(j.dir, runfile.CheckpointFile)); err == nil {
		a.Resume = j.dir
		return a, nil
	}
	a.Config = filepath.Join(opt.Out, "configs", fmt.Sprintf("%s-seed-%d.toml", Slug(j.prior), j.seed))
	if err := j.cfg.WriteFile(a.Config); err != nil {
		return a, err
	}
	a.Out = j.dir
	// A half-made directory (killed before its first checkpoint) starts
	// over, unless a process still trains in it.
	if _, err := os.Stat(j.dir); err == nil {
		lock, err := runfile.Acquire(j.dir)
		if err != nil {
			return a, err
		}
		err = os.RemoveAll(j.dir)
		lock.Release()
		if err != nil {
			return a, fmt.Errorf("compare: %w", err)
		}
	}
	return a, nil
}

func runChild(ctx context.Context, opt Options, j job, report func(runfile.Progress)) error {
	a, err := childArgs(opt, j)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, opt.Exe, a.CommandLine()...)
	// The child hears signals from this process only, so that one Ctrl-C
	// at the terminal is one interrupt for it, not two (which would abort).
	cmd.SysProcAttr = childProcAttr()
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) } // checkpoint, then exit
	cmd.WaitDelay = 2 * time.Minute
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr tail
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	if opt.Abort != nil {
		// The second interrupt: the child abandons its iteration.
		defer context.AfterFunc(opt.Abort, func() { cmd.Process.Signal(os.Interrupt) })()
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if p, err := runfile.ParseProgress(sc.Bytes()); err == nil {
			report(p)
		}
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("compare: run %s (prior %s, seed %d): %v\n%s", j.dir, j.prior, j.seed, err, stderr.String())
	}
	if !done(j.dir) {
		return fmt.Errorf("compare: run %s stopped before finishing; run the comparison again to resume it", j.dir)
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
	prog   []runfile.Progress
	fin    []bool
	out    func(string)
	ticker *time.Ticker
	quit   chan struct{}
	once   sync.Once
}

func newStatus(jobs []job, out func(string)) *status {
	s := &status{jobs: jobs, prog: make([]runfile.Progress, len(jobs)), fin: make([]bool, len(jobs)), out: out, quit: make(chan struct{})}
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

func (s *status) update(i int, p runfile.Progress) {
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
	sums := make([]runfile.Summary, len(jobs))
	for i, j := range jobs {
		var err error
		if sums[i], err = runfile.ReadSummary(j.dir); err != nil {
			return nil, fmt.Errorf("compare: %w", err)
		}
		if sums[i].FinalSuccessByLevel == nil {
			levelsFromCheckpoint(&sums[i], j.dir)
		}
	}
	levels := levelNames(sums)
	var rows []Row
	var curves []plot.Run
	for _, p := range opt.Priors {
		row := Row{Prior: p, EpisodeWindow: runfile.EpisodeWindow}
		var succ, ret []float64
		var aucs []float64
		var priorSums []runfile.Summary
		for i, j := range jobs {
			if j.prior != p {
				continue
			}
			sum := sums[i]
			priorSums = append(priorSums, sum)
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
		var lo, hi float64
		row.SuccessMean, lo, hi = plot.MeanCI95(succ)
		if row.Seeds > 1 {
			// A rate's interval stays within [0, 1].
			row.SuccessCI95Low, row.SuccessCI95High = ptr(math.Max(lo, 0)), ptr(math.Min(hi, 1))
		}
		row.ReturnMean, lo, hi = plot.MeanCI95(ret)
		if row.Seeds > 1 {
			row.ReturnCI95Low, row.ReturnCI95High = ptr(lo), ptr(hi)
		}
		row.AUC, _, _ = plot.MeanCI95(aucs)
		row.Levels, row.LevelAverage = levelRows(priorSums, levels)
		rows = append(rows, row)
	}
	js, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := runfile.WriteFileAtomic(filepath.Join(opt.Out, SummaryJSON), append(js, '\n')); err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	if err := runfile.WriteFileAtomic(filepath.Join(opt.Out, SummaryMarkdown), []byte(Markdown(opt, rows))); err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	_, err = plot.LearningCurves(curves, filepath.Join(opt.Out, CurvesBase), plot.Options{
		Title:  fmt.Sprintf("%s: success by prior (mean, 95%% CI over %s)", opt.Base.EnvID, seeds(opt.Seeds)),
		Panels: []plot.Panel{{Metric: "episodic_success", YLabel: "success rate"}, {Metric: "episodic_return", YLabel: "return"}},
		Band:   plot.CI95,
		Smooth: 5,
	})
	return rows, err
}

// levelsFromCheckpoint fills in the per-level final figures of a summary
// written before lago recorded them, from the run's last checkpoint: it is
// written just before summary.json and holds the same final episodes, with
// their levels. Without a checkpoint of the summary's step holding those
// episodes the figures stay absent (summary.md then names the seeds each
// level's figure rests on).
func levelsFromCheckpoint(sum *runfile.Summary, dir string) {
	eps, step, err := ppo.CheckpointEpisodes(filepath.Join(dir, runfile.CheckpointFile))
	if err != nil || step != sum.GlobalStep || len(eps) < sum.FinalEpisodes {
		return
	}
	sum.FinalSuccessByLevel, sum.FinalEpisodesByLevel = ppo.SuccessByLevel(eps[len(eps)-sum.FinalEpisodes:])
}

// levelNames returns the task levels of any of the runs, sorted.
func levelNames(sums []runfile.Summary) []string {
	var names []string
	for _, s := range sums {
		for l := range s.FinalSuccessByLevel {
			if !slices.Contains(names, l) {
				names = append(names, l)
			}
		}
	}
	sort.Strings(names)
	return names
}

// levelRows computes a prior's LevelRows from its runs' summaries, levels
// being every level of the comparison; nil without levels.
func levelRows(sums []runfile.Summary, levels []string) (map[string]LevelRow, *LevelRow) {
	if len(levels) == 0 {
		return nil, nil
	}
	byLevel := map[string]LevelRow{}
	for _, l := range levels {
		var vals []float64
		episodes := 0
		for _, s := range sums {
			if v, ok := s.FinalSuccessByLevel[l]; ok {
				vals = append(vals, v)
				episodes += s.FinalEpisodesByLevel[l]
			}
		}
		if len(vals) > 0 {
			byLevel[l] = rateRow(vals, episodes)
		}
	}
	var avgs []float64
	episodes := 0
	for _, s := range sums {
		total, n, ok := 0.0, 0, true
		for _, l := range levels {
			v, has := s.FinalSuccessByLevel[l]
			ok = ok && has
			total += v
			n += s.FinalEpisodesByLevel[l]
		}
		if ok {
			avgs = append(avgs, total/float64(len(levels)))
			episodes += n
		}
	}
	if len(byLevel) == 0 {
		return nil, nil
	}
	if len(avgs) == 0 {
		return byLevel, nil
	}
	avg := rateRow(avgs, episodes)
	return byLevel, &avg
}

// rateRow is the mean of per-seed rates with its 95% CI, kept within
// [0, 1], or none with one seed.
func rateRow(vals []float64, episodes int) LevelRow {
	r := LevelRow{Seeds: len(vals), Episodes: episodes}
	var lo, hi float64
	r.SuccessMean, lo, hi = plot.MeanCI95(vals)
	if len(vals) > 1 {
		r.SuccessCI95Low, r.SuccessCI95High = ptr(math.Max(lo, 0)), ptr(math.Min(hi, 1))
	}
	return r
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
	// Aggregated runs may have fewer seeds for some priors (a served row
	// costs hours per seed): such a row names its own count.
	perRow := "per prior"
	for _, r := range rows {
		if r.Seeds != opt.Seeds {
			perRow = "per prior unless the row names fewer"
		}
	}
	fmt.Fprintf(&b, "%s %s, %d env steps each; final = last %d episodes of each run; 95%% CI by Student's t over seeds (n/a with one seed); AUC = mean success over training.\n\n", seeds(opt.Seeds), perRow, steps, runfile.EpisodeWindow)
	fmt.Fprintf(&b, "| prior | final success, last %d episodes (95%% CI) | final return, last %d episodes (95%% CI) | AUC | wall time (s, sum) | LLM calls |\n", runfile.EpisodeWindow, runfile.EpisodeWindow)
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, r := range rows {
		name := r.Prior
		if r.Seeds != opt.Seeds {
			name += " (" + seeds(r.Seeds) + ")"
		}
		fmt.Fprintf(&b, "| %s | %.3f %s | %.2f %s | %.3f | %.0f | %.0f |\n",
			name, r.SuccessMean, ci(r.SuccessCI95Low, r.SuccessCI95High, "%.3f"), r.ReturnMean, ci(r.ReturnCI95Low, r.ReturnCI95High, "%.2f"), r.AUC, r.WallS, r.LLMCalls)
	}
	b.WriteString("\nCurves: success.png (success.svg).\n")
	levelMarkdown(&b, rows)
	return b.String()
}

// levelMarkdown adds the per-level table when the runs have two task
// levels or more (with one it would repeat the table above).
func levelMarkdown(b *strings.Builder, rows []Row) {
	var levels []string
	for _, r := range rows {
		for l := range r.Levels {
			if !slices.Contains(levels, l) {
				levels = append(levels, l)
			}
		}
	}
	if len(levels) < 2 {
		return
	}
	sort.Strings(levels)
	fmt.Fprintf(b, "\n## Success by task level\n\n")
	fmt.Fprintf(b, "Final success per level: each run's episodes of that level among its last %d episodes (their counts, summed over seeds, are below), mean and 95%% CI over seeds. Average: each seed's unweighted mean over the %d levels (the paper's \"average success\"), then mean and 95%% CI over seeds; it counts only seeds whose final episodes include every level. The final success above weights the levels by their episode counts instead. A cell names its seeds when fewer than the prior's runs have that level.\n\n", runfile.EpisodeWindow, len(levels))
	b.WriteString("| prior |")
	for _, l := range levels {
		fmt.Fprintf(b, " %s |", l)
	}
	b.WriteString(" average |\n|---|")
	b.WriteString(strings.Repeat("---|", len(levels)+1))
	b.WriteString("\n")
	cell := func(r Row, lr *LevelRow) string {
		if lr == nil {
			return " n/a |"
		}
		c := fmt.Sprintf(" %.3f %s", lr.SuccessMean, ci(lr.SuccessCI95Low, lr.SuccessCI95High, "%.3f"))
		if lr.Seeds != r.Seeds {
			c += fmt.Sprintf(" (%s)", seeds(lr.Seeds))
		}
		return c + " |"
	}
	for _, r := range rows {
		fmt.Fprintf(b, "| %s |", r.Prior)
		for _, l := range levels {
			var lr *LevelRow
			if v, ok := r.Levels[l]; ok {
				lr = &v
			}
			b.WriteString(cell(r, lr))
		}
		b.WriteString(cell(r, r.LevelAverage) + "\n")
	}
	b.WriteString("\nFinal-window episodes per level, summed over seeds:\n\n")
	for _, r := range rows {
		parts := make([]string, 0, len(levels))
		for _, l := range levels {
			parts = append(parts, fmt.Sprintf("%s %d", l, r.Levels[l].Episodes))
		}
		fmt.Fprintf(b, "- %s: %s\n", r.Prior, strings.Join(parts, ", "))
	}
}

func ptr(x float64) *float64 { return &x }

// ci formats an interval as [low, high], or n/a when there is none.
func ci(low, high *float64, verb string) string {
	if low == nil || high == nil {
		return "n/a"
	}
	return fmt.Sprintf("["+verb+", "+verb+"]", *low, *high)
}

// seeds is "1 seed" or "N seeds".
func seeds(n int) string {
	if n == 1 {
		return "1 seed"
	}
	return fmt.Sprintf("%d seeds", n)
}
