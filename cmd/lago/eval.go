package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"

	"github.com/lago-rl/lago/engine/policy"
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
	asJSON := fs.Bool("json", false, "print one JSON object: episodes, mean_return, std_return, mean_length, success_rate and, for envs with task levels, success_by_level")
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
	var res policy.EvalResult
	if *runDir != "" {
		cfg, err := run.LoadConfig(*runDir)
		if err != nil {
			return err
		}
		res, err = ppo.EvaluateCheckpoint(cfg, filepath.Join(*runDir, runfile.CheckpointFile), *episodes, *seed, *deterministic)
		if err != nil {
			return err
		}
	} else {
		cfg, err := loadConfig(*path, sets)
		if err != nil {
			return err
		}
		if res, err = policy.EvaluateBuiltin(cfg.Env(), *policyName, *episodes, *seed); err != nil {
			return err
		}
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "episodes %d  mean return %.3f ± %.3f  mean length %.1f  success rate %.3f\n",
		res.Episodes, res.MeanReturn, res.StdReturn, res.MeanLength, res.SuccessRate)
	for _, l := range slices.Sorted(maps.Keys(res.SuccessByLevel)) {
		fmt.Fprintf(stdout, "  %s: success rate %.3f\n", l, res.SuccessByLevel[l])
	}
	return nil
}
