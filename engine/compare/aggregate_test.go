package compare

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/runfile"
)

// fakeRun writes a finished run directory as `lago train` leaves it: its
// config, two metrics lines and its summary (success unless unfinished).
func fakeRun(t *testing.T, dir, env, prior string, seed int64, success float64, finished bool) {
	t.Helper()
	cfg := config.Default()
	cfg.EnvID, cfg.Prior, cfg.Seed, cfg.TotalTimesteps = env, prior, seed, 2000
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := cfg.WriteFile(filepath.Join(dir, runfile.ConfigFile)); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for i, s := range []float64{success / 2, success} {
		if err := runfile.WriteMetrics(&b, runfile.Metrics{GlobalStep: int64(1000 * (i + 1)), Iteration: i + 1, EpisodicSuccess: &s}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, runfile.MetricsFile), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if finished {
		sum := runfile.Summary{EnvID: env, Seed: seed, GlobalStep: 2000, Iterations: 2, FinalSuccess: success, FinalReturn: 10 * success, FinalEpisodes: 100, EpisodeWindow: 100, WallSeconds: 1}
		if err := runfile.WriteSummary(dir, sum); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAggregateJobArrayRuns: runs trained one per job (as a job array
// would, each in its own directory) are summarised by prior as Run would.
func TestAggregateJobArrayRuns(t *testing.T) {
	root := t.TempDir()
	sweep := filepath.Join(root, "sweep")
	fakeRun(t, filepath.Join(sweep, "job-0"), "CartPole-v1", "scripted:0.9", 1, 0.6, true)
	fakeRun(t, filepath.Join(sweep, "job-1"), "CartPole-v1", "none", 1, 0.2, true)
	fakeRun(t, filepath.Join(sweep, "job-2"), "CartPole-v1", "scripted:0.9", 2, 0.8, true)
	fakeRun(t, filepath.Join(sweep, "job-3"), "CartPole-v1", "none", 2, 0.4, true)
	os.MkdirAll(filepath.Join(sweep, "logs"), 0o755) // not a run: skipped by the glob

	dirs, err := FindRuns([]string{filepath.Join(sweep, "*"), filepath.Join(sweep, "job-0")})
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != 4 {
		t.Fatalf("found %v, want the 4 runs once each", dirs)
	}
	out := filepath.Join(root, "summary")
	opt, rows, err := Aggregate(dirs, out)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Prior != "none" || rows[1].Prior != "scripted:0.9" || opt.Seeds != 2 {
		t.Fatalf("rows %+v, seeds %d; want none and scripted:0.9 with 2 seeds each", rows, opt.Seeds)
	}
	for i, want := range []float64{0.3, 0.7} {
		if r := rows[i]; r.Seeds != 2 || math.Abs(r.SuccessMean-want) > 1e-12 || r.SuccessCI95Low == nil || len(r.Runs) != 2 {
			t.Errorf("row %s: %d seeds, success %v (CI %v), runs %v; want 2 seeds, %v", r.Prior, r.Seeds, r.SuccessMean, r.SuccessCI95Low, r.Runs, want)
		}
	}
	for _, f := range Outputs(out) {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("output %s: %v", f, err)
		}
	}
	md, _ := os.ReadFile(filepath.Join(out, SummaryMarkdown))
	if !strings.Contains(string(md), "| scripted:0.9 | 0.700") || !strings.Contains(string(md), "2 seeds per prior, 2000 env steps") {
		t.Errorf("summary.md:\n%s", md)
	}
}

// TestAggregateUnequalSeeds: the baseline comes first whatever the names
// sort to, and a prior with fewer seeds than the others says so in its
// row, not only in the header's count.
func TestAggregateUnequalSeeds(t *testing.T) {
	root := t.TempDir()
	fakeRun(t, filepath.Join(root, "lm", "seed-1"), "CartPole-v1", "lm:a.gguf", 1, 0.6, true)
	fakeRun(t, filepath.Join(root, "lm", "seed-2"), "CartPole-v1", "lm:a.gguf", 2, 0.8, true)
	fakeRun(t, filepath.Join(root, "none", "seed-1"), "CartPole-v1", "none", 1, 0.2, true)
	fakeRun(t, filepath.Join(root, "none", "seed-2"), "CartPole-v1", "none", 2, 0.4, true)
	fakeRun(t, filepath.Join(root, "ollama", "seed-1"), "CartPole-v1", "ollama:a", 1, 0.5, true)
	dirs, err := FindRuns([]string{filepath.Join(root, "*", "seed-*")})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(root, "summary")
	opt, rows, err := Aggregate(dirs, out)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, r := range rows {
		order = append(order, fmt.Sprintf("%s/%d", r.Prior, r.Seeds))
	}
	if got, want := strings.Join(order, " "), "none/2 lm:a.gguf/2 ollama:a/1"; got != want || opt.Seeds != 2 {
		t.Fatalf("rows %s, seeds %d; want %s, 2", got, opt.Seeds, want)
	}
	md, _ := os.ReadFile(filepath.Join(out, SummaryMarkdown))
	for _, want := range []string{"2 seeds per prior unless the row names fewer", "| ollama:a (1 seed) | 0.500 n/a", "| lm:a.gguf | 0.700"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("summary.md lacks %q:\n%s", want, md)
		}
	}
}

func TestAggregateRefuses(t *testing.T) {
	root := t.TempDir()
	run := func(name, env, prior string, seed int64, finished bool) string {
		d := filepath.Join(root, name)
		fakeRun(t, d, env, prior, seed, 0.5, finished)
		return d
	}
	a := run("a", "CartPole-v1", "none", 1, true)
	unfinished := run("b", "CartPole-v1", "none", 2, false)
	otherEnv := run("c", "Pendulum-v1", "none", 3, true)
	twin := run("d", "CartPole-v1", "none", 1, true)
	for _, c := range []struct {
		dirs []string
		want string
	}{
		{[]string{a, unfinished}, "1 run(s) have not finished (no summary.json): " + unfinished},
		{[]string{a, otherEnv}, "is of Pendulum-v1"},
		{[]string{a, twin}, "are both none seed 1"},
		{nil, "no run directories"},
	} {
		if _, _, err := Aggregate(c.dirs, filepath.Join(root, "out")); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Aggregate(%v): %v, want %q", c.dirs, err, c.want)
		}
	}
	if _, err := FindRuns([]string{filepath.Join(root, "nothing-*")}); err == nil || !strings.Contains(err.Error(), "names no run directory") {
		t.Errorf("FindRuns of no runs: %v", err)
	}
}

// TestOthers: a comparison split over processes by seed leaves each
// process's summary with its own runs; Others finds the rest, finished
// ones only, so the CLI can say how to summarise them all.
func TestOthers(t *testing.T) {
	out := filepath.Join(t.TempDir(), "sweep[1]") // a glob metacharacter in the name
	run := func(prior, slug string, seed int64, finished bool) string {
		d := filepath.Join(out, "runs", slug, fmt.Sprintf("seed-%d", seed))
		fakeRun(t, d, "CartPole-v1", prior, seed, 0.5, finished)
		return d
	}
	mine := run("none", "none", 1, true)
	other := run("none", "none", 2, true)
	run("scripted:0.9", "scripted-0.9", 1, false) // still training: not one to summarise yet
	rows := []Row{{Prior: "none", Runs: []string{mine}}}
	if got := Others(out, rows); len(got) != 1 || got[0] != other {
		t.Fatalf("Others = %v, want [%s]", got, other)
	}
	rows[0].Runs = append(rows[0].Runs, other)
	if got := Others(out, rows); len(got) != 0 {
		t.Fatalf("Others = %v with every finished run summarised, want none", got)
	}
	if got := Resumable(RunDirs(Options{Out: out, Priors: []string{"none", "scripted:0.9"}, Seeds: 2, Base: config.Config{Seed: 1}})); len(got) != 0 {
		t.Fatalf("Resumable = %v, want none (the unfinished run has no checkpoint)", got)
	}
	if dirs, err := FindRuns([]string{RunsGlob(out)}); err != nil || len(dirs) != 3 {
		t.Fatalf("FindRuns(RunsGlob) = %v, %v; want the 3 run directories (the pattern -runs is told to use)", dirs, err)
	}
}

// TestResumable: only unfinished runs with a checkpoint are resumable, and
// only those of the comparison asked about.
func TestResumable(t *testing.T) {
	out := t.TempDir()
	dir := func(prior string, seed int, finished, ckpt bool) string {
		d := filepath.Join(out, "runs", Slug(prior), fmt.Sprintf("seed-%d", seed))
		fakeRun(t, d, "CartPole-v1", prior, int64(seed), 0.5, finished)
		if ckpt {
			if err := os.WriteFile(filepath.Join(d, runfile.CheckpointFile), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	dir("none", 1, true, true) // finished: nothing to resume
	want := dir("none", 2, false, true)
	dir("none", 3, false, false)        // stopped in its first iteration: starts afresh
	dir("scripted:0.9", 1, false, true) // another comparison's, in the same directory
	opt := Options{Out: out, Priors: []string{"none"}, Seeds: 3, Base: config.Config{Seed: 1}}
	if got := Resumable(RunDirs(opt)); len(got) != 1 || got[0] != want {
		t.Fatalf("Resumable = %v, want [%s]", got, want)
	}
}
