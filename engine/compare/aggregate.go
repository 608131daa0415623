package compare

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/runfile"
)

// FindRuns expands patterns (filepath.Glob, or plain directories) into the
// run directories they name, in order and without repeats: directories
// holding a config.toml. A pattern that names no run is an error.
func FindRuns(patterns []string) ([]string, error) {
	var dirs []string
	for _, p := range patterns {
		matches, err := filepath.Glob(p)
		if err != nil {
			return nil, fmt.Errorf("compare: pattern %q: %w", p, err)
		}
		n := 0
		for _, m := range matches {
			if _, err := os.Stat(filepath.Join(m, runfile.ConfigFile)); err != nil {
				continue
			}
			n++
			if m = filepath.Clean(m); !slices.Contains(dirs, m) {
				dirs = append(dirs, m)
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("compare: %q names no run directory (one holding %s)", p, runfile.ConfigFile)
		}
	}
	return dirs, nil
}

// Aggregate summarises finished run directories that were trained
// elsewhere — a scheduler's job array, one `lago train` per (prior, seed)
// — as Run summarises its own: one row per prior (from each run's
// config.toml), the summary files in out. Every run must be of one env
// and have finished (summary.json); runs of one prior and seed twice are
// an error, as they would count twice. out "" is DefaultDir of their
// config.
func Aggregate(dirs []string, out string) (Options, []Row, error) {
	if len(dirs) == 0 {
		return Options{}, nil, errors.New("compare: no run directories to aggregate")
	}
	var jobs []job
	var opt Options
	seen := map[string]string{}
	var unfinished []string
	for _, d := range dirs {
		cfg, err := config.Load(filepath.Join(d, runfile.ConfigFile))
		if err != nil {
			return Options{}, nil, fmt.Errorf("compare: run %s: %w", d, err)
		}
		if len(jobs) == 0 {
			opt.Base = cfg
		} else if cfg.EnvID != opt.Base.EnvID {
			return Options{}, nil, fmt.Errorf("compare: run %s is of %s, run %s of %s: aggregate one env at a time",
				d, cfg.EnvID, jobs[0].dir, opt.Base.EnvID)
		}
		id := fmt.Sprintf("%s seed %d", cfg.Prior, cfg.Seed)
		if other, ok := seen[id]; ok {
			return Options{}, nil, fmt.Errorf("compare: runs %s and %s are both %s", other, d, id)
		}
		seen[id] = d
		if !done(d) {
			unfinished = append(unfinished, d)
		}
		jobs = append(jobs, job{prior: cfg.Prior, seed: cfg.Seed, dir: d, cfg: cfg})
	}
	if len(unfinished) > 0 {
		return Options{}, nil, fmt.Errorf("compare: %d run(s) have not finished (no %s): %s; finish them with lago train -resume DIR, or leave them out",
			len(unfinished), runfile.SummaryFile, strings.Join(unfinished, ", "))
	}
	// The baseline first, as Run orders its -priors "none,…"; then by
	// name, so a glob's order (directory names) does not matter.
	sort.SliceStable(jobs, func(i, j int) bool {
		if a, b := jobs[i].prior, jobs[j].prior; a != b {
			if a == "none" || b == "none" {
				return a == "none"
			}
			return a < b
		}
		return jobs[i].seed < jobs[j].seed
	})
	perPrior := map[string]int{}
	for _, j := range jobs {
		if perPrior[j.prior] == 0 {
			opt.Priors = append(opt.Priors, j.prior)
		}
		perPrior[j.prior]++
		opt.Seeds = max(opt.Seeds, perPrior[j.prior])
		if j.cfg.TotalTimesteps != opt.Base.TotalTimesteps {
			return Options{}, nil, fmt.Errorf("compare: run %s trained %d steps, run %s %d: aggregate runs of one length",
				j.dir, j.cfg.TotalTimesteps, jobs[0].dir, opt.Base.TotalTimesteps)
		}
	}
	opt.Out = out
	if out == "" {
		opt.Out = DefaultDir(opt.Base)
	}
	if err := os.MkdirAll(opt.Out, 0o755); err != nil {
		return Options{}, nil, fmt.Errorf("compare: %w", err)
	}
	rows, err := summarise(opt, jobs)
	return opt, rows, err
}

// RunsGlob is the filepath.Glob pattern of every run a comparison into out
// trains, one directory per prior and seed, with out's own metacharacters
// escaped so that a directory named "sweep[1]" is matched as named.
func RunsGlob(out string) string {
	var b strings.Builder
	for _, r := range out {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return filepath.Join(b.String(), "runs", "*", "seed-*")
}

// Others lists the finished runs under out that rows do not summarise:
// those of earlier comparisons into the same directory with other priors
// or seeds (a comparison split over processes by row or seed). Run's
// summary covers only its own runs, so a caller should say how to
// summarise them all (Aggregate over RunsGlob).
func Others(out string, rows []Row) []string {
	mine := map[string]bool{}
	for _, r := range rows {
		for _, d := range r.Runs {
			mine[filepath.Clean(d)] = true
		}
	}
	matches, _ := filepath.Glob(RunsGlob(out)) // the pattern is well formed
	var others []string
	for _, d := range matches {
		if !mine[filepath.Clean(d)] && done(d) {
			others = append(others, d)
		}
	}
	return others
}

// Resumable lists those of the run directories dirs (a comparison's,
// RunDirs) that stopped with a checkpoint and no summary: the runs a rerun
// of the comparison resumes (the others it starts from the beginning, or
// skips when finished).
func Resumable(dirs []string) []string {
	var out []string
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, runfile.CheckpointFile)); err == nil && !done(d) {
			out = append(out, d)
		}
	}
	return out
}
