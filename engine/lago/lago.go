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
	"strings"
	"sync"
	"time"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/env"
	"github.com/lago-rl/lago/engine/ppo"
	"github.com/lago-rl/lago/engine/prior"
)

// ScheduleKind is how β changes over training: the values of the config
// key beta_schedule.
type ScheduleKind string

// The β schedules.
const (
	Constant ScheduleKind = "constant" // β stays at its start value
	Linear   ScheduleKind = "linear"   // β goes straight to its final value
	Exp      ScheduleKind = "exp"      // β closes the gap to its final value geometrically
)

// ScheduleKinds lists every schedule, in the order the config lists them.
var ScheduleKinds = []ScheduleKind{Constant, Linear, Exp}

// ParseScheduleKind reads a beta_schedule value; an unknown one is an error
// naming the key and the allowed values.
func ParseScheduleKind(s string) (ScheduleKind, error) {
	return parseEnum("beta_schedule", s, ScheduleKinds)
}

// Direction is the direction of the KL: the values of kl_direction.
type Direction string

// The KL directions.
const (
	Reverse Direction = "reverse" // KL(π‖p), mode-seeking
	Forward Direction = "forward" // KL(p‖π), mass-covering
)

// Directions lists both directions, in the order the config lists them.
var Directions = []Direction{Reverse, Forward}

// ParseDirection reads a kl_direction value; an unknown one is an error
// naming the key and the allowed values.
func ParseDirection(s string) (Direction, error) {
	return parseEnum("kl_direction", s, Directions)
}

func parseEnum[T ~string](key, s string, allowed []T) (T, error) {
	names := make([]string, len(allowed))
	for i, a := range allowed {
		if string(a) == s {
			return a, nil
		}
		names[i] = string(a)
	}
	return "", fmt.Errorf("config key %s: unknown value %q: want one of %s", key, s, strings.Join(names, ", "))
}

// Schedule is β as a function of training progress in [0, 1].
type Schedule struct {
	Kind          ScheduleKind
	Start, Final  float64 // β at the start and at the end of the decay
	DecayFraction float64 // the decay ends at this fraction of training
}

// Validate reports an unknown Kind.
func (s Schedule) Validate() error {
	_, err := ParseScheduleKind(string(s.Kind))
	return err
}

// At returns β at progress p. Linear goes straight from Start to Final;
// exp closes the gap geometrically, to 1% of it by the end of the decay,
// then holds Final. It panics on an unknown Kind, which New refuses.
func (s Schedule) At(p float64) float64 {
	switch s.Kind {
	case Constant:
		return s.Start
	case Linear, Exp:
	default:
		panic(fmt.Sprintf("lago: Schedule.At: %v", s.Validate()))
	}
	f := 1.0
	if s.DecayFraction > 0 {
		f = p / s.DecayFraction
	}
	if f >= 1 {
		return s.Final
	}
	f = math.Max(f, 0)
	if s.Kind == Linear {
		return s.Start + (s.Final-s.Start)*f
	}
	return s.Final + (s.Start-s.Final)*math.Pow(0.01, f)
}

// Options are the regulariser's settings.
type Options struct {
	Beta        Schedule
	Direction   Direction
	Eps         float64 // floor on prior probabilities
	Temperature float64 // τ
	Wait        time.Duration
}

// Validate reports unknown kinds and a temperature that is not positive.
func (o Options) Validate() error {
	var errs []error
	if err := o.Beta.Validate(); err != nil {
		errs = append(errs, err)
	}
	if _, err := ParseDirection(string(o.Direction)); err != nil {
		errs = append(errs, err)
	}
	if !(o.Temperature > 0) || math.IsInf(o.Temperature, 0) {
		errs = append(errs, fmt.Errorf("config key prior_temperature: %v is not a positive number", o.Temperature))
	}
	if !(o.Eps >= 0 && o.Eps < 1) {
		errs = append(errs, fmt.Errorf("config key prior_eps: %v is not in [0, 1)", o.Eps))
	}
	return errors.Join(errs...)
}

