package ppo

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/env"
)

// Policy writes actions [NumEnvs*ActDim] for the Vec's current observations.
type Policy func(v *env.Vec, actions []float32) error

// EvalResult summarises evaluation episodes.
type EvalResult struct {
	Episodes    int     `json:"episodes"`
	MeanReturn  float64 `json:"mean_return"`
	StdReturn   float64 `json:"std_return"`
	MeanLength  float64 `json:"mean_length"`
	SuccessRate float64 `json:"success_rate"`
}

// Evaluate runs policy on v until episodes episodes have finished. Env i
// contributes its share of the episodes (SB3's evaluate_policy), so short
// episodes do not crowd out long ones. v must be freshly Reset.
func Evaluate(v *env.Vec, episodes int, policy Policy) (EvalResult, error) {
	if episodes < 1 {
		return EvalResult{}, errors.New("episodes must be ≥ 1")
	}
	quota := make([]int, v.NumEnvs)
	for i := range quota {
		quota[i] = (episodes + v.NumEnvs - 1 - i) / v.NumEnvs
	}
	actions := make([]float32, v.NumEnvs*v.ActDim)
	var res EvalResult
	var sum, sumSq float64
	for res.Episodes < episodes {
		if err := policy(v, actions); err != nil {
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
			}
		}
	}
	n := float64(res.Episodes)
	res.MeanReturn = sum / n
	res.StdReturn = math.Sqrt(math.Max(sumSq/n-res.MeanReturn*res.MeanReturn, 0))
	res.MeanLength /= n
	res.SuccessRate /= n
	return res, nil
}

// RandomPolicy samples uniformly from the action space.
func RandomPolicy(seed uint64) Policy {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	return func(v *env.Vec, actions []float32) error {
		sp := v.ActSpace
		for i := 0; i < v.NumEnvs; i++ {
			if sp.Kind == env.DiscreteKind {
				actions[i] = float32(r.IntN(sp.N))
				continue
			}
			for j := range sp.Low {
				lo, hi := float64(sp.Low[j]), float64(sp.High[j])
				actions[i*v.ActDim+j] = float32(lo + (hi-lo)*r.Float64())
			}
		}
		return nil
	}
}

// ExpertPolicy asks each env for its scripted expert's action.
func ExpertPolicy(v *env.Vec) (Policy, error) {
	for i := 0; i < v.NumEnvs; i++ {
		if _, ok := v.Env(i).(env.Expert); !ok {
			return nil, fmt.Errorf("%s has no scripted expert", v.Spec.ID)
		}
	}
	return func(v *env.Vec, actions []float32) error {
		for i := 0; i < v.NumEnvs; i++ {
			v.Env(i).(env.Expert).ExpertAction(actions[i*v.ActDim : (i+1)*v.ActDim])
		}
		return nil
	}, nil
}

// AgentPolicy acts with the trained agent, normalising observations with the
// training statistics (without updating them). deterministic takes the
// distribution's mode instead of sampling.
func (t *Trainer) AgentPolicy(deterministic bool) Policy {
	obs := []float32(nil)
	var actInt []int64
	return func(v *env.Vec, actions []float32) error {
		obs = append(obs[:0], v.Obs...)
		t.Norm.NormalizeObs(obs, v.NumEnvs)
		return torch.NoGrad(func() error {
			s := torch.NewScope()
			defer s.Close()
			x := torch.FromSliceIn(s, obs, []int64{int64(v.NumEnvs), int64(v.ObsDim)}, t.Dev)
			a := t.Agent.Distribution(s, x).Sample(s, deterministic)
			if err := s.Err(); err != nil {
				return err
			}
			if t.Agent.Discrete {
				if len(actInt) != v.NumEnvs {
					actInt = make([]int64, v.NumEnvs)
				}
				if err := torch.CopyTo(a, actInt); err != nil {
					return err
				}
				for i, x := range actInt {
					actions[i] = float32(x)
				}
				return nil
			}
			if err := torch.CopyTo(a, actions); err != nil {
				return err
			}
			sp := v.ActSpace
			for i := range actions {
				j := i % v.ActDim
				actions[i] = min(max(actions[i], sp.Low[j]), sp.High[j])
			}
			return nil
		})
	}
}
