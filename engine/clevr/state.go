package clevr

import "math/rand/v2"

// uniform returns a float64 uniformly distributed in [low, high).
func uniform(r *rand.Rand, low, high float64) float64 {
	return low + (high-low)*r.Float64()
}
