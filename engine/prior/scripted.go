package prior

import (
	"context"
	"fmt"

	"github.com/lago-rl/lago/engine/env"
)

// scripted mixes the env's scripted expert with uniform at quality q:
// p = q·onehot(expert) + (1−q)/n. With q = 0 (and for "uniform") it is
// uniform, so the KL to it is minus the policy's entropy plus a constant: a
// pure entropy bonus. Controlled quality is how lago tests the claim that
// stronger priors guide better, without LLM weights. "scripted-wrong" asks
// the env's wrong-goal expert instead: a confident prior that misleads.
// Lookup may run concurrently for different envs (it keeps no state).
type scripted struct {
	name  string
	q     float64
	wrong bool
}

func (s *scripted) Name() string { return s.name }

func (s *scripted) Lookup(e env.Env, out []float32) (Key, bool, error) {
	n := len(out)
	u := float32((1 - s.q) / float64(n))
	for i := range out {
		out[i] = u
	}
	if s.q == 0 {
		return Key{}, true, nil
	}
	if sk, ok := e.(env.Skilled); ok && e.ActionSpace().Kind != env.DiscreteKind {
		return s.lookupSkill(e, sk, out)
	}
	a := make([]float32, e.ActionSpace().Dim())
	if s.wrong {
		w, ok := e.(env.WrongExpert)
		if !ok {
			return Key{}, false, fmt.Errorf("prior %s: %s has no wrong-goal expert", s.name, e.Spec().ID)
		}
		w.WrongExpertAction(a)
	} else {
		x, ok := e.(env.Expert)
		if !ok {
			return Key{}, false, fmt.Errorf("prior %s: %s has no scripted expert", s.name, e.Spec().ID)
		}
		x.ExpertAction(a)
	}
	i := int(a[0])
	if i < 0 || i >= n {
		return Key{}, false, fmt.Errorf("prior %s: expert action %d outside the %d actions", s.name, i, n)
	}
	out[i] += float32(s.q)
	return Key{}, true, nil
}

// Get is never needed: a scripted prior is known at lookup.
func (s *scripted) Get(Key, []float32) bool           { return false }
func (s *scripted) Wait(context.Context, []Key) error { return nil }
func (s *scripted) Metrics() map[string]float64       { return nil }
func (s *scripted) Close() error                      { return nil }
