// Package lago is LaGO's regulariser: PPO's loss gains β·D(π_θ(·|s), p(·|s)),
// a soft pull of the policy towards a prior over actions (an LLM's, through
// engine/prior), while rewards stay in charge.
//
// Discrete actions: D is the exact KL over the actions, in either direction:
//
//   - reverse, KL(π‖p) = Σ π (log π − log p): mode-seeking. The policy is
//     pushed off actions the prior rules out but may settle on any one the
//     prior allows; with a uniform prior it is −H(π) + log n, a pure entropy
//     bonus. The usual choice in KL-regularised RL (the default).
//   - forward, KL(p‖π) = Σ p (log p − log π): mass-covering, the
//     cross-entropy to the prior up to a constant, as in kickstarting. The
//     policy must keep probability wherever the prior has some.
//
// Prior probabilities are tempered (p ∝ p^(1/τ)), floored at ε and
// renormalised, so that no action is impossible and the KL stays finite.
// Samples whose prior has not arrived yet (the Ollama prior answers
// asynchronously) are masked out of D; the coverage is logged.
package lago

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/env"
	"github.com/lago-rl/lago/engine/ppo"
	"github.com/lago-rl/lago/engine/prior"
)

// Schedule is β as a function of training progress in [0, 1].
type Schedule struct {
	Kind          string  // constant, linear or exp
	Start, Final  float64 // β at the start and at the end of the decay
	DecayFraction float64 // the decay ends at this fraction of training
}

// At returns β at progress p. Linear goes straight from Start to Final;
// exp closes the gap geometrically, to 1% of it by the end of the decay,
// then holds Final.
func (s Schedule) At(p float64) float64 {
	if s.Kind == "constant" || s.Kind == "" {
		return s.Start
	}
	f := 1.0
	if s.DecayFraction > 0 {
		f = p / s.DecayFraction
	}
	if f >= 1 {
		return s.Final
	}
	f = math.Max(f, 0)
	if s.Kind == "linear" {
		return s.Start + (s.Final-s.Start)*f
	}
	return s.Final + (s.Start-s.Final)*math.Pow(0.01, f)
}

// Options are the regulariser's settings.
type Options struct {
	Beta        Schedule
	Forward     bool    // KL(p‖π) instead of KL(π‖p)
	Eps         float64 // floor on prior probabilities
	Temperature float64 // τ
	Wait        time.Duration
}

// OptionsFrom reads the settings of a config.
func OptionsFrom(cfg config.Config) Options {
	return Options{
		Beta:        Schedule{Kind: cfg.BetaSchedule, Start: cfg.Beta, Final: cfg.BetaFinal, DecayFraction: cfg.BetaDecayFraction},
		Forward:     cfg.KLDirection == "forward",
		Eps:         cfg.PriorEps,
		Temperature: cfg.PriorTemperature,
		Wait:        time.Duration(cfg.PriorWait * float64(time.Second)),
	}
}

// Regularizer implements ppo.Regularizer for discrete actions.
type Regularizer struct {
	prior prior.Prior
	opt   Options
	n     int // actions

	// Per rollout sample (index step*numEnvs+env):
	logPrior []float32 // [samples*n], log of the processed prior
	known    []bool
	keys     []prior.Key
	argmaxP  []int32
	entropyP []float32
	raw      []float32 // scratch: one raw prior row
	fresh    bool      // a rollout ended; the next Term refreshes late priors

	// Minibatch scratch.
	mbLogP []float32
	mask   []float32
	polArg []int64

	m metrics
}

type metrics struct {
	d, beta, agree, agreeN, entropy, entropyN float64
	terms                                     int
	covered, samples                          int
}

// New builds LaGO's regulariser over p for envs with n discrete actions.
func New(p prior.Prior, n int, opt Options) *Regularizer {
	return &Regularizer{prior: p, opt: opt, n: n, raw: make([]float32, n)}
}

