package ppo

import (
	"fmt"

	"github.com/lago-rl/lago/bindings/torch"
)

// PriorTerm is implemented by a [Regularizer] whose D is the discrete KL
// between the policy and a per-sample log-prior (LaGO's). The trainer then
// runs each minibatch — forward, loss with β·D, backward, clip and Adam — in
// one shim call ([torch.FlatAdam.PPOStep]) instead of building the loss op
// by op and calling Term. D is the mean over the minibatch's covered
// samples of KL(π‖p), or KL(p‖π) when forward.
type PriorTerm interface {
	// PriorRows fills logP [len(idx) × actions] and mask [len(idx)] (1
	// where the sample has a prior) for the samples idx, and returns how
	// many are covered (0 adds no term), β at progress in [0, 1], and
	// whether the KL is forward.
	PriorRows(idx []int64, progress float64, logP, mask []float32) (covered int, beta float64, forward bool, err error)
	// Account records a minibatch's D and the policy's most likely action
	// per sample, for the regulariser's metrics, as Term does.
	Account(idx []int64, D float64, argmax []int64)
}

// The paths update can take for a minibatch. The trainer takes the fused
// one whenever the regulariser allows it; the others are the references
// the fused path is tested and benchmarked against.
const (
	pathFused    = iota // one shim call per minibatch (torch.FlatAdam.PPOStep), hand-written backward on the CPU
	pathFlat            // the loss op by op (Loss), then FlatAdam.ClipStep
	pathUnfused         // the loss op by op, then ClipGradNorm, Adam.Step and Adam.ZeroGrad
	pathAutograd        // one shim call per minibatch, always through libtorch's autograd
)

// fusedScratch holds the fused path's per-minibatch buffers.
type fusedScratch struct {
	logP, mask []float32
	argmax     []int64
}

// fusedPath reports whether update runs minibatches in one shim call, and
// the regulariser's PriorTerm (nil without a regulariser).
func (t *Trainer) fusedPath() (bool, PriorTerm) {
	if t.path != pathFused && t.path != pathAutograd {
		return false, nil
	}
	if t.Reg == nil {
		return true, nil
	}
	pt, ok := t.Reg.(PriorTerm)
	return ok && t.Agent.Discrete, pt
}

// ppoSpec describes the agent and the loss to torch.FlatAdam.PPOStep.
func (t *Trainer) ppoSpec() torch.PPOSpec {
	c := t.Cfg
	return torch.PPOSpec{
		ActorLayers: len(t.Agent.Actor.Layers), CriticLayers: len(t.Agent.Critic.Layers),
		Act: t.Agent.Actor.Act, Discrete: t.Agent.Discrete,
		ClipVLoss: c.ClipVLoss, NormAdv: c.NormAdv,
		ClipCoef: c.ClipCoef, EntCoef: c.EntCoef, VFCoef: c.VFCoef, MaxGradNorm: c.MaxGradNorm,
		Autograd: t.path == pathAutograd,
	}
}

// fusedMinibatch runs the minibatch idx in one shim call and returns its
// figures. A non-finite loss or gradient norm is a NonFiniteError and
// steps nothing.
func (t *Trainer) fusedMinibatch(at Position, b torch.PPOBatch, idx []int64, progress float64, pt PriorTerm) (torch.PPOFigures, error) {
	var prior *torch.PPOPrior
	if pt != nil {
		B, n := len(idx), t.Agent.NumActions
		z := &t.fz
		if cap(z.logP) < B*n || cap(z.mask) < B {
			z.logP, z.mask, z.argmax = make([]float32, B*n), make([]float32, B), make([]int64, B)
		}
		logP, mask := z.logP[:B*n], z.mask[:B]
		covered, beta, forward, err := pt.PriorRows(idx, progress, logP, mask)
		if err != nil {
			return torch.PPOFigures{}, fmt.Errorf("regulariser %s: %w", t.Reg.Name(), err)
		}
		if covered > 0 {
			prior = &torch.PPOPrior{LogPrior: logP, Mask: mask, Covered: covered, Beta: beta, Forward: forward, Argmax: z.argmax[:B]}
		}
	}
	fig, status, err := t.flat.PPOStep(t.ppoSpec(), b, idx, prior)
	if err != nil {
		return fig, err
	}
	switch status {
	case torch.PPONonFiniteLoss:
		part, value := "loss", fig.Total
		parts := []struct {
			name string
			x    float64
			ok   bool
		}{{"policy loss", fig.PG, true}, {"entropy", fig.Entropy, true}, {"value loss", fig.V, true}, {"regulariser term", fig.Reg, prior != nil}}
		for _, c := range parts {
			if c.ok && !finite(c.x) {
				part, value = c.name, c.x
				break
			}
		}
		return fig, &NonFiniteError{At: at, Quantity: part, Value: value, Loss: fig.Total, Advice: t.likelyKeys(part)}
	case torch.PPONonFiniteNorm:
		return fig, &NonFiniteError{At: at, Quantity: "gradient norm", Value: fig.GradNorm, Loss: fig.Total, Advice: t.likelyKeys("gradient norm")}
	}
	if prior != nil {
		pt.Account(idx, fig.Reg, prior.Argmax)
	}
	return fig, nil
}
