// Package policy is what acts in an environment, whatever trained it: the
// Policy type, the built-in random and scripted-expert policies, and the
// evaluation of a policy over episodes. It knows no learning algorithm; a
// trained PPO agent is a Policy through ppo.Trainer.AgentPolicy.
package policy

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"

	"github.com/lago-rl/lago/engine/env"
)

// Policy writes actions [NumEnvs*ActDim] for the Vec's current observations.
type Policy func(v *env.Vec, actions []float32) error

// Random samples uniformly from the action space (env.Space.Sample), env by
// env, from a PCG seeded with seed.
func Random(seed uint64) Policy {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	return func(v *env.Vec, actions []float32) error {
		for i := 0; i < v.NumEnvs; i++ {
			v.ActSpace.Sample(r, actions[i*v.ActDim:(i+1)*v.ActDim])
		}
		return nil
	}
}

// Expert asks each env of v for its scripted expert's action; an error if
// the env has no expert.
func Expert(v *env.Vec) (Policy, error) {
	for i := 0; i < v.NumEnvs; i++ {
		if _, ok := v.Env(i).(env.Expert); !ok {
			return nil, fmt.Errorf("policy: %s has no scripted expert", v.Spec.ID)
		}
	}
	return func(v *env.Vec, actions []float32) error {
		for i := 0; i < v.NumEnvs; i++ {
			v.Env(i).(env.Expert).ExpertAction(actions[i*v.ActDim : (i+1)*v.ActDim])
		}
		return nil
	}, nil
}

// Builtin names a policy that needs no training.
type Builtin string

// The built-in policies.
const (
	BuiltinRandom Builtin = "random" // Random
	BuiltinExpert Builtin = "expert" // Expert
)

// Builtins lists the built-in policies' names.
var Builtins = []Builtin{BuiltinRandom, BuiltinExpert}

// ParseBuiltin reads a built-in policy's name; an unknown one is an error
// listing the names.
func ParseBuiltin(name string) (Builtin, error) {
	for _, b := range Builtins {
		if string(b) == name {
			return b, nil
		}
	}
	names := make([]string, len(Builtins))
	for i, b := range Builtins {
		names[i] = string(b)
	}
	return "", fmt.Errorf("policy: unknown built-in policy %q: want one of %s", name, strings.Join(names, ", "))
}

// For returns the built-in policy for the envs of v; random draws from seed.
func (b Builtin) For(v *env.Vec, seed uint64) (Policy, error) {
	switch b {
	case BuiltinRandom:
		return Random(seed), nil
	case BuiltinExpert:
		return Expert(v)
	}
	_, err := ParseBuiltin(string(b))
	return nil, err
}

// EvalResult summarises evaluation episodes.
type EvalResult struct {
	Episodes    int     `json:"episodes"`
	MeanReturn  float64 `json:"mean_return"`
	StdReturn   float64 `json:"std_return"`
	MeanLength  float64 `json:"mean_length"`
	SuccessRate float64 `json:"success_rate"`
	// SuccessByLevel is the success rate of each task level, for envs
	// whose episodes have levels (env.Leveled).
	SuccessByLevel map[string]float64 `json:"success_by_level,omitempty"`
}

// Evaluate runs p on v until episodes episodes have finished. Env i
// contributes its share of the episodes (SB3's evaluate_policy), so short
// episodes do not crowd out long ones. v must be freshly Reset.
func Evaluate(v *env.Vec, episodes int, p Policy) (EvalResult, error) {
	if err := checkEpisodes(episodes); err != nil {
		return EvalResult{}, err
	}
	quota := make([]int, v.NumEnvs)
	for i := range quota {
		quota[i] = (episodes + v.NumEnvs - 1 - i) / v.NumEnvs
	}
	actions := make([]float32, v.NumEnvs*v.ActDim)
	var res EvalResult
	var sum, sumSq float64
	levels := map[string][2]int{} // successes, episodes of each level
	for res.Episodes < episodes {
		if err := p(v, actions); err != nil {
			return res, err
		}
		v.Step(actions)
		for i := 0; i < v.NumEnvs; i++ {
			if (v.Terminated[i] || v.Truncated[i]) && quota[i] > 0 {
				quota[i]--
				res.Episodes++
				r := v.EpisodeReturn[i]
				sum += r
				sumSq += r * r
				res.MeanLength += float64(v.EpisodeLength[i])
				if v.EpisodeSuccess[i] {
					res.SuccessRate++
				}
				if l := v.EpisodeLevel[i]; l != "" {
					c := levels[l]
					c[1]++
					if v.EpisodeSuccess[i] {
						c[0]++
					}
					levels[l] = c
				}
			}
		}
	}
	n := float64(res.Episodes)
	res.MeanReturn = sum / n
	res.StdReturn = math.Sqrt(math.Max(sumSq/n-res.MeanReturn*res.MeanReturn, 0))
	res.MeanLength /= n
	res.SuccessRate /= n
	if len(levels) > 0 {
		res.SuccessByLevel = make(map[string]float64, len(levels))
		for l, c := range levels {
			res.SuccessByLevel[l] = float64(c[0]) / float64(c[1])
		}
	}
	return res, nil
}

// MaxEvalEnvs bounds the envs an evaluation steps at once.
const MaxEvalEnvs = 16

// EvaluateEnv evaluates over episodes episodes of envID: it builds
// min(episodes, MaxEvalEnvs) envs seeded with seed (stepped by one worker
// per CPU), resets them, asks build for the policy and runs Evaluate.
func EvaluateEnv(envID string, episodes int, seed uint64, build func(v *env.Vec) (Policy, error)) (EvalResult, error) {
	if err := checkEpisodes(episodes); err != nil {
		return EvalResult{}, err
	}
	v, err := env.NewVec(envID, min(episodes, MaxEvalEnvs), runtime.NumCPU(), seed)
	if err != nil {
		return EvalResult{}, err
	}
	defer v.Close()
	v.Reset()
	p, err := build(v)
	if err != nil {
		return EvalResult{}, err
	}
	return Evaluate(v, episodes, p)
}

// EvaluateBuiltin evaluates the built-in policy named name on envID.
func EvaluateBuiltin(envID, name string, episodes int, seed uint64) (EvalResult, error) {
	b, err := ParseBuiltin(name)
	if err != nil {
		return EvalResult{}, err
	}
	return EvaluateEnv(envID, episodes, seed, func(v *env.Vec) (Policy, error) { return b.For(v, seed) })
}

func checkEpisodes(n int) error {
	if n < 1 {
		return fmt.Errorf("policy: evaluation needs at least 1 episode, got %d", n)
	}
	return nil
}
