package torch

/*
#include "lago_fused.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"
)

// FlatAdam runs an [Adam]'s clip-and-step over flat buffers: the
// parameters, their gradients and Adam's moments become views into four
// contiguous tensors, so gradient-norm clipping, the Adam step and zeroing
// the gradients are one shim call of ~8 kernels instead of ~10 small ops
// per parameter. The Adam keeps owning its state (SaveState, LoadState and
// SetLR work on it as before); FlatAdam copies back into its buffers
// whatever was replaced behind its back, such as a loaded optimiser state.
//
// The result equals ClipGradNorm, Adam.Step and Adam.ZeroGrad within float
// rounding (the norm is summed in another order), provided every parameter
// has a gradient at each step: FlatAdam steps all of them, Adam skips one
// without a gradient.
type FlatAdam struct {
	h   C.lt_flat_adam
	opt *Adam
}

// NewFlatAdam flattens opt's parameters (float32, one device), gradients
// and moments. opt must outlive it.
func NewFlatAdam(opt *Adam) (*FlatAdam, error) {
	if opt == nil || opt.h == nil {
		return nil, ErrFreed
	}
	var h C.lt_flat_adam
	if err := goError(C.lt_flat_adam_new(opt.h, &h)); err != nil {
		return nil, err
	}
	runtime.KeepAlive(opt)
	return &FlatAdam{h: h, opt: opt}, nil
}

// ClipStep clips the gradients to a global L2 norm of at most maxNorm,
// takes one Adam step and zeroes the gradients. It returns the norm before
// clipping; when that is not finite, nothing is changed.
func (f *FlatAdam) ClipStep(maxNorm float64) (float64, error) {
	if f == nil || f.h == nil || f.opt.h == nil {
		return 0, ErrFreed
	}
	var norm C.double
	err := goError(C.lt_flat_adam_clip_step(f.h, C.double(maxNorm), &norm))
	runtime.KeepAlive(f.opt)
	return float64(norm), err
}

// ZeroGrad zeroes the gradients, which stay in the flat buffer.
func (f *FlatAdam) ZeroGrad() error {
	if f == nil || f.h == nil {
		return ErrFreed
	}
	return goError(C.lt_flat_adam_zero_grad(f.h))
}

// Relinks counts the tensors found outside the flat buffers and copied
// back: 0 in steady state, so tests use it to prove the fast path holds.
func (f *FlatAdam) Relinks() int64 {
	if f == nil || f.h == nil {
		return 0
	}
	return int64(C.lt_flat_adam_relinks(f.h))
}

// Free releases the flat buffers' handle (the parameters and the Adam keep
// their views).
func (f *FlatAdam) Free() {
	if f == nil || f.h == nil {
		return
	}
	C.lt_flat_adam_free(f.h)
	f.h = nil
}

// PPOSpec describes the MLP actor-critic and the loss coefficients of
// [FlatAdam.PPOStep]. The FlatAdam's parameters must be the actor's layers
// (weight, bias each), the critic's, then, for a Gaussian policy, the
// log-std [1, d], as engine/ppo's Agent lists them.
type PPOSpec struct {
	ActorLayers, CriticLayers int
	Act                       Activation
	Discrete                  bool
	ClipVLoss, NormAdv        bool
	ClipCoef, EntCoef, VFCoef float64
	MaxGradNorm               float64
	// Autograd runs the step through libtorch's autograd instead of the
	// hand-written backward: the reference the latter is tested against.
	// (Off the CPU, or for tensors other than float32, autograd is used
	// anyway.)
	Autograd bool
}

func (spec PPOSpec) c() C.lt_ppo_spec {
	return C.lt_ppo_spec{
		actor_layers: C.int(spec.ActorLayers), critic_layers: C.int(spec.CriticLayers),
		relu: cBool(spec.Act == ReLU), discrete: cBool(spec.Discrete),
		clip_vloss: cBool(spec.ClipVLoss), norm_adv: cBool(spec.NormAdv),
		clip_coef: C.double(spec.ClipCoef), ent_coef: C.double(spec.EntCoef),
		vf_coef: C.double(spec.VFCoef), max_grad_norm: C.double(spec.MaxGradNorm),
		autograd: cBool(spec.Autograd),
	}
}

// PPOPrior is the optional discrete-KL term of [FlatAdam.PPOStep]: D is the
// mean over the covered rows of KL(π‖p) (KL(p‖π) when Forward), added to
// the loss as Beta·D unless Beta is 0.
type PPOPrior struct {
	LogPrior []float32 // [rows × actions]
	Mask     []float32 // [rows], 1 where the row has a prior
	Covered  int       // rows with a prior, ≥ 1
	Beta     float64
	Forward  bool
	Argmax   []int64 // [rows] out, or nil: the policy's most likely action per row
}

// PPOBatch is a rollout's tensors: obs [N, obsDim], actions (int64 [N] or
// float32 [N, d]), and the old log-probabilities, advantages, returns and
// old values, [N] each.
type PPOBatch struct {
	Obs, Actions, OldLogp, Adv, Returns, OldValues *Tensor
}

// PPOStepStatus says whether a PPOStep stepped.
type PPOStepStatus int

// The outcomes of a PPOStep.
const (
	PPOStepped       PPOStepStatus = C.LT_PPO_STEPPED
	PPONonFiniteLoss PPOStepStatus = C.LT_PPO_NONFINITE_LOSS // nothing was stepped
	PPONonFiniteNorm PPOStepStatus = C.LT_PPO_NONFINITE_NORM // nothing was stepped
	ppoOutputs                     = C.LT_PPO_NOUT
)

// PPOFigures are a minibatch's figures: the loss and its parts, CleanRL's
// diagnostics, the regulariser's D (0 without one) and the gradient norm
// before clipping (0 when the loss was not finite).
type PPOFigures struct {
	PG, V, Entropy, ApproxKL, OldApproxKL, ClipFrac, Total, Reg, GradNorm float64
}

// PPOStep runs one PPO minibatch of an MLP actor-critic in one shim call:
// forward on the rows idx of b, CleanRL's loss (the same ops as
// engine/ppo's Loss), the optional prior term, backward, then ClipStep. It
// replaces ~60 cgo calls and their Go bookkeeping per minibatch.
func (f *FlatAdam) PPOStep(spec PPOSpec, b PPOBatch, idx []int64, prior *PPOPrior) (PPOFigures, PPOStepStatus, error) {
	if f == nil || f.h == nil || f.opt.h == nil {
		return PPOFigures{}, 0, ErrFreed
	}
	if len(idx) == 0 {
		return PPOFigures{}, 0, errors.New("torch: PPO step of an empty minibatch")
	}
	var hs [6]C.lt_tensor
	for i, t := range []*Tensor{b.Obs, b.Actions, b.OldLogp, b.Adv, b.Returns, b.OldValues} {
		h, err := t.handle()
		if err != nil {
			return PPOFigures{}, 0, err
		}
		hs[i] = h
	}
	cs := spec.c()
	// The C side reads idx and the prior's slices during the call only;
	// cgo's pointer rules allow passing Go memory that holds no Go pointers.
	var cp *C.lt_ppo_prior
	var pinner runtime.Pinner
	defer pinner.Unpin()
	if prior != nil {
		n := len(idx)
		if len(prior.Mask) != n || len(prior.LogPrior) == 0 || len(prior.LogPrior)%n != 0 || prior.Covered < 1 {
			return PPOFigures{}, 0, fmt.Errorf("torch: PPO step prior: %d log-prior values and %d mask values for %d rows, %d covered", len(prior.LogPrior), len(prior.Mask), n, prior.Covered)
		}
		if prior.Argmax != nil && len(prior.Argmax) != n {
			return PPOFigures{}, 0, fmt.Errorf("torch: PPO step prior: argmax holds %d values for %d rows", len(prior.Argmax), n)
		}
		pinner.Pin(&prior.LogPrior[0])
		pinner.Pin(&prior.Mask[0])
		cp = &C.lt_ppo_prior{
			log_prior: (*C.float)(unsafe.Pointer(&prior.LogPrior[0])),
			mask:      (*C.float)(unsafe.Pointer(&prior.Mask[0])),
			covered:   C.int64_t(prior.Covered), beta: C.double(prior.Beta), forward: cBool(prior.Forward),
		}
		if prior.Argmax != nil {
			pinner.Pin(&prior.Argmax[0])
			cp.argmax = (*C.int64_t)(unsafe.Pointer(&prior.Argmax[0]))
		}
	}
	var out [ppoOutputs]C.double
	var status C.int
	err := goError(C.lt_ppo_minibatch_step(f.h, &cs, hs[0], hs[1], hs[2], hs[3], hs[4], hs[5],
		(*C.int64_t)(unsafe.Pointer(&idx[0])), C.int64_t(len(idx)), cp, &out[0], &status))
	runtime.KeepAlive(b)
	runtime.KeepAlive(idx)
	runtime.KeepAlive(f.opt)
	if err != nil {
		return PPOFigures{}, 0, err
	}
	return PPOFigures{
		PG: float64(out[C.LT_PPO_PG]), V: float64(out[C.LT_PPO_V]), Entropy: float64(out[C.LT_PPO_ENT]),
		ApproxKL: float64(out[C.LT_PPO_APPROX_KL]), OldApproxKL: float64(out[C.LT_PPO_OLD_APPROX_KL]),
		ClipFrac: float64(out[C.LT_PPO_CLIPFRAC]), Total: float64(out[C.LT_PPO_TOTAL]),
		Reg: float64(out[C.LT_PPO_REG]), GradNorm: float64(out[C.LT_PPO_GRAD_NORM]),
	}, PPOStepStatus(status), nil
}

// PPOGradCheck checks the hand-written PPO backward of [FlatAdam.PPOStep]
// against central finite differences in float64: on a random actor-critic
// of spec's layers (hidden units wide, out logits or action dimensions;
// obsDim inputs) and a random minibatch of rows rows, with prior 0 (none),
// 1 (KL(π‖p)) or 2 (KL(p‖π)) at β 0.7. It returns the largest absolute
// difference between gradient and finite difference, and the largest
// gradient component.
func PPOGradCheck(spec PPOSpec, obsDim, hidden, out, rows, prior int, seed uint64) (maxErr, maxGrad float64, err error) {
	cs := spec.c()
	var e, g C.double
	err = goError(C.lt_ppo_gradcheck(&cs, C.int64_t(obsDim), C.int64_t(hidden), C.int64_t(out), C.int64_t(rows),
		C.int(prior), C.uint64_t(seed), &e, &g))
	return float64(e), float64(g), err
}
