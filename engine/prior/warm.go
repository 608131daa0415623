package prior

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/env"
	"github.com/lago-rl/lago/engine/policy"
)

// WarmOptions drive Warm.
type WarmOptions struct {
	// Steps is how many env steps to roll (all envs of the Vec together).
	Steps int
	// Policies act in turn, one block of 50 Vec steps each, so that the
	// states of each (a random policy's, an expert's) get scored.
	Policies []policy.Policy
	// Wait bounds how long Warm waits at the end for the queued states.
	Wait time.Duration
	// Progress, when set, is called after every Vec step.
	Progress func(WarmProgress)
}

// WarmProgress is Warm's state after a Vec step.
type WarmProgress struct {
	Step, Steps, Entries int
	QueueDepth, HitRate  float64
}

// WarmReport is what Warm did.
type WarmReport struct {
	Usage     Usage  // lookups, hits and LLM calls of this warm-up
	CachePath string // the log ("" for a memory-only cache)
	Entries   int    // entries the cache holds at the end
	Drained   bool   // every queued state was scored within Wait
}

// Warm pre-fills p's cache: it rolls v with the policies, looks up every
// state it visits (queueing the unknown ones for the model), then waits for
// the queue to drain. Only an LLM prior has a cache to fill. v must be
// freshly Reset.
func Warm(ctx context.Context, p Prior, v *env.Vec, opt WarmOptions) (WarmReport, error) {
	sp, ok := p.(served)
	if !ok {
		name := "none"
		if p != nil {
			name = p.Name()
		}
		return WarmReport{}, fmt.Errorf("config key prior: %q needs no cache; warm an ollama:MODEL or lm:PATH.gguf prior", name)
	}
	op := sp.served()
	if len(opt.Policies) == 0 {
		return WarmReport{}, errors.New("prior: warm needs at least one policy")
	}
	n := v.ActSpace.N
	if v.ActSpace.Kind != env.DiscreteKind {
		sk, ok := v.Env(0).(env.Skilled)
		if !ok {
			return WarmReport{}, fmt.Errorf("prior: %s has continuous actions and no skills (env.Skilled); a prior is over discrete actions or skills", v.Spec.ID)
		}
		n = sk.NumSkills()
	}
	probs := make([]float32, n)
	actions := make([]float32, v.NumEnvs*v.ActDim)
	var keys []Key
	for step := 0; step < opt.Steps; step += v.NumEnvs {
		if err := ctx.Err(); err != nil {
			return WarmReport{}, err
		}
		for i := 0; i < v.NumEnvs; i++ {
			k, _, err := op.Lookup(v.Env(i), probs)
			if err != nil {
				return WarmReport{}, err
			}
			keys = append(keys, k)
		}
		pol := opt.Policies[(step/(v.NumEnvs*50))%len(opt.Policies)]
		if err := pol(v, actions); err != nil {
			return WarmReport{}, err
		}
		v.Step(actions)
		if opt.Progress != nil {
			m := op.service.Metrics()
			opt.Progress(WarmProgress{Step: step + v.NumEnvs, Steps: opt.Steps, Entries: op.cache.Len(),
				QueueDepth: m["prior_queue_depth"], HitRate: m["prior_hit_rate"]})
		}
	}
	wctx, cancel := context.WithTimeout(ctx, opt.Wait)
	defer cancel()
	err := op.Wait(wctx, keys)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return WarmReport{}, err
	}
	return WarmReport{Usage: op.service.Usage(), CachePath: op.cache.Path(), Entries: op.cache.Len(), Drained: err == nil}, nil
}

// WarmEnv warms p on cfg's env (cfg.Env()): it builds cfg.NumEnvs envs
// seeded from seed and stepped by cfg.NumWorkers workers, and rolls the
// random policy (seeded with seed) and, where the env has one, its scripted
// expert, in turn: the states an agent visits early in training and those
// it visits once it acts well. WarmEnv chooses the policies, so
// opt.Policies must be empty.
func WarmEnv(ctx context.Context, p Prior, cfg config.Config, seed uint64, opt WarmOptions) (WarmReport, error) {
	if len(opt.Policies) > 0 {
		return WarmReport{}, errors.New("prior: WarmEnv rolls the built-in policies; give Warm your own")
	}
	v, err := env.NewVec(cfg.Env(), cfg.NumEnvs, cfg.NumWorkers, seed)
	if err != nil {
		return WarmReport{}, err
	}
	defer v.Close()
	v.Reset()
	opt.Policies = []policy.Policy{policy.Random(seed)}
	if expert, err := policy.Expert(v); err == nil {
		opt.Policies = append(opt.Policies, expert)
	}
	return Warm(ctx, p, v, opt)
}
