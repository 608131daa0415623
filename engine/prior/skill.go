package prior

import (
	"fmt"

	"github.com/lago-rl/lago/engine/env"
)

// On a continuous-action env that declares latent skills (env.Skilled, e.g.
// Meta-World), a prior is a distribution over the env's skills, not its
// actions: Lookup's out has one entry per skill, and engine/lago turns it
// into the mixture Σ_z w_z·N(μ_z(s), σ_z²) over actions.
//
// The scripted backends mean the same as on discrete envs, with the
// expert's current skill in place of its action: scripted:Q puts Q on the
// skill the scripted expert acts with now and spreads 1−Q uniformly;
// uniform is uniform over the skills. scripted-wrong:Q puts Q on the skill
// after the expert's in the task's list, cyclically: a confident prior one
// phase ahead of the right one (close the gripper before it is around the
// puck, carry before the grasp), and from the last skill back to the first.
// A task with a single skill has no wrong skill to choose, which is an
// error naming the env.

// lookupSkill adds Q to the (right or wrong) skill of out, which holds the
// uniform part already.
func (s *scripted) lookupSkill(e env.Env, sk env.Skilled, out []float32) (Key, bool, error) {
	n := sk.NumSkills()
	if len(out) != n {
		return Key{}, false, fmt.Errorf("prior %s: %s declares %d skills, the prior row holds %d", s.name, e.Spec().ID, n, len(out))
	}
	z := sk.ExpertSkill()
	if s.wrong {
		if n < 2 {
			return Key{}, false, fmt.Errorf("prior %s: %s has a single skill, so there is no wrong skill to prefer; use scripted:Q or uniform", s.name, e.Spec().ID)
		}
		z = (z + 1) % n
	}
	if z < 0 || z >= n {
		return Key{}, false, fmt.Errorf("prior %s: expert skill %d outside the %d skills of %s", s.name, z, n, e.Spec().ID)
	}
	out[z] += float32(s.q)
	return Key{}, true, nil
}
