package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/demos"
	"github.com/lago-rl/lago/engine/lm"
	"github.com/lago-rl/lago/engine/prior"
	"github.com/lago-rl/lago/engine/stage1"
)

func init() {
	register("demos", "offline demonstrations of an env's expert, the guidance dataset, its text ceiling and a model's agreement", cmdDemos)
}

const demosUsage = `usage:
  lago demos -env ID -episodes N -out DIR [flags]     collect demonstrations
  lago demos dataset -demos DIR -out DIR [flags]      (prompt, answer) pairs, split by episode
  lago demos ceiling -data DIR [-jitter K]            the text ceiling of a dataset's held-out states;
                                                     with -jitter, also by asking the expert in K
                                                     other states with the same text each
  lago demos agreement -data DIR -model MODEL        a model's held-out agreement with the expert
                                                     (MODEL: ollama:NAME served, or lm:PATH.gguf in-process)
  lago demos scenes -n N -out DIR [flags]            a generic scene-text corpus for pretraining: random
                                                     scenes, spatial questions, no expert
`

func cmdDemos(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "dataset":
			return cmdDemosDataset(args[1:], stdout, stderr)
		case "ceiling":
			return cmdDemosCeiling(args[1:], stdout, stderr)
		case "agreement":
			return cmdDemosAgreement(args[1:], stdout, stderr)
		case "scenes":
			return cmdDemosScenes(args[1:], stdout, stderr)
		}
	}
	fs := newFlags("demos", stderr)
	fs.Usage = func() { fmt.Fprint(stderr, demosUsage, "\nflags of collection:\n"); fs.PrintDefaults() }
	envID := fs.String("env", "CLEVR-Robot-v0", "env id (it must have a scripted expert)")
	episodes := fs.Int("episodes", 1000, "episodes to collect")
	seed := fs.Uint64("seed", 1, "seed: episode i seeds the env with seed+i")
	eps := fs.String("epsilon", "0,0.5", "ε range MIN,MAX (or one value): each episode draws its ε uniformly from it and takes a random action with probability ε at each step, else the expert's")
	best := fs.String("best", string(demos.BestSuccess), "which actions the expert rates best: success (its action, plus every action succeeding at once when its does) or argmax (its action alone)")
	maxSteps := fs.Int("max-steps", 0, "steps per episode at most; 0: the env's time limit")
	workers := fs.Int("workers", 1, "episodes collected in parallel (the output does not depend on it)")
	out := fs.String("out", "", "demonstrations directory to write (required)")
	quiet := fs.Bool("quiet", false, "no progress line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; subcommands: dataset, ceiling, agreement, scenes", fs.Arg(0))
	}
	if *out == "" {
		return errors.New("-out DIR is required")
	}
	lo, hi, err := parseRange(*eps)
	if err != nil {
		return fmt.Errorf("-epsilon %q: %w", *eps, err)
	}
	cfg := demos.Config{EnvID: *envID, Episodes: *episodes, Seed: *seed, EpsilonMin: lo, EpsilonMax: hi,
		Best: demos.BestRule(*best), MaxSteps: *maxSteps, Workers: *workers}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	prog := newProgressLine(stderr, *quiet)
	start := time.Now()
	m, err := demos.Collect(ctx, cfg, version, *out, func(p demos.Progress) {
		el := time.Since(start).Seconds()
		eta := time.Duration(el/float64(p.Episodes)*float64(p.Total-p.Episodes)) * time.Second
		prog.status(fmt.Sprintf("demos: episode %d/%d  %d states  %.1f states/s  success %.2f  ETA %s",
			p.Episodes, p.Total, p.Steps, float64(p.Steps)/el, float64(p.Successes)/float64(p.Episodes), eta.Round(time.Second)))
	})
	prog.clear()
	if err != nil {
		return err
	}
	el := time.Since(start).Seconds()
	c := m.Counts
	fmt.Fprintf(stdout, "%s: %d episodes, %d states (%.1f states/s, %.1f s), success %.3f, %d explored steps, best set %.2f actions on average\n",
		*out, c.Episodes, c.Steps, float64(c.Steps)/el, el, float64(c.Successes)/float64(c.Episodes), c.Explored, float64(c.BestSize)/float64(c.Steps))
	return nil
}

