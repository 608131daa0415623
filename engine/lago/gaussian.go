package lago

import (
	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/ppo"
)

// Continuous actions (Meta-World's 4-D gripper): the prior over the action is
// a mixture Σ_z w_z·N(μ_z(s), σ_z²) of the env's latent actions, weighted by
// the LLM's distribution w over them. The KL from a Gaussian policy to a
// mixture has no closed form, but KL is convex in its second argument, so
//
//	KL(π ‖ Σ_z w_z p_z) ≤ Σ_z w_z · KL(π ‖ p_z),
//
// a closed-form upper bound made of diagonal-Gaussian KLs. Minimising the
// bound pulls π towards the latent actions the LLM favours. MixtureKLMC
// estimates the true KL by sampling, to check the bound.

// GaussianKL is KL(N(μ1, σ1²) ‖ N(μ2, σ2²)) for diagonal Gaussians, summed
// over the last dimension:
//
//	Σ_d log σ2/σ1 + (σ1² + (μ1 − μ2)²)/(2σ2²) − ½.
//
// Shapes broadcast: e.g. μ1 [B, 1, d] against μ2 [B, Z, d] gives [B, Z].
func GaussianKL(s *torch.Scope, mu1, logStd1, mu2, logStd2 *torch.Tensor) *torch.Tensor {
	var1 := s.Exp(s.MulS(logStd1, 2))
	var2 := s.Exp(s.MulS(logStd2, 2))
	num := s.Add(var1, s.Square(s.Sub(mu1, mu2)))
	perDim := s.SubS(s.Add(s.Sub(logStd2, logStd1), s.Div(num, s.MulS(var2, 2))), 0.5)
	return s.SumDim(perDim, -1, false)
}

// MixtureKLBound is Σ_z w_z·KL(π ‖ p_z) per row: mu [B, d] and logStd [B, d]
// (or [1, d]) of the policy, weights w [B, Z], the latent actions' muZ and
// logStdZ [B, Z, d]. Returns [B].
func MixtureKLBound(s *torch.Scope, mu, logStd, w, muZ, logStdZ *torch.Tensor) *torch.Tensor {
	kl := GaussianKL(s, s.Unsqueeze(mu, 1), s.Unsqueeze(logStd, 1), muZ, logStdZ) // [B, Z]
	return s.SumDim(s.Mul(w, kl), 1, false)
}

// MixtureKLMC estimates KL(π ‖ Σ_z w_z p_z) per row with k samples from π,
// drawn at once: the mean of log π(a) − log Σ_z w_z p_z(a). Returns [B]; no
// gradient.
func MixtureKLMC(s *torch.Scope, mu, logStd, w, muZ, logStdZ *torch.Tensor, k int) *torch.Tensor {
	shape := append([]int64{int64(k)}, mu.Shape()...) // [k, B, d]
	eps := s.Own(torch.Randn(shape, mu.DType(), mu.Device()))
	a := s.Add(mu, s.Mul(s.Exp(logStd), eps))                                                // [k, B, d]
	logPi := s.SumDim(ppo.GaussianLogDensity(s, a, mu, logStd), -1, false)                   // [k, B]
	logPz := s.SumDim(ppo.GaussianLogDensity(s, s.Unsqueeze(a, 2), muZ, logStdZ), -1, false) // [k, B, Z]
	// log Σ_z w_z N(a; μ_z, σ_z) = logsumexp_z(log w_z + log N_z(a)).
	logMix := s.LogSumExp(s.Add(s.Log(w), logPz), 2, false) // [k, B]
	return s.Detach(s.MeanDim(s.Sub(logPi, logMix), 0, false))
}
