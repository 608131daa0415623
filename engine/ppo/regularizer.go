package ppo

import (
	"context"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/env"
)

// Regularizer is the seam D in PPO's loss, whose parts [Loss] builds in one
// place and in this order:
//
//	pg − ent_coef·H + vf_coef·v + β·D
//
// D is computed from the policy's distribution on a minibatch. LaGO's
// latent-prior KL is one; vanilla PPO has none. The trainer numbers a
// rollout's samples 0 … samples−1 and tells the regulariser which samples
// each step's observations are; a Regularizer that needs per-state data (a
// prior looked up by state) gathers it in Observe and finds it again in
// Term by those sample numbers, without knowing how the trainer lays out
// its buffers.
//
// Per iteration the trainer calls BeginRollout, Observe for every env at
// every step, EndRollout once after the rollout's last step, then Term once
// per minibatch of every epoch, and Metrics once at the end.
type Regularizer interface {
	// Name names the regulariser in logs.
	Name() string
	// BeginRollout is called before a rollout of the given number of samples.
	BeginRollout(samples int) error
	// Observe is called at each rollout step for envs lo..hi (hi
	// excluded), before the policy acts on their rows of v.Obs: env i's
	// observation is sample first+i. In lockstep it covers every env at
	// once; in the asynchronous mode (vec_mode = "async") it is called
	// once per group, as soon as the group's step is received, while the
	// other groups are still stepping, so it must read only envs lo..hi
	// (their rows and v.Env(i)) and must not depend on the order of the
	// calls within a step.
	Observe(first int, v *env.Vec, lo, hi int) error
	// EndRollout is called once after the rollout's last step and before
	// the update, e.g. to pick up per-sample data that arrived late. It
	// returns ctx.Err() promptly when ctx is cancelled.
	EndRollout(ctx context.Context) error
	// Term returns D (a scalar in the autograd graph) for the minibatch of
	// samples idx, and its weight β at the given training progress in
	// [0, 1]. A nil D (with no error) adds nothing, e.g. when no sample of
	// the minibatch has a prior yet; β is returned all the same.
	Term(s *torch.Scope, d Dist, idx []int64, progress float64) (D *torch.Tensor, beta float64, err error)
	// Metrics returns the regulariser's figures for the iteration that just
	// ended (logged into metrics.jsonl), averaged over its minibatches as
	// [Metrics] are, and resets them.
	Metrics() map[string]float64
}
