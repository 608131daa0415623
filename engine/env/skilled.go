package env

// Skilled is implemented by continuous-action envs whose actions decompose
// into a few latent skills (Meta-World: "move above the puck", "close the
// gripper on it", ...). Each skill gives a Gaussian over the action at the
// current state, mean SkillAction and standard deviation SkillStd on every
// component; LaGO's prior over such an env's actions is a mixture of them,
// weighted by the prior backend's distribution over the skills.
type Skilled interface {
	// NumSkills is the number of skills; it is fixed for an env id.
	NumSkills() int
	// SkillName says what skill z does, in words.
	SkillName(z int) string
	// SkillAction writes the mean of skill z's Gaussian at the current
	// state into action (the action space's dimension).
	SkillAction(z int, action []float32)
	// SkillStd is skill z's standard deviation, per action component.
	SkillStd(z int) float64
	// ExpertSkill is the index of the skill the scripted expert acts with
	// at the current state.
	ExpertSkill() int
}
