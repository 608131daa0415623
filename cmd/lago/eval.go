package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"

	"github.com/lago-rl/lago/engine/env"
	"github.com/lago-rl/lago/engine/ppo"
	"github.com/lago-rl/lago/engine/run"
	"github.com/lago-rl/lago/engine/runfile"
)

func init() {
	register("eval", "evaluate a trained run (-run DIR) or a built-in policy (-config FILE -policy random|expert)", cmdEval)
}

func cmdEval(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval", stderr)
	runDir := fs.String("run", "", "run directory whose checkpoint to evaluate")
	path := fs.String("config", "", "config file, with -policy")
	policyName := fs.String("policy", "", "built-in policy instead of a run: random or expert")
	episodes := fs.Int("episodes", 20, "episodes to run")
	deterministic := fs.Bool("deterministic", false, "act with the policy's mode instead of sampling")
	seed := fs.Uint64("seed", 1_000_003, "seed of the evaluation envs (apart from training's by default)")
	asJSON := fs.Bool("json", false, "print one JSON object: episodes, mean_return, std_return, mean_length, success_rate")
	var sets multiFlag
	fs.Var(&sets, "set", "override a config key (with -config): -set key=value")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *episodes < 1 {
		return fmt.Errorf("-episodes %d: want at least 1", *episodes)
	}
	if (*runDir == "") == (*policyName == "") {
		return errors.New("give either -run RUNDIR or -policy random|expert (with -config FILE)")
	}
	var res ppo.EvalResult
	var err error
	if *runDir != "" {
		res, err = evalRun(*runDir, *episodes, *deterministic, *seed)
	} else {
		res, err = evalBuiltin(*path, sets, *policyName, *episodes, *seed)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "episodes %d  mean return %.3f ± %.3f  mean length %.1f  success rate %.3f\n",
		res.Episodes, res.MeanReturn, res.StdReturn, res.MeanLength, res.SuccessRate)
	return nil
}

func evalVec(envID string, episodes int, seed uint64) (*env.Vec, error) {
	v, err := env.NewVec(envID, min(episodes, 16), runtime.NumCPU(), seed)
	if err != nil {
		return nil, err
	}
	v.Reset()
	return v, nil
}

func evalRun(dir string, episodes int, deterministic bool, seed uint64) (ppo.EvalResult, error) {
	cfg, err := run.LoadConfig(dir)
	if err != nil {
		return ppo.EvalResult{}, err
	}
	t, err := ppo.New(cfg, nil)
	if err != nil {
		return ppo.EvalResult{}, err
	}
	defer t.Close()
	if err := t.LoadCheckpoint(filepath.Join(dir, runfile.CheckpointFile)); err != nil {
		return ppo.EvalResult{}, err
	}
	v, err := evalVec(cfg.EnvID, episodes, seed)
	if err != nil {
		return ppo.EvalResult{}, err
	}
	defer v.Close()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return ppo.Evaluate(v, episodes, t.AgentPolicy(deterministic))
}

func evalBuiltin(path string, sets []string, name string, episodes int, seed uint64) (ppo.EvalResult, error) {
	cfg, err := loadConfig(path, sets)
	if err != nil {
		return ppo.EvalResult{}, err
	}
	v, err := evalVec(cfg.EnvID, episodes, seed)
	if err != nil {
		return ppo.EvalResult{}, err
	}
	defer v.Close()
	var policy ppo.Policy
	switch name {
	case "random":
		policy = ppo.RandomPolicy(seed)
	case "expert":
		if policy, err = ppo.ExpertPolicy(v); err != nil {
			return ppo.EvalResult{}, err
		}
	default:
		return ppo.EvalResult{}, fmt.Errorf("-policy %q: want random or expert", name)
	}
	return ppo.Evaluate(v, episodes, policy)
}
