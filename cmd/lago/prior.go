package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/lago-rl/lago/engine/env"
	"github.com/lago-rl/lago/engine/policy"
	"github.com/lago-rl/lago/engine/prior"
)

func init() {
	register("prior", "inspect the prior: show (one state's text, prompt, distribution), warm (pre-fill the cache), stats", cmdPrior)
}

func cmdPrior(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: lago prior show|warm|stats [flags]")
	}
	switch args[0] {
	case "show":
		return priorShow(args[1:], stdout, stderr)
	case "warm":
		return priorWarm(args[1:], stdout, stderr)
	case "stats":
		return priorStats(args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown subcommand %q: want show, warm or stats", args[0])
}

func priorFlags(name string, stderr io.Writer) (*flag.FlagSet, *string, *multiFlag) {
	fs := newFlags("prior "+name, stderr)
	path := fs.String("config", "", "TOML config naming env_id and prior")
	sets := &multiFlag{}
	fs.Var(sets, "set", "override a config key: -set key=value (repeatable)")
	return fs, path, sets
}

func priorShow(args []string, stdout, stderr io.Writer) error {
	fs, path, sets := priorFlags("show", stderr)
	seed := fs.Uint64("seed", 1, "seed of the env whose first state is shown")
	asJSON := fs.Bool("json", false, "print one JSON object")
	top := fs.Int("top", 10, "how many of the most likely actions to list")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path, *sets)
	if err != nil {
		return err
	}
	e, err := env.Make(cfg.EnvID)
	if err != nil {
		return err
	}
	if e.ActionSpace().Kind != env.DiscreteKind {
		return fmt.Errorf("%s has continuous actions; lago prior shows discrete priors", cfg.EnvID)
	}
	e.Seed(*seed)
	obs := make([]float32, e.ObservationSpace().Dim())
	e.Reset(obs)
	ctx := context.Background()
	p, err := prior.New(ctx, cfg)
	if err != nil {
		return err
	}
	if p == nil {
		return errors.New(`config has prior = "none"; name one with -set prior=...`)
	}
	defer p.Close()
	n := e.ActionSpace().N
	probs := make([]float32, n)
	out := struct {
		Env      string    `json:"env_id"`
		Seed     uint64    `json:"seed"`
		Prior    string    `json:"prior"`
		TextView string    `json:"text_view,omitempty"`
		Prompts  []string  `json:"prompts,omitempty"`
		Calls    int       `json:"llm_calls"`
		Mode     string    `json:"mode,omitempty"`
		Actions  []string  `json:"actions,omitempty"`
		Probs    []float32 `json:"probs"`
	}{Env: cfg.EnvID, Seed: *seed, Prior: p.Name()}
	if d, ok := e.(env.Describer); ok {
		out.TextView = d.TextView()
		out.Actions = d.ActionNames()
	}
	if op, ok := p.(*prior.OllamaPrior); ok {
		q, err := prior.QuestionFor(e)
		if err != nil {
			return err
		}
		res, err := op.Ollama().Score(ctx, q)
		if err != nil {
			return err
		}
		copy(probs, res.Entry.Probs)
		out.Calls, out.Mode = res.Calls, res.Entry.Mode.String()
		out.Prompts = append(out.Prompts, q.Prompt(0, ""))
		if len(q.Factors) == 2 {
			best := 0
			for i := range probs {
				if probs[i] > probs[best] {
					best = i
				}
			}
			out.Prompts = append(out.Prompts, q.Prompt(1, q.Factors[0][best/len(q.Factors[1])]))
		}
		op.Cache().Put(op.Service().KeyOf(q), res.Entry)
	} else if _, ok, err := p.Lookup(e, probs); err != nil || !ok {
		return fmt.Errorf("prior %s gave no answer: %v", p.Name(), err)
	}
	out.Probs = probs
	if *asJSON {
		return json.NewEncoder(stdout).Encode(out)
	}
	fmt.Fprintf(stdout, "env %s, seed %d, prior %s\n", out.Env, out.Seed, out.Prior)
	if out.TextView != "" {
		fmt.Fprintf(stdout, "\n-- text view --\n%s\n", out.TextView)
	}
	for i, pr := range out.Prompts {
		fmt.Fprintf(stdout, "\n-- prompt %d --\n%s\n", i+1, pr)
	}
	if out.Mode != "" {
		fmt.Fprintf(stdout, "\nscored by %s in %d request(s)\n", out.Mode, out.Calls)
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return probs[order[a]] > probs[order[b]] })
	fmt.Fprintf(stdout, "\n-- most likely actions --\n")
	for _, i := range order[:min(*top, n)] {
		name := fmt.Sprint(i)
		if i < len(out.Actions) {
			name = out.Actions[i]
		}
		fmt.Fprintf(stdout, "%6.3f  %2d  %s\n", probs[i], i, name)
	}
	return nil
}