// OptionsFrom reads the settings of a config; an unknown beta_schedule or
// kl_direction is an error naming the key.
func OptionsFrom(cfg config.Config) (Options, error) {
	kind, err1 := ParseScheduleKind(cfg.BetaSchedule)
	dir, err2 := ParseDirection(cfg.KLDirection)
	if err := errors.Join(err1, err2); err != nil {
		return Options{}, err
	}
	return Options{
		Beta:        Schedule{Kind: kind, Start: cfg.Beta, Final: cfg.BetaFinal, DecayFraction: cfg.BetaDecayFraction},
		Direction:   dir,
		Eps:         cfg.PriorEps,
		Temperature: cfg.PriorTemperature,
		Wait:        time.Duration(cfg.PriorWait * float64(time.Second)),
	}, nil
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

// report returns the figures both regularisers log, with the prior's own,
// and resets m for the next iteration.
func (m *metrics) report(p prior.Prior) map[string]float64 {
	out := map[string]float64{"lago_beta": m.beta}
	if m.terms > 0 {
		out["lago_kl"] = m.d / float64(m.terms)
	}
	if m.samples > 0 {
		out["lago_coverage"] = float64(m.covered) / float64(m.samples)
	}
	if m.agreeN > 0 {
		out["lago_agreement"] = m.agree / m.agreeN
		out["lago_prior_entropy"] = m.entropy / m.entropyN
	}
	for k, v := range p.Metrics() {
		out[k] = v
	}
	*m = metrics{}
	return out
}

// New builds LaGO's regulariser over p for envs with n discrete actions.
func New(p prior.Prior, n int, opt Options) (*Regularizer, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	return &Regularizer{prior: p, opt: opt, n: n, raw: make([]float32, n)}, nil
}

// FromConfig builds the regulariser a config names, or nil for prior = none.
// The returned close function releases the prior (its server connections
// and cache).
func FromConfig(ctx context.Context, cfg config.Config) (ppo.Regularizer, func() error, error) {
	p, err := prior.New(ctx, cfg)
	if err != nil || p == nil {
		return nil, func() error { return nil }, err
	}
	e, err := env.Make(cfg.Env())
	if err != nil {
		p.Close()
		return nil, nil, fmt.Errorf("config key env_id: %w", err)
	}
	if c, ok := e.(interface{ Close() }); ok {
		defer c.Close() // only its spaces and skills are needed
	}
	opt, err := OptionsFrom(cfg)
	if err != nil {
		p.Close()
		return nil, nil, err
	}
	var r ppo.Regularizer
	if as := e.ActionSpace(); as.Kind == env.DiscreteKind {
		r, err = New(p, as.N, opt)
	} else if sk, ok := e.(env.Skilled); ok {
		// Every prior kind answers with weights over the skills; a
		// language model's are its answer to "which skill now?"
		// (engine/prior's metaworld-v1 template).
		r, err = NewContinuous(p, sk.NumSkills(), as.Dim(), opt)
	} else {
		err = fmt.Errorf("prior = %q on %s: LaGO's prior over continuous actions is a mixture over the env's latent skills (a Gaussian per skill), which %s does not declare; use an env with skills (MetaWorld-<task>-v3), a discrete-action env, or prior = \"none\"", cfg.Prior, cfg.EnvID, cfg.EnvID)
	}
	if err != nil {
		p.Close()
		return nil, nil, err
	}
	return r, p.Close, nil
}

// Name is the prior's name.
func (r *Regularizer) Name() string { return "lago(" + r.prior.Name() + ")" }

// BeginRollout sizes the per-sample storage.
func (r *Regularizer) BeginRollout(samples int) error {
	if len(r.known) != samples {
		r.logPrior = make([]float32, samples*r.n)
		r.known = make([]bool, samples)
		r.keys = make([]prior.Key, samples)
		r.argmaxP = make([]int32, samples)
		r.entropyP = make([]float32, samples)
	}
	clear(r.known)
	return nil
}

// Observe looks up the prior of the current state of envs lo..hi, env i's
// as sample first+i. The envs are split over goroutines: a scripted prior
// simulates the expert's lookahead, which costs more than the env step
// itself. Each sample's row depends only on its env's state, so the
// asynchronous mode, which observes a group at a time, stores what
// lockstep does.
func (r *Regularizer) Observe(first int, v *env.Vec, lo, hi int) error {
	return overEnvs(lo, hi, r.n, func(i int, raw []float32) error {
		idx := first + i
		k, ok, err := r.prior.Lookup(v.Env(i), raw)
		if err != nil {
			return err
		}
		r.keys[idx] = k
		if ok {
			return r.store(idx, raw)
		}
		return nil
	})
}

// overEnvs calls fn for envs lo..hi, split over up to GOMAXPROCS
// goroutines, each with its own scratch row of rowLen floats; a goroutine
// stops at its first error. Both regularisers' Observe use it: a scripted
// prior simulates the expert, which costs more than the env step itself.
func overEnvs(lo, hi, rowLen int, fn func(i int, raw []float32) error) error {
	n := hi - lo
	if n <= 0 {
		return nil
	}
	workers := min(runtime.GOMAXPROCS(0), n)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			raw := make([]float32, rowLen)
			for i := lo + w*n/workers; i < lo+(w+1)*n/workers; i++ {
				if err := fn(i, raw); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// temper writes raw tempered and floored into row, the processing every
// prior row gets: q ∝ raw^(1/τ) normalised, then floored at ε. It returns
// the floored row's sum z2 (p = row/z2 renormalises it) and its argmax; a
// tempered row that sums to 0 or Inf (τ tiny) is an error naming what.
func temper(row, raw []float32, tau, eps float64, what string) (z2 float64, best int, err error) {
	z := 0.0
	for j, p := range raw {
		q := math.Pow(math.Max(float64(p), 1e-30), 1/tau)
		row[j] = float32(q)
		z += q
	}
	if !(z > 0) || math.IsInf(z, 0) {
		return 0, 0, fmt.Errorf("lago: config key prior_temperature = %g: the sum of the tempered %s is %v; raise prior_temperature", tau, what, z)
	}
	for j := range row {
		q := math.Max(float64(row[j])/z, eps)
		row[j] = float32(q)
		z2 += q
		if row[j] > row[best] {
			best = j
		}
	}
	return z2, best, nil
}

// store processes the raw prior row into the sample's log-prior:
// p ∝ p^(1/τ), floored at ε, renormalised. A row that comes out non-finite
// (p^(1/τ) underflows to 0 for every action when τ is tiny) is an error
// naming the keys, never a NaN in the loss.
func (r *Regularizer) store(idx int, raw []float32) error {
	row := r.logPrior[idx*r.n : (idx+1)*r.n]
	z2, best, err := temper(row, raw, r.opt.Temperature, r.opt.Eps, "prior p^(1/τ)")
	if err != nil {
		return err
	}
	h := 0.0
	for j := range row {
		p := float64(row[j]) / z2
		if p == 0 {
			return fmt.Errorf("lago: config keys prior_temperature = %g and prior_eps = %g: action %d of the tempered prior has probability 0, so the KL is infinite; raise prior_eps or prior_temperature", r.opt.Temperature, r.opt.Eps, j)
		}
		h -= p * math.Log(p)
		row[j] = float32(math.Log(p))
	}
	r.argmaxP[idx], r.entropyP[idx] = int32(best), float32(h)
	r.known[idx] = true
	return nil
}

// EndRollout picks up priors that arrived during the rollout, after waiting
// for them up to prior_wait (or until ctx is cancelled), and counts the
// rollout's coverage.
func (r *Regularizer) EndRollout(ctx context.Context) error {
	covered, err := pickUpLatePriors(ctx, r.prior, r.opt.Wait, r.known, r.keys, r.raw, r.store)
	r.m.covered, r.m.samples = covered, len(r.known)
	return err
}

// Term is β·D's D on a minibatch: the mean KL over its samples that have a
// prior, and β at this progress. β is logged (lago_beta) even when no
// sample has a prior.
func (r *Regularizer) Term(s *torch.Scope, d ppo.Dist, idx []int64, progress float64) (*torch.Tensor, float64, error) {
	if !d.Discrete {
		return nil, 0, errors.New("lago: LaGO's discrete KL needs a discrete-action policy")
	}
	beta := r.opt.Beta.At(progress)
	r.m.beta = beta
	B, n := len(idx), r.n
	if cap(r.mbLogP) < B*n {
		r.mbLogP = make([]float32, B*n)
		r.mask = make([]float32, B)
		r.polArg = make([]int64, B)
	}
	mbLogP, mask := r.mbLogP[:B*n], r.mask[:B]
	covered := r.fill(idx, mbLogP, mask)
	if covered == 0 {
		return nil, beta, nil
	}
	dev := d.LogProbs.Device()
	logP := torch.FromSliceIn(s, mbLogP, []int64{int64(B), int64(n)}, dev)
	m := torch.FromSliceIn(s, mask, []int64{int64(B)}, dev)
	kl := DiscreteKL(s, d.LogProbs, logP, r.opt.Direction)
	D := s.DivS(s.Sum(s.Mul(kl, m)), float64(covered))
	dv := s.Item(D)
	if err := torch.CopyTo(s.Argmax(d.LogProbs, 1, false), r.polArg[:B]); err != nil {
		return nil, 0, err
	}
	r.Account(idx, dv, r.polArg[:B])
	return D, beta, s.Err()
}

// The trainer runs LaGO's minibatches in one shim call (see ppo.PriorTerm).
var _ ppo.PriorTerm = (*Regularizer)(nil)

// fill copies the prior's log-probabilities of the samples idx into logP
// [len(idx) × n] and marks the samples that have one in mask; it returns
// how many do.
func (r *Regularizer) fill(idx []int64, logP, mask []float32) int {
	n, covered := r.n, 0
	for b, k := range idx {
		if r.known[k] {
			copy(logP[b*n:(b+1)*n], r.logPrior[int(k)*n:(int(k)+1)*n])
			mask[b] = 1
			covered++
		} else {
			clear(logP[b*n : (b+1)*n])
			mask[b] = 0
		}
	}
	return covered
}

// PriorRows is Term's input for the trainer's fused minibatch step
// (ppo.PriorTerm): the prior rows and mask of the samples idx, how many are
// covered, β at this progress and the KL's direction.
func (r *Regularizer) PriorRows(idx []int64, progress float64, logP, mask []float32) (int, float64, bool, error) {
	beta := r.opt.Beta.At(progress)
	r.m.beta = beta
	if len(logP) != len(idx)*r.n || len(mask) != len(idx) {
		return 0, beta, false, fmt.Errorf("lago: prior rows: %d log-prior and %d mask values for %d samples of %d actions", len(logP), len(mask), len(idx), r.n)
	}
	return r.fill(idx, logP, mask), beta, r.opt.Direction == Forward, nil
}

// Account records a minibatch's D and the diagnostics over its covered
// samples: how often the policy's favourite (argmax, per sample) is the
// prior's, and the prior's entropy.
func (r *Regularizer) Account(idx []int64, D float64, argmax []int64) {
	r.m.d += D
	r.m.terms++
	for b, k := range idx {
		if r.known[k] {
			if argmax[b] == int64(r.argmaxP[k]) {
				r.m.agree++
			}
			r.m.agreeN++
			r.m.entropy += float64(r.entropyP[k])
			r.m.entropyN++
		}
	}
}

// pickUpLatePriors is the end of a rollout for both regularisers: it waits
// up to wait (or until ctx is cancelled) for the samples whose prior has not
// arrived, stores those that did (through raw, one prior row), and returns
// how many samples have a prior.
func pickUpLatePriors(ctx context.Context, p prior.Prior, wait time.Duration, known []bool, keys []prior.Key,
	raw []float32, store func(idx int, raw []float32) error) (int, error) {
	var missing []prior.Key
	for i, ok := range known {
		if !ok {
			missing = append(missing, keys[i])
		}
	}
	if len(missing) > 0 && wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, wait)
		err := p.Wait(wctx, missing)
		cancel()
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return 0, err
		}
	}
	covered := 0
	for i, ok := range known {
		if !ok && p.Get(keys[i], raw) {
			if err := store(i, raw); err != nil {
				return covered, err
			}
			ok = true
		}
		if ok {
			covered++
		}
	}
	return covered, nil
}