// FromConfig builds the regulariser a config names, or nil for prior = none.
// The returned close function releases the prior (its server connections
// and cache).
func FromConfig(ctx context.Context, cfg config.Config) (ppo.Regularizer, func() error, error) {
	p, err := prior.New(ctx, cfg)
	if err != nil || p == nil {
		return nil, func() error { return nil }, err
	}
	e, err := env.Make(cfg.EnvID)
	if err != nil {
		p.Close()
		return nil, nil, fmt.Errorf("config key env_id: %w", err)
	}
	if e.ActionSpace().Kind != env.DiscreteKind {
		p.Close()
		return nil, nil, fmt.Errorf("prior = %q on %s: LaGO's prior over continuous actions needs the env's latent actions (a Gaussian per latent action), which %s does not define; use a discrete-action env or prior = \"none\"", cfg.Prior, cfg.EnvID, cfg.EnvID)
	}
	return New(p, e.ActionSpace().N, OptionsFrom(cfg)), p.Close, nil
}

// Name is the prior's name.
func (r *Regularizer) Name() string { return "lago(" + r.prior.Name() + ")" }

// BeginRollout sizes the per-sample storage.
func (r *Regularizer) BeginRollout(numSteps, numEnvs int) error {
	samples := numSteps * numEnvs
	if len(r.known) != samples {
		r.logPrior = make([]float32, samples*r.n)
		r.known = make([]bool, samples)
		r.keys = make([]prior.Key, samples)
		r.argmaxP = make([]int32, samples)
		r.entropyP = make([]float32, samples)
	}
	clear(r.known)
	r.fresh = true
	return nil
}

// Observe looks up the prior of every env's current state. The envs are
// split over goroutines: a scripted prior simulates the expert's lookahead,
// which costs more than the env step itself.
func (r *Regularizer) Observe(step int, v *env.Vec) error {
	workers := min(runtime.GOMAXPROCS(0), v.NumEnvs)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw := make([]float32, r.n)
			for i := w * v.NumEnvs / workers; i < (w+1)*v.NumEnvs/workers; i++ {
				idx := step*v.NumEnvs + i
				k, ok, err := r.prior.Lookup(v.Env(i), raw)
				if err != nil {
					errs[w] = err
					return
				}
				r.keys[idx] = k
				if ok {
					r.store(idx, raw)
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// store processes the raw prior row into the sample's log-prior:
// p ∝ p^(1/τ), floored at ε, renormalised.
func (r *Regularizer) store(idx int, raw []float32) {
	row := r.logPrior[idx*r.n : (idx+1)*r.n]
	z := 0.0
	for j, p := range raw {
		q := math.Pow(math.Max(float64(p), 1e-30), 1/r.opt.Temperature)
		row[j] = float32(q)
		z += q
	}
	z2 := 0.0
	for j := range row {
		q := math.Max(float64(row[j])/z, r.opt.Eps)
		row[j] = float32(q)
		z2 += q
	}
	best, h := 0, 0.0
	for j := range row {
		if row[j] > row[best] {
			best = j
		}
	}
	for j := range row {
		p := float64(row[j]) / z2
		h -= p * math.Log(p)
		row[j] = float32(math.Log(p))
	}
	r.argmaxP[idx], r.entropyP[idx] = int32(best), float32(h)
	r.known[idx] = true
}

// refresh picks up priors that arrived during the rollout, after waiting
// for them up to the configured deadline.
func (r *Regularizer) refresh() error {
	r.fresh = false
	var missing []prior.Key
	for i, ok := range r.known {
		if !ok {
			missing = append(missing, r.keys[i])
		}
	}
	if len(missing) > 0 && r.opt.Wait > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), r.opt.Wait)
		err := r.prior.Wait(ctx, missing)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
	}
	for i, ok := range r.known {
		if !ok && r.prior.Get(r.keys[i], r.raw) {
			r.store(i, r.raw)
		}
	}
	covered := 0
	for _, ok := range r.known {
		if ok {
			covered++
		}
	}
	r.m.covered, r.m.samples = covered, len(r.known)
	return nil
}

