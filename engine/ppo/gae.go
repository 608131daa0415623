package ppo

import "math"

// GAE computes generalised advantage estimates and returns (advantages +
// values), as CleanRL's ppo.py does, into adv and ret.
//
// The rollout is step-major: index t*numEnvs+i is env i at step t. ends marks
// the steps whose transition ended an episode (terminated or truncated); no
// value flows across them. A truncated episode's bootstrap value is already
// folded into its reward by the rollout (reward + γ·V(final observation)), so
// both kinds of end cut the trace here. lastValues [numEnvs] are the values of
// the observations that follow the last step.
func GAE(rewards, values []float32, ends []bool, lastValues []float32, numEnvs int, gamma, lambda float64, adv, ret []float32) {
	steps := len(rewards) / numEnvs
	for i := 0; i < numEnvs; i++ {
		lastGAE := 0.0
		nextValue := float64(lastValues[i])
		for t := steps - 1; t >= 0; t-- {
			k := t*numEnvs + i
			nonTerminal := 1.0
			if ends[k] {
				nonTerminal = 0
			}
			delta := float64(rewards[k]) + gamma*nextValue*nonTerminal - float64(values[k])
			lastGAE = delta + gamma*lambda*nonTerminal*lastGAE
			adv[k] = float32(lastGAE)
			ret[k] = float32(lastGAE + float64(values[k]))
			nextValue = float64(values[k])
		}
	}
}

// ExplainedVariance is 1 − Var(y − ŷ)/Var(y): 1 for a perfect value
// function, 0 for one no better than a constant, NaN when y is constant.
func ExplainedVariance(pred, target []float32) float64 {
	n := float64(len(target))
	if n == 0 {
		return 0
	}
	var my, mr float64
	for i := range target {
		my += float64(target[i])
		mr += float64(target[i] - pred[i])
	}
	my /= n
	mr /= n
	var vy, vr float64
	for i := range target {
		dy := float64(target[i]) - my
		dr := float64(target[i]-pred[i]) - mr
		vy += dy * dy
		vr += dr * dr
	}
	if vy == 0 {
		return math.NaN()
	}
	return 1 - vr/vy
}
