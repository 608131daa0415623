package main

import (
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/lago-rl/lago/engine/clevr" // registers the CLEVR-Robot ids
	"github.com/lago-rl/lago/engine/env"
	_ "github.com/lago-rl/lago/engine/metaworld" // registers the MetaWorld-<task>-v3 ids
)

func init() {
	register("env", "inspect an environment: text view (-text), PNG of a state (-render), distinct state keys (-keys N)", cmdEnv)
}

// envAliases are short names for `lago env`.
var envAliases = map[string]string{"clevr": "CLEVR-Robot-v0"}

func cmdEnv(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("env", stderr)
	seed := fs.Uint64("seed", 1, "seed of the environment (and of the random policy)")
	steps := fs.Int("steps", 0, "act this many steps with -policy before showing the state (stops early where the episode ends)")
	policyName := fs.String("policy", "random", "policy for -steps and -keys: random or expert")
	text := fs.Bool("text", false, "print the text view of the state (the default when nothing else is asked)")
	render := fs.String("render", "", "write a top-down PNG of the state to this file")
	keys := fs.Int("keys", 0, "act this many steps, resetting finished episodes, and count the distinct state keys (hashes of the text view) seen")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: lago env NAME [flags]\n\nNAME is an env id (%s) or clevr for CLEVR-Robot-v0.\n", strings.Join(env.IDs(), ", "))
		fs.PrintDefaults()
	}
	// The name comes first (lago env clevr -seed 3), which the flag package
	// would take for the end of the flags.
	name := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
	}
	if name == "" {
		fs.Usage()
		return errors.New("no environment named")
	}
	if id, ok := envAliases[strings.ToLower(name)]; ok {
		name = id
	}
	e, err := env.Make(name)
	if err != nil {
		return err
	}
	if c, ok := e.(interface{ Close() }); ok {
		defer c.Close()
	}

	r := rand.New(rand.NewPCG(*seed, 0x5eed))
	act := make([]float32, e.ActionSpace().Dim())
	var policy func()
	switch *policyName {
	case "random":
		policy = func() { randomAction(r, e.ActionSpace(), act) }
	case "expert":
		x, ok := e.(env.Expert)
		if !ok {
			return fmt.Errorf("%s has no scripted expert", name)
		}
		policy = func() { x.ExpertAction(act) }
	default:
		return fmt.Errorf("-policy %q: want random or expert", *policyName)
	}

	e.Seed(*seed)
	obs := make([]float32, e.ObservationSpace().Dim())
	e.Reset(obs)
	if *keys > 0 {
		return countKeys(e, *keys, policy, act, obs, stdout)
	}
	for range *steps {
		policy()
		if e.Step(act, obs).Terminated {
			break
		}
	}
	if *render != "" {
		rd, ok := e.(interface{ Render() *image.RGBA })
		if !ok {
			return fmt.Errorf("%s cannot render its states", name)
		}
		if err := writePNG(*render, rd.Render()); err != nil {
			return err
		}
	}
	if *text || *render == "" {
		d, ok := e.(env.Describer)
		if !ok {
			return fmt.Errorf("%s has no text view (it does not implement env.Describer)", name)
		}
		fmt.Fprintln(stdout, d.TextView())
	}
	return nil
}

// countKeys acts n steps and reports how many distinct state keys the
// states acted on have: the number of LLM-prior queries an uncached run of
// that many steps would make.
func countKeys(e env.Env, n int, policy func(), act, obs []float32, stdout io.Writer) error {
	d, ok := e.(env.Describer)
	if !ok {
		return fmt.Errorf("%s has no text view (it does not implement env.Describer)", e.Spec().ID)
	}
	limit := e.Spec().MaxEpisodeSteps
	seen := make(map[string]struct{})
	episodes, successes, elapsed := 0, 0, 0
	for range n {
		seen[clevr.StateKey(d.TextView())] = struct{}{}
		policy()
		tr := e.Step(act, obs)
		elapsed++
		if tr.Terminated || (limit > 0 && elapsed >= limit) {
			episodes++
			if tr.Success {
				successes++
			}
			e.Reset(obs)
			elapsed = 0
		}
	}
	_, err := fmt.Fprintf(stdout, "%d steps, %d episodes (%d successes): %d distinct state keys (%.1f%% of steps)\n",
		n, episodes, successes, len(seen), 100*float64(len(seen))/float64(n))
	return err
}

func randomAction(r *rand.Rand, sp env.Space, act []float32) {
	if sp.Kind == env.DiscreteKind {
		act[0] = float32(r.IntN(sp.N))
		return
	}
	for j := range act {
		lo, hi := float64(sp.Low[j]), float64(sp.High[j])
		act[j] = float32(lo + (hi-lo)*r.Float64())
	}
}

func writePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}
