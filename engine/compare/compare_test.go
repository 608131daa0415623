package compare

import (
	"context"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
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
