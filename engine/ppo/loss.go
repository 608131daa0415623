package ppo

import "github.com/lago-rl/lago/bindings/torch"

// LossCoefs are the coefficients of PPO's loss.
type LossCoefs struct {
	ClipCoef  float64
	ClipVLoss bool
	NormAdv   bool
	EntCoef   float64
	VFCoef    float64
}

// Minibatch is what the loss reads for one minibatch.
type Minibatch struct {
	Dist      Dist          // the current policy on the minibatch's observations
	Actions   *torch.Tensor // int64 [B] or float32 [B, d]
	OldLogp   *torch.Tensor // [B], at collection time
	Adv       *torch.Tensor // [B], GAE advantages
	Returns   *torch.Tensor // [B]
	OldValues *torch.Tensor // [B], at collection time
	NewValues *torch.Tensor // [B], the current critic
}

// LossParts are the loss and its pieces, all scalars. Total is in the
// autograd graph; the diagnostics are detached.
type LossParts struct {
	Total, PG, V, Entropy *torch.Tensor
	ApproxKL, OldApproxKL *torch.Tensor
	ClipFrac              *torch.Tensor
}

// Loss is CleanRL's PPO loss pg − ent_coef·H + vf_coef·v (the regulariser's
// β·D is added by the caller).
func Loss(s *torch.Scope, c LossCoefs, mb Minibatch) LossParts {
	var p LossParts
	newLogp := mb.Dist.LogProb(s, mb.Actions)
	logRatio := s.Sub(newLogp, mb.OldLogp)
	ratio := s.Exp(logRatio)

	// Diagnostics (CleanRL): the k1 and k3 estimators of KL(old‖new), and how
	// often the ratio left the clip range.
	lr, r := s.Detach(logRatio), s.Detach(ratio)
	p.OldApproxKL = s.Mean(s.Neg(lr))
	p.ApproxKL = s.Mean(s.Sub(s.SubS(r, 1), lr))
	p.ClipFrac = s.Mean(s.To(s.GtS(s.Abs(s.SubS(r, 1)), c.ClipCoef), r.Device(), torch.Float32))

	adv := mb.Adv
	if c.NormAdv {
		adv = s.Div(s.Sub(adv, s.Mean(adv)), s.AddS(s.Std(adv), 1e-8))
	}
	// Clipped surrogate: mean of max(−A·r, −A·clip(r, 1−ε, 1+ε)).
	negAdv := s.Neg(adv)
	p.PG = s.Mean(s.Maximum(s.Mul(negAdv, ratio), s.Mul(negAdv, s.Clamp(ratio, 1-c.ClipCoef, 1+c.ClipCoef))))

	if c.ClipVLoss {
		unclipped := s.Square(s.Sub(mb.NewValues, mb.Returns))
		clippedV := s.Add(mb.OldValues, s.Clamp(s.Sub(mb.NewValues, mb.OldValues), -c.ClipCoef, c.ClipCoef))
		p.V = s.MulS(s.Mean(s.Maximum(unclipped, s.Square(s.Sub(clippedV, mb.Returns)))), 0.5)
	} else {
		p.V = s.MulS(s.Mean(s.Square(s.Sub(mb.NewValues, mb.Returns))), 0.5)
	}
	p.Entropy = s.Mean(mb.Dist.Entropy(s))
	p.Total = s.Add(s.Sub(p.PG, s.MulS(p.Entropy, c.EntCoef)), s.MulS(p.V, c.VFCoef))
	return p
}
