package compare

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/plot"
	"github.com/lago-rl/lago/engine/runfile"
)

func TestAUC(t *testing.T) {
	cases := []struct {
		name  string
		pts   []plot.Point
		total float64
		want  float64
	}{
		{"none", nil, 100, 0},
		{"flat", []plot.Point{{Step: 0, Value: 0.5}, {Step: 100, Value: 0.5}}, 100, 0.5},
		{"ramp", []plot.Point{{Step: 0, Value: 0}, {Step: 100, Value: 1}}, 100, 0.5},
		// Held flat before the first point and after the last.
		{"held", []plot.Point{{Step: 50, Value: 1}}, 100, 1},
		{"unsorted", []plot.Point{{Step: 100, Value: 1}, {Step: 0, Value: 0}, {Step: 50, Value: 1}}, 100, 0.75},
	}
	for _, c := range cases {
		if got := AUC(c.pts, c.total); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: AUC %v, want %v", c.name, got, c.want)
		}
	}
}

func TestSlugAndMarkdown(t *testing.T) {
	if got := Slug("ollama:llama3.2:1b"); got != "ollama-llama3.2-1b" {
		t.Fatalf("Slug = %q", got)
	}
	md := Markdown(Options{Base: config.Default(), Seeds: 5, Steps: 1000}, []Row{
		{Prior: "none", Seeds: 5, SuccessMean: 0.1, SuccessCI95Low: ptr(0.05), SuccessCI95High: ptr(0.15), ReturnCI95Low: ptr(1), ReturnCI95High: ptr(2), AUC: 0.07},
		{Prior: "scripted:0.9", Seeds: 5, SuccessMean: 0.4, SuccessCI95Low: ptr(0.3), SuccessCI95High: ptr(0.5), ReturnCI95Low: ptr(1), ReturnCI95High: ptr(2), LLMCalls: 0},
	})
	for _, want := range []string{"| none | 0.100 [0.050, 0.150]", "| scripted:0.9 | 0.400 [0.300, 0.500]", "5 seeds per prior, 1000 env steps", "last 100 episodes"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

// Issue 10 point 8: one seed has no confidence interval: "n/a", not [x, x],
// and "1 seed", not "1 seeds".
func TestMarkdownOneSeed(t *testing.T) {
	md := Markdown(Options{Base: config.Default(), Seeds: 1, Steps: 1000}, []Row{
		{Prior: "none", Seeds: 1, SuccessMean: 0.25, ReturnMean: 10},
	})
	for _, want := range []string{"| none | 0.250 n/a | 10.00 n/a |", "1 seed per prior"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "1 seeds") || strings.Contains(md, "[0.250, 0.250]") {
		t.Errorf("one seed rendered as several or with an interval:\n%s", md)
	}
}

// The child command line compare builds is what `lago train`'s own flag
// parsing (runfile.TrainArgs.Register) reads back.
func TestChildArgs(t *testing.T) {
	out := t.TempDir()
	opt := Options{Base: config.Default(), Out: out}
	os.MkdirAll(filepath.Join(out, "configs"), 0o755)
	j := job{prior: "scripted:0.9", seed: 3, cfg: config.Default(), dir: filepath.Join(out, "runs", "scripted-0.9", "seed-3")}
	parse := func(line []string) runfile.TrainArgs {
		t.Helper()
		if len(line) == 0 || line[0] != runfile.TrainCommand {
			t.Fatalf("command line %q does not start with %q", line, runfile.TrainCommand)
		}
		var a runfile.TrainArgs
		fs := flag.NewFlagSet("train", flag.ContinueOnError)
		a.Register(fs)
		if err := fs.Parse(line[1:]); err != nil || fs.NArg() > 0 {
			t.Fatalf("%q: %v %q", line, err, fs.Args())
		}
		return a
	}
	// A fresh job: its config file, its directory; a half-made directory is cleared.
	os.MkdirAll(j.dir, 0o755)
	os.WriteFile(filepath.Join(j.dir, runfile.MetricsFile), []byte("{}\n"), 0o644)
	a, err := childArgs(opt, j)
	if err != nil {
		t.Fatal(err)
	}
	got := parse(a.CommandLine())
	if got.Config == "" || got.Out != j.dir || got.Resume != "" || !got.ProgressJSON || !got.Quiet || got.LogFormat != "json" {
		t.Fatalf("fresh child parses as %+v", got)
	}
	if _, err := config.Load(got.Config); err != nil {
		t.Fatalf("child config: %v", err)
	}
	if _, err := os.Stat(j.dir); err == nil {
		t.Fatal("a half-made directory was kept")
	}
	// A job with a checkpoint resumes.
	os.MkdirAll(j.dir, 0o755)
	os.WriteFile(filepath.Join(j.dir, runfile.CheckpointFile), nil, 0o644)
	a, err = childArgs(opt, j)
	if err != nil {
		t.Fatal(err)
	}
	if got := parse(a.CommandLine()); got.Resume != j.dir || got.Config != "" || got.Out != "" {
		t.Fatalf("resuming child parses as %+v", got)
	}
	// A half-made directory another process trains in is left alone.
	os.Remove(filepath.Join(j.dir, runfile.CheckpointFile))
	lock, err := runfile.Acquire(j.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	if _, err := childArgs(opt, j); !errors.Is(err, runfile.ErrLocked) {
		t.Fatalf("half-made directory in use: %v", err)
	}
	if _, err := os.Stat(j.dir); err != nil {
		t.Fatal("a directory in use was removed")
	}
}

// An unknown env_id fails once, before any child starts; every shipped id
// (CLEVR's too) is known here without the CLI.
func TestUnknownEnvRefusedUpFront(t *testing.T) {
	out := filepath.Join(t.TempDir(), "cmp")
	opt := Options{Base: config.Default(), Priors: []string{"none"}, Seeds: 1, Out: out, Exe: "/nonexistent/lago"}
	opt.Base.EnvID = "NoSuchEnv-v0"
	if _, err := Run(context.Background(), opt); err == nil || !strings.Contains(err.Error(), "config key env_id") || !strings.Contains(err.Error(), "CLEVR-Robot-v0") {
		t.Fatalf("unknown env: %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("a refused comparison made its directory")
	}
}

// Held-out phrasings are refused once, before any child starts, as lago
// train refuses them.
func TestHeldOutPhrasingRefusedUpFront(t *testing.T) {
	out := filepath.Join(t.TempDir(), "cmp")
	opt := Options{Base: config.Default(), Priors: []string{"none"}, Seeds: 1, Out: out, Exe: "/nonexistent/lago"}
	opt.Base.EnvID = "CLEVR-Robot-v0"
	opt.Base.Phrasing = "heldout"
	if _, err := Run(context.Background(), opt); err == nil || !strings.Contains(err.Error(), "config key phrasing") {
		t.Fatalf("phrasing=heldout: %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("a refused comparison made its directory")
	}
}

// A prior that is no file name (an Ollama model path) names its runs by its
// slug; the others by themselves, as before.
func TestExpNameOfPriors(t *testing.T) {
	for prior, want := range map[string]string{
		"scripted:0.9":                   "scripted:0.9",
		"ollama:llama3.2:1b":             "ollama:llama3.2:1b",
		"ollama:hf.co/user/model:Q4_K_M": "ollama-hf.co_user_model-Q4_K_M",
	} {
		name := expName(prior)
		cfg := config.Default()
		cfg.Prior, cfg.ExpName = prior, name
		if name != want || cfg.Validate() != nil {
			t.Errorf("%s: exp_name %q (%v), want %q", prior, name, cfg.Validate(), want)
		}
	}
}

func TestLevelRows(t *testing.T) {
	sum := func(succ map[string]float64, n map[string]int) runfile.Summary {
		return runfile.Summary{FinalSuccessByLevel: succ, FinalEpisodesByLevel: n}
	}
	levels := []string{"easy", "hard"}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-12 }
	t.Run("two seeds", func(t *testing.T) {
		got, avg := levelRows([]runfile.Summary{
			sum(map[string]float64{"easy": 0.2, "hard": 0}, map[string]int{"easy": 50, "hard": 50}),
			sum(map[string]float64{"easy": 0.4, "hard": 0.2}, map[string]int{"easy": 40, "hard": 60}),
		}, levels)
		e, h := got["easy"], got["hard"]
		if !near(e.SuccessMean, 0.3) || e.Seeds != 2 || e.Episodes != 90 || !near(h.SuccessMean, 0.1) || h.Episodes != 110 {
			t.Errorf("levels %+v", got)
		}
		// A rate's interval is clipped to [0, 1]: hard's t-interval goes below 0.
		if e.SuccessCI95Low == nil || *e.SuccessCI95Low >= 0.3 || h.SuccessCI95Low == nil || *h.SuccessCI95Low != 0 {
			t.Errorf("intervals %+v %+v", e, h)
		}
		// The seeds' unweighted means over levels are 0.1 and 0.3.
		if avg == nil || !near(avg.SuccessMean, 0.2) || avg.Seeds != 2 || avg.Episodes != 200 || avg.SuccessCI95High == nil {
			t.Errorf("average %+v", avg)
		}
	})
	t.Run("one seed has no interval", func(t *testing.T) {
		got, avg := levelRows([]runfile.Summary{
			sum(map[string]float64{"easy": 1, "hard": 0.5}, map[string]int{"easy": 2, "hard": 2}),
		}, levels)
		if got["easy"].SuccessCI95Low != nil || avg == nil || avg.SuccessCI95Low != nil || !near(avg.SuccessMean, 0.75) {
			t.Errorf("levels %+v, average %+v", got, avg)
		}
	})
	t.Run("incomplete seeds", func(t *testing.T) {
		got, avg := levelRows([]runfile.Summary{
			sum(map[string]float64{"easy": 0.5, "hard": 0.1}, map[string]int{"easy": 10, "hard": 10}),
			sum(map[string]float64{"easy": 0.7}, map[string]int{"easy": 20}), // no hard episode in its window
			sum(nil, nil), // a summary from before per-level figures
		}, levels)
		if e := got["easy"]; e.Seeds != 2 || !near(e.SuccessMean, 0.6) || e.Episodes != 30 {
			t.Errorf("easy %+v", e)
		}
		if h := got["hard"]; h.Seeds != 1 || !near(h.SuccessMean, 0.1) {
			t.Errorf("hard %+v", h)
		}
		// Only the seed with every level counts towards the average.
		if avg == nil || avg.Seeds != 1 || !near(avg.SuccessMean, 0.3) || avg.Episodes != 20 {
			t.Errorf("average %+v", avg)
		}
	})
	t.Run("no levels", func(t *testing.T) {
		if got, avg := levelRows([]runfile.Summary{{FinalSuccess: 0.5}}, nil); got != nil || avg != nil {
			t.Errorf("env without levels: %v %v", got, avg)
		}
		if got, avg := levelRows([]runfile.Summary{{FinalSuccess: 0.5}}, levels); got != nil || avg != nil {
			t.Errorf("prior whose runs have no levels: %v %v", got, avg)
		}
	})
}

func TestMarkdownLevels(t *testing.T) {
	opt := Options{Base: config.Default(), Seeds: 2, Steps: 1000}
	lr := func(mean float64, seeds int, lo, hi *float64, n int) LevelRow {
		return LevelRow{Seeds: seeds, Episodes: n, SuccessMean: mean, SuccessCI95Low: lo, SuccessCI95High: hi}
	}
	rows := []Row{
		{Prior: "none", Seeds: 2, Levels: map[string]LevelRow{
			"hard": lr(0.05, 2, ptr(0), ptr(0.2), 100), "easy": lr(0.3, 2, ptr(0.1), ptr(0.5), 100)},
			LevelAverage: ptrLevel(lr(0.175, 2, ptr(0.1), ptr(0.25), 200))},
		{Prior: "scripted:0.9", Seeds: 2, Levels: map[string]LevelRow{"easy": lr(0.9, 1, nil, nil, 50)}},
	}
	md := Markdown(opt, rows)
	for _, want := range []string{
		"## Success by task level",
		"| prior | easy | hard | average |",
		"| none | 0.300 [0.100, 0.500] | 0.050 [0.000, 0.200] | 0.175 [0.100, 0.250] |",
		// A level one seed of two had; a level none had; no average.
		"| scripted:0.9 | 0.900 n/a (1 seed) | n/a | n/a |",
		"- none: easy 100, hard 100",
		"- scripted:0.9: easy 50, hard 0",
		"last 100 episodes",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	// One level (the default relation task) or none: no level table.
	for _, levels := range []map[string]LevelRow{nil, {"relation": lr(0.4, 2, ptr(0.3), ptr(0.5), 200)}} {
		md := Markdown(opt, []Row{{Prior: "none", Seeds: 2, Levels: levels}})
		if strings.Contains(md, "task level") {
			t.Errorf("levels %v: markdown has a level table:\n%s", levels, md)
		}
	}
}

func ptrLevel(r LevelRow) *LevelRow { return &r }

// summarise reads the runs' summaries into rows with their levels, in
// summary.json and summary.md.
func TestSummariseLevels(t *testing.T) {
	out := t.TempDir()
	opt := Options{Base: config.Default(), Priors: []string{"none"}, Seeds: 2, Out: out}
	var jobs []job
	for k, s := range []runfile.Summary{
		{FinalSuccess: 0.3, FinalEpisodes: 100, GlobalStep: 1000,
			FinalSuccessByLevel: map[string]float64{"easy": 0.4, "hard": 0.2}, FinalEpisodesByLevel: map[string]int{"easy": 50, "hard": 50}},
		{FinalSuccess: 0.1, FinalEpisodes: 100, GlobalStep: 1000,
			FinalSuccessByLevel: map[string]float64{"easy": 0.2, "hard": 0}, FinalEpisodesByLevel: map[string]int{"easy": 50, "hard": 50}},
	} {
		dir := filepath.Join(out, "runs", "none", fmt.Sprintf("seed-%d", k+1))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := runfile.WriteSummary(dir, s); err != nil {
			t.Fatal(err)
		}
		line := fmt.Sprintf(`{"global_step":1000,"iteration":1,"episodic_success":%v,"episodic_success_easy":0.5,"episodic_success_hard":0}`+"\n", s.FinalSuccess)
		if err := os.WriteFile(filepath.Join(dir, runfile.MetricsFile), []byte(line), 0o644); err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, job{prior: "none", seed: int64(k + 1), dir: dir})
	}
	// A third seed's summary predates the per-level figures: they come from
	// its last checkpoint, whose last 4 episodes are its final ones.
	dir := filepath.Join(out, "runs", "none", "seed-3")
	os.MkdirAll(dir, 0o755)
	if err := runfile.WriteSummary(dir, runfile.Summary{FinalSuccess: 0.5, FinalEpisodes: 4, GlobalStep: 1000}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, runfile.MetricsFile), []byte(`{"global_step":1000,"iteration":1,"episodic_success":0.5}`+"\n"), 0o644)
	writeCheckpoint(t, filepath.Join(dir, runfile.CheckpointFile),
		`{"global_step":1000,"recent_episodes":[{"success":true,"level":"hard"},{"success":true,"level":"easy"},{"level":"easy"},{"success":true,"level":"hard"},{"level":"hard"}]}`)
	jobs = append(jobs, job{prior: "none", seed: 3, dir: dir})
	rows, err := summarise(opt, jobs)
	if err != nil {
		t.Fatal(err)
	}
	// Seed 3: easy 1/2, hard 1/2 (the oldest episode is outside its window).
	if e := rows[0].Levels["easy"]; e.Seeds != 3 || e.Episodes != 102 || math.Abs(e.SuccessMean-(0.4+0.2+0.5)/3) > 1e-12 {
		t.Fatalf("easy with the checkpoint's seed: %+v", e)
	}
	// Without that checkpoint (or with one of another step), the seed has no level figures.
	os.Remove(filepath.Join(dir, runfile.CheckpointFile))
	jobs = jobs[:2]
	rows, err = summarise(opt, jobs)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].LevelAverage == nil || math.Abs(rows[0].LevelAverage.SuccessMean-0.2) > 1e-12 ||
		math.Abs(rows[0].Levels["easy"].SuccessMean-0.3) > 1e-12 || math.Abs(rows[0].Levels["hard"].SuccessMean-0.1) > 1e-12 {
		t.Fatalf("rows %+v", rows)
	}
	data, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var js []struct {
		Levels map[string]struct {
			Seeds       int     `json:"seeds"`
			Episodes    int     `json:"episodes"`
			SuccessMean float64 `json:"success_mean"`
		} `json:"levels"`
		LevelAverage *struct {
			SuccessMean float64 `json:"success_mean"`
		} `json:"level_average"`
	}
	if err := json.Unmarshal(data, &js); err != nil {
		t.Fatal(err)
	}
	if len(js) != 1 || js[0].Levels["easy"].Seeds != 2 || js[0].Levels["hard"].Episodes != 100 || js[0].LevelAverage == nil {
		t.Fatalf("summary.json: %s", data)
	}
	md, err := os.ReadFile(filepath.Join(out, "summary.md"))
	if err != nil || !strings.Contains(string(md), "| none | 0.300 [") {
		t.Fatalf("summary.md (%v):\n%s", err, md)
	}
}

// writeCheckpoint writes a checkpoint file with the given state JSON and no
// networks, framed as engine/ppo frames them.
func writeCheckpoint(t *testing.T, path, state string) {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("LAGO-CHECKPOINT1")
	binary.Write(&b, binary.LittleEndian, uint64(len(state)))
	b.WriteString(state)
	binary.Write(&b, binary.LittleEndian, uint64(0))
	binary.Write(&b, binary.LittleEndian, crc32.ChecksumIEEE(b.Bytes()))
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestShareCores(t *testing.T) {
	cases := []struct {
		name                   string
		torch, workers         int // in the config
		jobs, cpus             int
		wantTorch, wantWorkers int
	}{
		{"automatic", 0, 0, 4, 16, 4, 4},
		{"more jobs than cores", 0, 0, 32, 16, 1, 1},
		{"uneven", 0, 0, 3, 16, 5, 5},
		{"torch set", 2, 0, 4, 16, 2, 4},
		{"workers set", 0, 7, 4, 16, 4, 7},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.TorchThreads, cfg.NumWorkers = c.torch, c.workers
			got := shareCores(cfg, c.jobs, c.cpus)
			if got.TorchThreads != c.wantTorch || got.NumWorkers != c.wantWorkers {
				t.Fatalf("torch_threads %d, num_workers %d; want %d, %d", got.TorchThreads, got.NumWorkers, c.wantTorch, c.wantWorkers)
			}
		})
	}
}

// Run itself shares the cores: a child's config file (written before the
// child starts, which fails here) holds its part.
func TestRunSharesCores(t *testing.T) {
	out := filepath.Join(t.TempDir(), "cmp")
	opt := Options{Base: config.Default(), Priors: []string{"none"}, Seeds: 1, Out: out, Exe: "/nonexistent/lago", Jobs: 1}
	opt.Base.TorchThreads, opt.Base.NumWorkers = 0, 0
	if _, err := Run(context.Background(), opt); err == nil {
		t.Fatal("a comparison with no lago binary succeeded")
	}
	cfg, err := config.Load(filepath.Join(out, "configs", "none-seed-"+fmt.Sprint(opt.Base.Seed)+".toml"))
	if err != nil {
		t.Fatal(err)
	}
	if want := max(1, runtime.NumCPU()); cfg.TorchThreads != want || cfg.NumWorkers != want {
		t.Fatalf("child config: torch_threads %d, num_workers %d; want %d each", cfg.TorchThreads, cfg.NumWorkers, want)
	}
}

func TestOutputs(t *testing.T) {
	want := []string{filepath.Join("d", "summary.md"), filepath.Join("d", "summary.json"), filepath.Join("d", "success.png")}
	if got := Outputs("d"); !slices.Equal(got, want) {
		t.Fatalf("Outputs: %q, want %q", got, want)
	}
	if got := DefaultDir(config.Config{EnvID: "CartPole-v1"}); got != filepath.Join("runs", "compare-CartPole-v1") {
		t.Fatalf("DefaultDir: %q", got)
	}
}
