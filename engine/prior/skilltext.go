package prior

import (
	"fmt"

	"github.com/lago-rl/lago/engine/env"
)

// A language model as the prior over a skilled continuous env's skills
// (Meta-World): the state's text view, the question "which skill now?" and
// the task's skill names as the options. The answer's label probabilities
// are the mixture weights w_z(s) of engine/lago's Σ_z w_z·N(μ_z(s), σ_z²),
// through the same service and cache as CLEVR's action priors.

// metaWorldVersion names MetaWorld's template and, through it, the text
// view it reads: engine/metaworld's TextView (instruction; gripper position
// and opening, object and goal on a 2 cm grid). A change to either must
// bump it, since it is part of every cache key.
const metaWorldVersion = "metaworld-v1"

// MetaWorld is the template of MetaWorld-<task>-v3: one question whose
// options are the task's skills in its declared order (env.Describer's
// ActionNames on a skilled env).
var MetaWorld = Template{
	Version: metaWorldVersion,
	Intro: "A robot arm with a two-finger gripper works on a table, one skill at a time. " +
		"Positions are in metres; the gripper's opening is 1.0 when open and about 0.3 when closed.",
	Questions: []string{"Which skill should the robot use now to complete the task?"},
	Tail:      tailV1,
	View:      skillView,
}

func init() { templates["MetaWorld"] = MetaWorld }

// skillView is the env's own text view, for envs whose options are skills:
// asking "which skill?" over another env's actions would be a question the
// options do not answer.
func skillView(e env.Env) (string, error) {
	d, dok := e.(env.Describer)
	sk, sok := e.(env.Skilled)
	if !dok || !sok {
		return "", fmt.Errorf("prior: template %s asks which skill to use, and %s declares no skills (env.Skilled); use it with MetaWorld-<task>-v3", metaWorldVersion, e.Spec().ID)
	}
	if n, m := sk.NumSkills(), len(d.ActionNames()); n != m {
		return "", fmt.Errorf("prior: template %s: %s names %d options for its %d skills", metaWorldVersion, e.Spec().ID, m, n)
	}
	return d.TextView(), nil
}

// certain reports whether q has a single option, whose probability is 1
// whatever a model says (reach's one skill): a language-model prior then
// answers without asking.
func certain(q Question, out []float32) bool {
	if q.NumActions() != 1 || len(out) != 1 {
		return false
	}
	out[0] = 1
	return true
}