// parseRange reads "A,B" or "A" as a closed range.
func parseRange(s string) (float64, float64, error) {
	parts := strings.Split(s, ",")
	if len(parts) > 2 {
		return 0, 0, errors.New("want MIN,MAX or one value")
	}
	var v [2]float64
	for i, p := range parts {
		x, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return 0, 0, err
		}
		v[i] = x
	}
	if len(parts) == 1 {
		v[1] = v[0]
	}
	if !(0 <= v[0] && v[0] <= v[1] && v[1] <= 1) {
		return 0, 0, errors.New("want 0 ≤ MIN ≤ MAX ≤ 1")
	}
	return v[0], v[1], nil
}

func cmdDemosDataset(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demos dataset", stderr)
	dir := fs.String("demos", "", "demonstrations directory (required)")
	out := fs.String("out", "", "dataset directory to write (required)")
	tmpl := fs.String("template", "clevr-v1", "prompt template version: clevr-v1 (what ollama: sends today), clevr-rel-v1 or clevr-compact-v1 (for trained models) or generic-v1")
	held := fs.Float64("heldout", 0.2, "fraction of the episodes held out")
	seed := fs.Uint64("seed", 1, "seed of the episode split")
	trainEpisodes := fs.Int("train-episodes", 0, "keep only the first N training episodes (0: all); the held-out episodes stay those of the whole directory, so a ladder of data sizes shares one held-out set")
	augment := fs.Int("augment", 0, "add N views of each training state through the env's symmetries (CLEVR-Robot: colours, left and right), the expert's action mapped")
	augmentSeed := fs.Uint64("augment-seed", 0, "seed of which views -augment draws (the split keeps -seed): another value gives fresh views of the same split")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *out == "" {
		return errors.New("-demos DIR and -out DIR are required")
	}
	start := time.Now()
	m, err := demos.BuildDataset(*dir, *out, demos.DatasetConfig{Template: *tmpl, HeldoutFraction: *held, Seed: *seed, TrainEpisodes: *trainEpisodes, Augment: *augment, AugmentSeed: *augmentSeed}, version)
	if err != nil {
		return err
	}
	c := m.Counts
	aug := ""
	if c.AugmentedStates > 0 {
		aug = fmt.Sprintf(" (%d symmetric views)", c.AugmentedStates)
	}
	fmt.Fprintf(stdout, "%s: template %s; train %d episodes, %d pairs%s; held out %d episodes, %d pairs, %d states (%.1f s)\n",
		*out, m.Config.Template, c.TrainEpisodes, c.TrainPairs, aug, c.HeldoutEpisodes, c.HeldoutPairs, c.HeldoutStates, time.Since(start).Seconds())
	return nil
}