// DiscreteKL is the per-row KL between the policy's log-probabilities logPi
// [B, n] and the prior's logP [B, n]: KL(π‖p) (Reverse) or KL(p‖π)
// (Forward).
func DiscreteKL(s *torch.Scope, logPi, logP *torch.Tensor, dir Direction) *torch.Tensor {
	if dir == Forward {
		return s.SumDim(s.Mul(s.Exp(logP), s.Sub(logP, logPi)), 1, false)
	}
	return s.SumDim(s.Mul(s.Exp(logPi), s.Sub(logPi, logP)), 1, false)
}

// Metrics reports the iteration's figures, with the prior's own, and
// resets them: lago_kl, D averaged over the minibatches that had a prior;
// lago_beta, the scheduled β; lago_coverage, the share of the rollout's
// samples with a prior; lago_agreement and lago_prior_entropy over the
// covered samples of every minibatch.
func (r *Regularizer) Metrics() map[string]float64 {
	return r.m.report(r.prior)
}

// Covered counts the samples of idx that have a prior: Term's D is the mean
// KL over them, which data-parallel training makes a mean over all ranks'
// covered samples (ppo.Coverage).
func (r *Regularizer) Covered(idx []int64) int { return knownAmong(r.known, idx) }

var _ ppo.Coverage = (*Regularizer)(nil)

func knownAmong(known []bool, idx []int64) int {
	n := 0
	for _, k := range idx {
		if known[k] {
			n++
		}
	}
	return n
}
