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

	"github.com/lago-rl/lago/engine/clevr"
	"github.com/lago-rl/lago/engine/env"
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
	// The name may come before the flags (lago env clevr -seed 3) or after.
	names, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		fs.Usage()
		return errors.New("no environment named")
	}
	if len(names) > 1 {
		return fmt.Errorf("one environment at a time; got %s", strings.Join(names, ", "))
	}
	name := names[0]
	if *steps < 0 {
		return fmt.Errorf("-steps %d: want 0 or more", *steps)
	}
	if *keys < 0 {
		return fmt.Errorf("-keys %d: want 0 or more (0: do not count keys)", *keys)
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
		policy = func() { e.ActionSpace().Sample(r, act) }
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
