package ppo

import (
	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/env"
)

// Regularizer is the seam D in PPO's loss
//
//	pg + vf_coef·v − ent_coef·H + β·D
//
// D is computed from the policy's distribution on a minibatch. LaGO's
// latent-prior KL is one; vanilla PPO has none. A Regularizer that needs
// per-state data (a prior looked up by state) gathers it during the rollout
// in Observe and finds it again in Term by the samples' rollout indices.
type Regularizer interface {
	// Name names the regulariser in logs.
	Name() string
	// BeginRollout is called before each rollout of numSteps steps of numEnvs envs.
	BeginRollout(numSteps, numEnvs int) error
	// Observe is called at each rollout step, before the policy acts on
	// v.Obs; sample index step*numEnvs+i is env i's observation.
	Observe(step int, v *env.Vec) error
	// Term returns D (a scalar in the autograd graph) for the minibatch whose
	// rollout indices are idx, and its weight β at the given training
	// progress in [0, 1]. A nil D (with no error) adds nothing, e.g. when no
	// sample of the minibatch has a prior yet.
	Term(s *torch.Scope, d Dist, idx []int64, progress float64) (D *torch.Tensor, beta float64, err error)
	// Metrics returns the regulariser's figures for the iteration that just
	// ended (logged into metrics.jsonl) and resets them.
	Metrics() map[string]float64
}
