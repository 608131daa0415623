package ppo

import (
	"context"
	"fmt"
)

// Rollout collects one rollout and ends it for the regulariser, without
// updating: the first half of Iterate, for benchmarks (engine/bench). It
// advances the envs and the global step as training does.
func (t *Trainer) Rollout(ctx context.Context) error {
	if err := t.collect(ctx); err != nil {
		return err
	}
	if t.Reg != nil {
		if err := t.Reg.EndRollout(ctx); err != nil {
			return fmt.Errorf("regulariser %s: end of rollout: %w", t.Reg.Name(), err)
		}
	}
	return nil
}

// Update runs one PPO update on the last rollout: the second half of
// Iterate, for benchmarks. Called again, it re-runs the update on the same
// rollout (moving the networks and Adam as training does).
func (t *Trainer) Update(ctx context.Context) (Metrics, error) { return t.update(ctx) }

// Fused reports whether update runs each minibatch in one shim call (see
// PriorTerm).
func (t *Trainer) Fused() bool {
	f, _ := t.fusedPath()
	return f
}
