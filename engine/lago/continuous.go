package lago

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/env"
	"github.com/lago-rl/lago/engine/ppo"
	"github.com/lago-rl/lago/engine/prior"
)

// Continuous implements ppo.Regularizer for continuous actions on an env
// that declares latent skills (env.Skilled): the prior backend gives
// weights w_z(s) over the skills, each skill a Gaussian N(μ_z(s), σ_z²)
// over the action, and D is the closed-form bound of gaussian.go per
// sample,
//
//	reverse: Σ_z w_z·KL(π(·|s) ‖ N(μ_z, σ_z²)) ≥ KL(π ‖ Σ_z w_z N_z)
//	forward: Σ_z w_z·KL(N(μ_z, σ_z²) ‖ π(·|s)) ≥ KL(Σ_z w_z N_z ‖ π)
//
// (KL is jointly convex, so both directions are bounded by the weighted
// sum). The weights are processed as the discrete prior is (tempered,
// floored at ε, renormalised); masking of samples whose prior has not
// arrived, prior_wait and the β schedules are the discrete regulariser's.
// The skills' means are taken at Observe time, from the env's state then,
// so a late prior only supplies the weights.
type Continuous struct {
	prior prior.Prior
	opt   Options
	z     int // skills
	dim   int // action dimension

	// Per rollout sample (index step*numEnvs+env):
	w        []float32 // [samples*z], processed weights
	muZ      []float32 // [samples*z*dim], the skills' means
	logStdZ  []float32 // [samples*z], the skills' log standard deviations
	known    []bool
	keys     []prior.Key
	argmaxW  []int32
	entropyW []float32

	// Minibatch scratch.
	mbW, mbMu, mbLogStd, mask []float32
	nearest                   []int64

	m metrics
}

// NewContinuous builds LaGO's regulariser over p for envs with z skills and
// dim-dimensional actions.
func NewContinuous(p prior.Prior, z, dim int, opt Options) (*Continuous, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	if z < 1 || dim < 1 {
		return nil, fmt.Errorf("lago: NewContinuous: %d skills over %d-D actions; want at least one of each", z, dim)
	}
	return &Continuous{prior: p, opt: opt, z: z, dim: dim}, nil
}

// Name is the prior's name.
func (r *Continuous) Name() string { return "lago(" + r.prior.Name() + ")" }

// BeginRollout sizes the per-sample storage.
func (r *Continuous) BeginRollout(samples int) error {
	if len(r.known) != samples {
		r.w = make([]float32, samples*r.z)
		r.muZ = make([]float32, samples*r.z*r.dim)
		r.logStdZ = make([]float32, samples*r.z)
		r.known = make([]bool, samples)
		r.keys = make([]prior.Key, samples)
		r.argmaxW = make([]int32, samples)
		r.entropyW = make([]float32, samples)
	}
	clear(r.known)
	return nil
}

// Observe stores the skill Gaussians of envs lo..hi at their current state
// and looks up the weights, env i's as sample first+i, split over
// goroutines as the discrete Observe is.
func (r *Continuous) Observe(first int, v *env.Vec, lo, hi int) error {
	return overEnvs(lo, hi, r.z, func(i int, raw []float32) error { return r.observe(first+i, v.Env(i), raw) })
}

func (r *Continuous) observe(idx int, e env.Env, raw []float32) error {
	sk, ok := e.(env.Skilled)
	if !ok {
		return fmt.Errorf("lago: %s declares no latent skills", e.Spec().ID)
	}
	if n := sk.NumSkills(); n != r.z {
		return fmt.Errorf("lago: %s declares %d skills, the regulariser was built for %d", e.Spec().ID, n, r.z)
	}
	for z := 0; z < r.z; z++ {
		o := (idx*r.z + z) * r.dim
		sk.SkillAction(z, r.muZ[o:o+r.dim])
		std := sk.SkillStd(z)
		if !(std > 0) || math.IsInf(std, 0) {
			return fmt.Errorf("lago: %s skill %d (%s) has standard deviation %v; want a positive number", e.Spec().ID, z, sk.SkillName(z), std)
		}
		r.logStdZ[idx*r.z+z] = float32(math.Log(std))
	}
	k, known, err := r.prior.Lookup(e, raw)
	if err != nil {
		return err
	}
	r.keys[idx] = k
	if known {
		return r.store(idx, raw)
	}
	return nil
}

// store processes a raw row of skill weights as the discrete prior's row is
// processed: w ∝ w^(1/τ), floored at ε, renormalised.
func (r *Continuous) store(idx int, raw []float32) error {
	row := r.w[idx*r.z : (idx+1)*r.z]
	z2, best, err := temper(row, raw, r.opt.Temperature, r.opt.Eps, "skill weights w^(1/τ)")
	if err != nil {
		return err
	}
	h := 0.0
	for j := range row {
		p := float64(row[j]) / z2
		row[j] = float32(p)
		if p > 0 {
			h -= p * math.Log(p)
		}
	}
	r.argmaxW[idx], r.entropyW[idx] = int32(best), float32(h)
	r.known[idx] = true
	return nil
}

