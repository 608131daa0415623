package env

import "math/rand/v2"

// Symmetric is implemented by envs with relabellings that leave their
// dynamics, rewards and expert unchanged (CLEVR-Robot: the balls' colours,
// and left with right). A guidance dataset grows by them without
// collecting more demonstrations (engine/demos): the same state seen
// through another symmetry reads as another text with the mapped label.
type Symmetric interface {
	// ApplyRandomSymmetry transforms the current state by a symmetry other
	// than the identity, drawn from r, and returns the map of discrete
	// actions from the state before to the state after. It returns false,
	// changing nothing, when the current task admits none.
	ApplyRandomSymmetry(r *rand.Rand) (action func(int) int, ok bool)
}
