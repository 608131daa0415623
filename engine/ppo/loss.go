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

// RegTerm is a [Regularizer]'s term on a minibatch: D and its weight β. A
// nil D adds nothing.
type RegTerm struct {
	D    *torch.Tensor
	Beta float64
}

// TermFunc computes the regulariser's term on the minibatch.
type TermFunc func() (RegTerm, error)

// LossParts are the loss and its pieces, all scalars. Total, PG, V, Entropy
// and Reg are in the autograd graph; the diagnostics are detached.
type LossParts struct {
	Total, PG, V, Entropy *torch.Tensor
	Reg                   *torch.Tensor // the regulariser's D as given (nil: none); in Total as β·D unless β = 0
	ApproxKL, OldApproxKL *torch.Tensor
	ClipFrac              *torch.Tensor
}

// Loss is PPO's loss with a regulariser's term, built here and nowhere else:
//
//	Total = pg − ent_coef·H + vf_coef·v + β·D
//
// pg, v and H are CleanRL's ppo.py (the clipped surrogate, the optionally
// clipped value loss, the mean entropy). term (nil: none) gives D and β; it
// is called after PPO's parts are built, so that its operations come last
// in the autograd graph and gradients accumulate in the order they always
// have (a fixed seed gives the same LaGO run as before this seam existed).
// β·D is left out when D is nil or β is 0, so that such a loss is vanilla
// PPO's bit for bit. An error is term's.
func Loss(s *torch.Scope, c LossCoefs, mb Minibatch, term TermFunc) (LossParts, error) {
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
	// Clipped surrogate, CleanRL's names: the mean of max(pg_loss1, pg_loss2).
	negAdv := s.Neg(adv)
	pgLoss1 := s.Mul(negAdv, ratio)
	pgLoss2 := s.Mul(negAdv, s.Clamp(ratio, 1-c.ClipCoef, 1+c.ClipCoef))
	p.PG = s.Mean(s.Maximum(pgLoss1, pgLoss2))

	if c.ClipVLoss {
		vLossUnclipped := s.Square(s.Sub(mb.NewValues, mb.Returns))
		vClipped := s.Add(mb.OldValues, s.Clamp(s.Sub(mb.NewValues, mb.OldValues), -c.ClipCoef, c.ClipCoef))
		vLossClipped := s.Square(s.Sub(vClipped, mb.Returns))
		p.V = s.MulS(s.Mean(s.Maximum(vLossUnclipped, vLossClipped)), 0.5)
	} else {
		p.V = s.MulS(s.Mean(s.Square(s.Sub(mb.NewValues, mb.Returns))), 0.5)
	}
	p.Entropy = s.Mean(mb.Dist.Entropy(s))

	p.Total = s.Add(s.Sub(p.PG, s.MulS(p.Entropy, c.EntCoef)), s.MulS(p.V, c.VFCoef))
	if term == nil {
		return p, nil
	}
	reg, err := term()
	if err != nil {
		return p, err
	}
	p.Reg = reg.D
	if reg.D != nil && reg.Beta != 0 {
		p.Total = s.Add(p.Total, s.MulS(reg.D, reg.Beta))
	}
	return p, nil
}
