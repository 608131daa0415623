package ppo

import (
	"runtime"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/env"
	"github.com/lago-rl/lago/engine/policy"
)

// AgentPolicy acts with the trained agent, normalising observations with the
// training statistics (without updating them). deterministic takes the
// distribution's mode instead of sampling. Continuous actions are clipped to
// the box, as in training.
func (t *Trainer) AgentPolicy(deterministic bool) policy.Policy {
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
			v.ActSpace.Clip(actions, actions)
			return nil
		})
	}
}

// EvaluateCheckpoint evaluates the agent of the checkpoint at path, trained
// with cfg, over episodes episodes of fresh envs seeded with seed (see
// policy.EvaluateEnv).
func EvaluateCheckpoint(cfg config.Config, path string, episodes int, seed uint64, deterministic bool) (policy.EvalResult, error) {
	t, err := New(cfg, nil)
	if err != nil {
		return policy.EvalResult{}, err
	}
	defer t.Close()
	if err := t.LoadCheckpoint(path); err != nil {
		return policy.EvalResult{}, err
	}
	runtime.LockOSThread() // torch calls from one thread: grad mode is per thread
	defer runtime.UnlockOSThread()
	return policy.EvaluateEnv(cfg.Env(), episodes, seed, func(*env.Vec) (policy.Policy, error) {
		return t.AgentPolicy(deterministic), nil
	})
}