// EndRollout picks up weights that arrived during the rollout, after
// waiting for them up to prior_wait (or until ctx is cancelled), and counts
// the rollout's coverage.
func (r *Continuous) EndRollout(ctx context.Context) error {
	covered, err := pickUpLatePriors(ctx, r.prior, r.opt.Wait, r.known, r.keys, make([]float32, r.z), r.store)
	r.m.covered, r.m.samples = covered, len(r.known)
	return err
}

// Term is β·D's D on a minibatch: the mean over its samples that have a
// prior of the mixture bound, and β at this progress.
func (r *Continuous) Term(s *torch.Scope, d ppo.Dist, idx []int64, progress float64) (*torch.Tensor, float64, error) {
	if d.Discrete {
		return nil, 0, errors.New("lago: LaGO's skill-mixture KL needs a Gaussian policy")
	}
	beta := r.opt.Beta.At(progress)
	r.m.beta = beta
	B, Z, A := len(idx), r.z, r.dim
	if cap(r.mask) < B {
		r.mbW = make([]float32, B*Z)
		r.mbMu = make([]float32, B*Z*A)
		r.mbLogStd = make([]float32, B*Z*A)
		r.mask = make([]float32, B)
		r.nearest = make([]int64, B)
	}
	mbW, mbMu, mbLogStd, mask := r.mbW[:B*Z], r.mbMu[:B*Z*A], r.mbLogStd[:B*Z*A], r.mask[:B]
	covered := 0
	for b, k := range idx {
		// Uncovered rows get a valid Gaussian (mean 0, σ 1) and weight 0,
		// so that their masked-out KL is finite.
		k := int(k)
		copy(mbMu[b*Z*A:(b+1)*Z*A], r.muZ[k*Z*A:(k+1)*Z*A])
		for z := 0; z < Z; z++ {
			ls := r.logStdZ[k*Z+z]
			for a := 0; a < A; a++ {
				mbLogStd[(b*Z+z)*A+a] = ls
			}
		}
		if r.known[k] {
			copy(mbW[b*Z:(b+1)*Z], r.w[k*Z:(k+1)*Z])
			mask[b] = 1
			covered++
		} else {
			clear(mbW[b*Z : (b+1)*Z])
			clear(mbMu[b*Z*A : (b+1)*Z*A])
			clear(mbLogStd[b*Z*A : (b+1)*Z*A])
			mask[b] = 0
		}
	}
	if covered == 0 {
		return nil, beta, nil
	}
	dev := d.Mean.Device()
	w := torch.FromSliceIn(s, mbW, []int64{int64(B), int64(Z)}, dev)
	muZ := torch.FromSliceIn(s, mbMu, []int64{int64(B), int64(Z), int64(A)}, dev)
	logStdZ := torch.FromSliceIn(s, mbLogStd, []int64{int64(B), int64(Z), int64(A)}, dev)
	m := torch.FromSliceIn(s, mask, []int64{int64(B)}, dev)
	klZ := SkillKLs(s, d.Mean, d.LogStd, muZ, logStdZ, r.opt.Direction) // [B, Z]
	D := s.DivS(s.Sum(s.Mul(s.SumDim(s.Mul(w, klZ), 1, false), m)), float64(covered))

	// Diagnostics: how often the skill nearest the policy (smallest KL) is
	// the prior's favourite, and the weights' entropy, over covered samples.
	r.m.d += s.Item(D)
	r.m.terms++
	if err := torch.CopyTo(s.Argmax(s.MulS(klZ, -1), 1, false), r.nearest[:B]); err != nil {
		return nil, 0, err
	}
	for b, k := range idx {
		if r.known[k] {
			if r.nearest[b] == int64(r.argmaxW[k]) {
				r.m.agree++
			}
			r.m.agreeN++
			r.m.entropy += float64(r.entropyW[k])
			r.m.entropyN++
		}
	}
	return D, beta, s.Err()
}

// SkillKLs is the KL between the policy N(mu, exp(logStd)²) (mu [B, d],
// logStd [B, d] or [1, d]) and each skill's Gaussian (muZ, logStdZ
// [B, Z, d]), in direction dir: KL(π‖p_z) (Reverse) or KL(p_z‖π) (Forward).
// Returns [B, Z]; the mixture bound is its w-weighted sum over Z.
func SkillKLs(s *torch.Scope, mu, logStd, muZ, logStdZ *torch.Tensor, dir Direction) *torch.Tensor {
	mu1, ls1 := s.Unsqueeze(mu, 1), s.Unsqueeze(logStd, 1)
	if dir == Forward {
		return GaussianKL(s, muZ, logStdZ, mu1, ls1)
	}
	return GaussianKL(s, mu1, ls1, muZ, logStdZ)
}

// Metrics reports the iteration's figures, as the discrete regulariser's
// do, and resets them: lago_kl, lago_beta, lago_coverage; lago_agreement,
// the share of covered samples whose nearest skill to the policy is the
// prior's most likely one; lago_prior_entropy, the weights' entropy (nats).
func (r *Continuous) Metrics() map[string]float64 {
	return r.m.report(r.prior)
}

// Covered counts the samples of idx that have skill weights, over which
// Term's D is a mean (ppo.Coverage).
func (r *Continuous) Covered(idx []int64) int { return knownAmong(r.known, idx) }

var _ ppo.Coverage = (*Continuous)(nil)