func cmdDemosCeiling(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demos ceiling", stderr)
	dir := fs.String("data", "", "dataset directory (required)")
	asJSON := fs.Bool("json", false, "print JSON")
	draws := fs.Int("jitter", 0, "also the jittered ceiling: draw this many states with each held-out state's text, ask the expert in each and score the majority action (needs the dataset's demonstrations); 0: only the per-text bound")
	sweeps := fs.Int("jitter-sweeps", 2, "Metropolis sweeps over the coordinates before each draw")
	step := fs.Float64("jitter-step", 0.02, "half-width of a proposed move, in the env's coordinates (CLEVR-Robot: metres); about the text's grid cell")
	seed := fs.Uint64("seed", 1, "seed of the draws")
	workers := fs.Int("workers", 0, "states bounded in parallel; 0: one per CPU (the result does not depend on it)")
	quiet := fs.Bool("quiet", false, "no progress line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("-data DIR is required")
	}
	if *draws < 0 {
		return fmt.Errorf("-jitter %d: the number of draws per state, ≥ 1 (0: no jittered ceiling)", *draws)
	}
	if *draws == 0 {
		var unused []string
		fs.Visit(func(f *flag.Flag) {
			if f.Name != "data" && f.Name != "json" && f.Name != "quiet" {
				unused = append(unused, "-"+f.Name)
			}
		})
		if len(unused) > 0 {
			return fmt.Errorf("%s set the jittered ceiling, which only -jitter K asks for; add -jitter K (e.g. 40)", strings.Join(unused, ", "))
		}
	}
	m, states, err := demos.ReadDataset(*dir)
	if err != nil {
		return err
	}
	c := demos.TextCeiling(states)
	var j *demos.JitteredCeiling
	if *draws > 0 {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		prog := newProgressLine(stderr, *quiet)
		start := time.Now()
		r, err := demos.JitteredTextCeiling(ctx, m, states, demos.JitterConfig{Draws: *draws, Sweeps: *sweeps, Step: *step, Seed: *seed, Workers: *workers},
			func(done int) {
				if done%50 == 0 {
					el := time.Since(start).Seconds()
					eta := time.Duration(el/float64(done)*float64(len(states)-done)) * time.Second
					prog.status(fmt.Sprintf("ceiling: state %d/%d  ETA %s", done, len(states), eta.Round(time.Second)))
				}
			})
		prog.clear()
		if err != nil {
			return err
		}
		j = &r
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(struct {
			demos.Ceiling
			Jittered *demos.JitteredCeiling `json:"jittered,omitempty"`
		}{c, j})
	}
	fmt.Fprintf(stdout, "%s (template %s): %d held-out states, %d distinct texts, %d states share their text\n"+
		"text ceiling: majority label per text %.4f, best action per text %.4f\n",
		*dir, m.Config.Template, c.States, c.DistinctTexts, c.RepeatedStates, c.Majority, c.Optimum)
	if j != nil {
		fmt.Fprintf(stdout, "jittered ceiling (%d draws per state, %d sweeps, step %g, seed %d): %.4f ± %.4f (one s.e.); a single draw %.4f; moves accepted %.2f; %d states start off the valid set\n",
			j.Draws, j.Sweeps, j.Step, j.Seed, j.Agreement, j.StdErr, j.DrawAgreement, j.Acceptance, j.OffStarts)
	}
	return nil
}

func cmdDemosAgreement(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demos agreement", stderr)
	dir := fs.String("data", "", "dataset directory (required)")
	model := fs.String("model", "", "ollama:NAME, a model served by the configured Ollama, or lm:PATH.gguf, a llama GGUF scored in-process (required)")
	host := fs.String("host", "", "Ollama host of ollama:NAME; empty: $OLLAMA_HOST or the default")
	device := fs.String("device", "auto", "device of lm:PATH.gguf: cpu, cuda, cuda:N or auto")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ollamaName, isOllama := strings.CutPrefix(*model, "ollama:")
	lmPath, isLM := strings.CutPrefix(*model, "lm:")
	if *dir == "" || !(isOllama && ollamaName != "" || isLM && lmPath != "") {
		return errors.New("-data DIR and -model ollama:NAME or lm:PATH.gguf are required")
	}
	m, states, err := demos.ReadDataset(*dir)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	var r demos.AgreementResult
	if isLM {
		dev, derr := torch.ParseDevice(*device)
		if derr != nil {
			return fmt.Errorf("-device: %w", derr)
		}
		var s *lm.Scorer
		if s, err = lm.OpenScorer(lmPath, lm.ScorerOptions{Device: dev.String()}); err != nil {
			return fmt.Errorf("-model lm:%s: %w", lmPath, err)
		}
		defer s.Close()
		r, err = stage1.Agreement(ctx, s, m, states)
	} else {
		oc := prior.OllamaConfigFrom(config.Default(), ollamaName)
		oc.Host = *host
		var o *prior.Ollama
		if o, err = prior.NewOllama(ctx, oc); err != nil {
			return err
		}
		r, err = demos.Agreement(ctx, o, m, states)
	}
	if err != nil {
		return err
	}
	c := demos.TextCeiling(states)
	fmt.Fprintf(stdout, "%s on %s (template %s, %d held-out states): agreement %.4f (exact %.4f, first factor %.4f); text ceiling %.4f; %.1f s\n",
		*model, *dir, m.Config.Template, r.States, r.Agreement, r.Exact, r.FirstFactor, c.Optimum, time.Since(start).Seconds())
	return nil
}
