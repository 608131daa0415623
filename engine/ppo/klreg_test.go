package ppo

import (
	"context"
	"math"
	"math/rand/v2"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/env"
)

// klReg is LaGO's term with a fixed prior: D is the mean over the
// minibatch's covered samples of KL(π‖p) (or KL(p‖π) when forward), with
// p a random log-prior per sample and about one sample in ten uncovered. Its
// ops are engine/lago's (which this package cannot import).
type klReg struct {
	beta     float64
	forward  bool
	n        int
	logPrior []float32 // [samples × n]
	known    []bool
	rows     []float32
	mask     []float32
	d        float64
	terms    int
}

func newKLReg(beta float64, n int, forward bool) *klReg {
	return &klReg{beta: beta, n: n, forward: forward}
}

func (r *klReg) Name() string { return "kl" }

func (r *klReg) BeginRollout(samples int) error {
	rng := rand.New(rand.NewPCG(7, uint64(samples)))
	r.logPrior = make([]float32, samples*r.n)
	r.known = make([]bool, samples)
	for k := 0; k < samples; k++ {
		r.known[k] = rng.IntN(10) != 0
		row := r.logPrior[k*r.n : (k+1)*r.n]
		var z float64
		for j := range row {
			row[j] = float32(rng.NormFloat64())
			z += float64(exp32(row[j]))
		}
		lz := float32(log64(z))
		for j := range row {
			row[j] -= lz
		}
	}
	return nil
}

func (r *klReg) Observe(first int, v *env.Vec, lo, hi int) error { return nil }
func (r *klReg) EndRollout(ctx context.Context) error            { return ctx.Err() }

// fill copies the minibatch's prior rows and mask; it returns the covered count.
func (r *klReg) fill(idx []int64, logP, mask []float32) int {
	covered := 0
	for b, k := range idx {
		if r.known[k] {
			copy(logP[b*r.n:(b+1)*r.n], r.logPrior[int(k)*r.n:(int(k)+1)*r.n])
			mask[b] = 1
			covered++
		} else {
			clear(logP[b*r.n : (b+1)*r.n])
			mask[b] = 0
		}
	}
	return covered
}

func (r *klReg) Term(s *torch.Scope, d Dist, idx []int64, progress float64) (*torch.Tensor, float64, error) {
	B := len(idx)
	if cap(r.rows) < B*r.n {
		r.rows, r.mask = make([]float32, B*r.n), make([]float32, B)
	}
	covered := r.fill(idx, r.rows[:B*r.n], r.mask[:B])
	if covered == 0 {
		return nil, r.beta, nil
	}
	dev := d.LogProbs.Device()
	logP := torch.FromSliceIn(s, r.rows[:B*r.n], []int64{int64(B), int64(r.n)}, dev)
	m := torch.FromSliceIn(s, r.mask[:B], []int64{int64(B)}, dev)
	var kl *torch.Tensor
	if r.forward {
		kl = s.SumDim(s.Mul(s.Exp(logP), s.Sub(logP, d.LogProbs)), 1, false)
	} else {
		kl = s.SumDim(s.Mul(s.Exp(d.LogProbs), s.Sub(d.LogProbs, logP)), 1, false)
	}
	D := s.DivS(s.Sum(s.Mul(kl, m)), float64(covered))
	r.d += s.Item(D)
	r.terms++
	return D, r.beta, s.Err()
}

func (r *klReg) Metrics() map[string]float64 {
	out := map[string]float64{"kl": r.d / float64(max(r.terms, 1))}
	r.d, r.terms = 0, 0
	return out
}

func exp32(x float32) float64 { return math.Exp(float64(x)) }
func log64(x float64) float64 { return math.Log(x) }

// PriorRows and Account make klReg a PriorTerm, so the trainer takes the
// fused path with it.
func (r *klReg) PriorRows(idx []int64, progress float64, logP, mask []float32) (int, float64, bool, error) {
	return r.fill(idx, logP, mask), r.beta, r.forward, nil
}

func (r *klReg) Account(idx []int64, D float64, argmax []int64) {
	r.d += D
	r.terms++
}