// Term is β·D's D on a minibatch: the mean KL over its samples that have a
// prior, and β at this progress.
func (r *Regularizer) Term(s *torch.Scope, d ppo.Dist, idx []int64, progress float64) (*torch.Tensor, float64, error) {
	if !d.Discrete {
		return nil, 0, errors.New("LaGO's discrete KL needs a discrete-action policy")
	}
	if r.fresh {
		if err := r.refresh(); err != nil {
			return nil, 0, err
		}
	}
	beta := r.opt.Beta.At(progress)
	B, n := len(idx), r.n
	if cap(r.mbLogP) < B*n {
		r.mbLogP = make([]float32, B*n)
		r.mask = make([]float32, B)
		r.polArg = make([]int64, B)
	}
	mbLogP, mask := r.mbLogP[:B*n], r.mask[:B]
	covered := 0
	for b, k := range idx {
		if r.known[k] {
			copy(mbLogP[b*n:(b+1)*n], r.logPrior[int(k)*n:(int(k)+1)*n])
			mask[b] = 1
			covered++
		} else {
			clear(mbLogP[b*n : (b+1)*n])
			mask[b] = 0
		}
	}
	if covered == 0 {
		return nil, beta, nil
	}
	dev := d.LogProbs.Device()
	logP := torch.FromSliceIn(s, mbLogP, []int64{int64(B), int64(n)}, dev)
	m := torch.FromSliceIn(s, mask, []int64{int64(B)}, dev)
	kl := DiscreteKL(s, d.LogProbs, logP, r.opt.Forward)
	D := s.DivS(s.Sum(s.Mul(kl, m)), float64(covered))

	// Diagnostics: how often the policy's favourite is the prior's, and
	// the prior's entropy, over the covered samples.
	r.m.d += s.Item(D)
	r.m.beta = beta
	r.m.terms++
	if err := torch.CopyTo(s.Argmax(d.LogProbs, 1, false), r.polArg[:B]); err != nil {
		return nil, 0, err
	}
	for b, k := range idx {
		if r.known[k] {
			if r.polArg[b] == int64(r.argmaxP[k]) {
				r.m.agree++
			}
			r.m.agreeN++
			r.m.entropy += float64(r.entropyP[k])
			r.m.entropyN++
		}
	}
	return D, beta, s.Err()
}

// DiscreteKL is the per-row KL between the policy's log-probabilities logPi
// [B, n] and the prior's logP [B, n]: KL(π‖p), or KL(p‖π) when forward.
func DiscreteKL(s *torch.Scope, logPi, logP *torch.Tensor, forward bool) *torch.Tensor {
	if forward {
		return s.SumDim(s.Mul(s.Exp(logP), s.Sub(logP, logPi)), 1, false)
	}
	return s.SumDim(s.Mul(s.Exp(logPi), s.Sub(logPi, logP)), 1, false)
}

// Metrics reports the iteration's D, β, coverage, agreement and prior
// entropy, with the prior's own figures, and resets them.
func (r *Regularizer) Metrics() map[string]float64 {
	out := map[string]float64{"lago_beta": r.m.beta}
	if r.m.terms > 0 {
		out["lago_kl"] = r.m.d / float64(r.m.terms)
	}
	if r.m.samples > 0 {
		out["lago_coverage"] = float64(r.m.covered) / float64(r.m.samples)
	}
	if r.m.agreeN > 0 {
		out["lago_agreement"] = r.m.agree / r.m.agreeN
		out["lago_prior_entropy"] = r.m.entropy / r.m.entropyN
	}
	for k, v := range r.prior.Metrics() {
		out[k] = v
	}
	r.m = metrics{}
	return out
}
