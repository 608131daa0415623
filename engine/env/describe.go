package env

// Describer is implemented by envs whose states a language model can read:
// the LLM prior (engine/prior) turns TextView into a distribution over the
// env's actions.
type Describer interface {
	// TextView is a short, canonical description of the current state and
	// the task (e.g. the instruction). Two states with the same text view are
	// the same state to the prior: its hash is the prior's cache key.
	TextView() string
	// ActionNames names every discrete action in words, index-aligned with
	// the action space ("push the red ball to the left").
	ActionNames() []string
}

// FactoredActions is implemented by envs whose discrete actions are the
// product of a few choices (CLEVR-Robot: ball × direction). Action index =
// row-major position over the factors: for factors [A, B], a*len(B) + b. The
// prior scores such actions one factor at a time, keeping each question
// within the 20 alternatives a model's top log-probabilities cover.
type FactoredActions interface {
	// ActionFactors names the choices of each factor, e.g.
	// {{"red", "blue", ...}, {"left", "right", ...}}.
	ActionFactors() [][]string
}

// WrongExpert is implemented by envs whose scripted expert can be aimed at a
// wrong goal (CLEVR-Robot: another ball than the one named). A prior built on it is
// confidently misleading: the controlled test of whether rewards still win.
type WrongExpert interface {
	WrongExpertAction(action []float32)
}