func priorWarm(args []string, stdout, stderr io.Writer) error {
	fs, path, sets := priorFlags("warm", stderr)
	steps := fs.Int("steps", 10000, "env steps to roll (random policy, plus the expert where the env has one)")
	seed := fs.Uint64("seed", 1, "seed of the envs")
	wait := fs.Duration("wait", 10*time.Minute, "how long to wait at the end for the queue to drain")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path, *sets)
	if err != nil {
		return err
	}
	ctx := context.Background()
	p, err := prior.New(ctx, cfg)
	if err != nil {
		return err
	}
	op, ok := p.(*prior.OllamaPrior)
	if !ok {
		if p != nil {
			p.Close()
		}
		return fmt.Errorf("prior %q needs no cache; warm an ollama:MODEL prior", cfg.Prior)
	}
	defer op.Close()
	v, err := env.NewVec(cfg.EnvID, cfg.NumEnvs, cfg.NumWorkers, *seed)
	if err != nil {
		return err
	}
	defer v.Close()
	v.Reset()
	policies := []policy.Policy{policy.Random(*seed)}
	if expert, err := policy.Expert(v); err == nil {
		policies = append(policies, expert)
	}
	prog := newProgressLine(stderr, false)
	probs := make([]float32, v.ActSpace.N)
	actions := make([]float32, v.NumEnvs*v.ActDim)
	var keys []prior.Key
	for step := 0; step < *steps; step += v.NumEnvs {
		for i := 0; i < v.NumEnvs; i++ {
			k, _, err := op.Lookup(v.Env(i), probs)
			if err != nil {
				return err
			}
			keys = append(keys, k)
		}
		// Alternate the policies episode-wise by step block, so both the
		// random and the expert's state distributions are covered.
		pol := policies[(step/(v.NumEnvs*50))%len(policies)]
		if err := pol(v, actions); err != nil {
			return err
		}
		v.Step(actions)
		m := op.Service().Metrics()
		prog.status(fmt.Sprintf("warm: step %d/%d  cache %d entries  queue %.0f  hit rate %.2f",
			step+v.NumEnvs, *steps, op.Cache().Len(), m["prior_queue_depth"], m["prior_hit_rate"]))
	}
	dctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	for {
		err := op.Wait(dctx, keys)
		if err == nil || dctx.Err() != nil {
			break
		}
	}
	prog.clear()
	u := op.Service().Usage()
	fmt.Fprintf(stdout, "warmed %s for %s: %d lookups, %d hits, %d LLM calls; cache %s holds %d entries\n",
		cfg.Prior, cfg.EnvID, u.Lookups, u.Hits, u.Calls, op.Cache().Path(), op.Cache().Len())
	return nil
}

func priorStats(args []string, stdout, stderr io.Writer) error {
	fs, path, sets := priorFlags("stats", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path, *sets)
	if err != nil {
		return err
	}
	dir := prior.CacheDir(cfg)
	c, err := prior.OpenCache(dir, 1)
	if err != nil {
		return err
	}
	defer c.Close()
	size := int64(0)
	if st, err := os.Stat(c.Path()); err == nil {
		size = st.Size()
	}
	u, err := prior.ReadUsage(dir)
	if err != nil {
		return err
	}
	census := c.Census()
	fmt.Fprintf(stdout, "cache      %s\nentries    %d (logprobs %d, sampled %d, uniform %d)\ndisk size  %.1f KiB\n",
		c.Path(), c.Len(), census[prior.ModeLogprobs], census[prior.ModeSampled], census[prior.ModeUniform], float64(size)/1024)
	hit := 0.0
	if u.Lookups > 0 {
		hit = float64(u.Hits) / float64(u.Lookups)
	}
	fmt.Fprintf(stdout, "lookups    %d (hit rate %.3f), LLM calls %d\n", u.Lookups, hit, u.Calls)
	return nil
}
