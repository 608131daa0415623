package ppo

import (
	"math"
	"testing"

	"github.com/lago-rl/lago/bindings/torch"
)

// refLoss computes PPO's loss pieces in float64 from the log-probabilities
// of the taken actions, as CleanRL's ppo.py does.
type refLoss struct{ pg, v, approxKL, oldApproxKL, clipFrac float64 }

func reference(newLogp, oldLogp, adv, ret, oldV, newV []float64, c LossCoefs) refLoss {
	n := float64(len(adv))
	a := append([]float64(nil), adv...)
	if c.NormAdv {
		var mean, ss float64
		for _, x := range a {
			mean += x
		}
		mean /= n
		for _, x := range a {
			ss += (x - mean) * (x - mean)
		}
		std := math.Sqrt(ss / (n - 1))
		for i := range a {
			a[i] = (a[i] - mean) / (std + 1e-8)
		}
	}
	var r refLoss
	for i := range a {
		lr := newLogp[i] - oldLogp[i]
		ratio := math.Exp(lr)
		clipped := math.Min(math.Max(ratio, 1-c.ClipCoef), 1+c.ClipCoef)
		r.pg += math.Max(-a[i]*ratio, -a[i]*clipped) / n
		r.oldApproxKL += -lr / n
		r.approxKL += ((ratio - 1) - lr) / n
		if math.Abs(ratio-1) > c.ClipCoef {
			r.clipFrac += 1 / n
		}
		unclipped := (newV[i] - ret[i]) * (newV[i] - ret[i])
		if c.ClipVLoss {
			vc := oldV[i] + math.Min(math.Max(newV[i]-oldV[i], -c.ClipCoef), c.ClipCoef)
			r.v += 0.5 * math.Max(unclipped, (vc-ret[i])*(vc-ret[i])) / n
		} else {
			r.v += 0.5 * unclipped / n
		}
	}
	return r
}

func scalar(t *testing.T, s *torch.Scope, x *torch.Tensor) float64 {
	t.Helper()
	v := s.Item(x)
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	return v
}

func near(t *testing.T, name string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-5*(1+math.Abs(want)) {
		t.Fatalf("%s = %.9g, want %.9g", name, got, want)
	}
}

func TestLossPiecesDiscrete(t *testing.T) {
	logits := [][]float64{{0.1, 0.5, -0.2}, {1.0, -1.0, 0.0}, {0.3, 0.3, 0.3}, {-0.5, 2.0, 0.1}, {0.0, 0.2, 0.4}}
	actions := []int64{1, 0, 2, 1, 2}
	oldLogp := []float64{-1.0, -0.2, -1.3, -0.9, -0.6}
	adv := []float64{0.5, -1.0, 2.0, 0.1, -0.3}
	ret := []float64{1.0, 0.0, 2.0, 1.5, -0.5}
	oldV := []float64{0.8, 0.3, 1.0, 1.4, 0.1}
	newV := []float64{1.2, -0.1, 1.1, 1.0, 0.4}
	// Reference log-probabilities and entropy in float64.
	var newLogp []float64
	var entropy float64
	var flat []float32
	for i, row := range logits {
		z := 0.0
		for _, l := range row {
			z += math.Exp(l)
		}
		for _, l := range row {
			p := math.Exp(l) / z
			entropy -= p * math.Log(p) / float64(len(logits))
			flat = append(flat, float32(l))
		}
		newLogp = append(newLogp, row[actions[i]]-math.Log(z))
	}
	for _, c := range []LossCoefs{
		{ClipCoef: 0.2, ClipVLoss: true, NormAdv: true, EntCoef: 0.01, VFCoef: 0.5},
		{ClipCoef: 0.1, ClipVLoss: false, NormAdv: false, EntCoef: 0.0, VFCoef: 1.0},
	} {
		s := torch.NewScope()
		f32 := func(x []float64) *torch.Tensor {
			v := make([]float32, len(x))
			for i := range x {
				v[i] = float32(x[i])
			}
			return torch.FromSliceIn(s, v, []int64{int64(len(v))}, torch.CPU)
		}
		lg := torch.FromSliceIn(s, flat, []int64{5, 3}, torch.CPU)
		mb := Minibatch{
			Dist:    Dist{Discrete: true, LogProbs: s.LogSoftmax(lg, -1)},
			Actions: torch.FromSliceIn(s, actions, []int64{5}, torch.CPU),
			OldLogp: f32(oldLogp), Adv: f32(adv), Returns: f32(ret), OldValues: f32(oldV), NewValues: f32(newV),
		}
		p, err := Loss(s, c, mb, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := reference(newLogp, oldLogp, adv, ret, oldV, newV, c)
		near(t, "pg", scalar(t, s, p.PG), want.pg)
		near(t, "v", scalar(t, s, p.V), want.v)
		near(t, "entropy", scalar(t, s, p.Entropy), entropy)
		near(t, "approx_kl", scalar(t, s, p.ApproxKL), want.approxKL)
		near(t, "old_approx_kl", scalar(t, s, p.OldApproxKL), want.oldApproxKL)
		near(t, "clipfrac", scalar(t, s, p.ClipFrac), want.clipFrac)
		near(t, "total", scalar(t, s, p.Total), want.pg-c.EntCoef*entropy+c.VFCoef*want.v)
		s.Close()
	}
}

func TestLossPiecesGaussian(t *testing.T) {
	mean := [][]float64{{0.1, -0.3}, {0.5, 0.2}, {-1.0, 0.0}}
	logStd := []float64{-0.5, 0.2}
	act := [][]float64{{0.0, 0.1}, {1.0, -0.2}, {-0.7, 0.4}}
	oldLogp := []float64{-1.5, -2.0, -1.1}
	adv := []float64{1.0, -0.5, 0.3}
	ret := []float64{0.2, 0.4, -0.1}
	oldV := []float64{0.0, 0.5, 0.0}
	newV := []float64{0.1, 0.2, 0.3}
	var newLogp []float64
	entropy := 0.0
	for j := range logStd {
		entropy += 0.5 + 0.5*math.Log(2*math.Pi) + logStd[j]
	}
	var fm, fa []float32
	for i := range mean {
		lp := 0.0
		for j := range logStd {
			sd := math.Exp(logStd[j])
			z := (act[i][j] - mean[i][j]) / sd
			lp += -0.5*z*z - logStd[j] - 0.5*math.Log(2*math.Pi)
			fm = append(fm, float32(mean[i][j]))
			fa = append(fa, float32(act[i][j]))
		}
		newLogp = append(newLogp, lp)
	}
	c := LossCoefs{ClipCoef: 0.2, ClipVLoss: true, NormAdv: true, EntCoef: 0.01, VFCoef: 0.5}
	s := torch.NewScope()
	defer s.Close()
	f32 := func(x []float64, shape ...int64) *torch.Tensor {
		v := make([]float32, len(x))
		for i := range x {
			v[i] = float32(x[i])
		}
		return torch.FromSliceIn(s, v, shape, torch.CPU)
	}
	mb := Minibatch{
		Dist:    Dist{Mean: torch.FromSliceIn(s, fm, []int64{3, 2}, torch.CPU), LogStd: f32(logStd, 1, 2)},
		Actions: torch.FromSliceIn(s, fa, []int64{3, 2}, torch.CPU),
		OldLogp: f32(oldLogp, 3), Adv: f32(adv, 3), Returns: f32(ret, 3), OldValues: f32(oldV, 3), NewValues: f32(newV, 3),
	}
	p, err := Loss(s, c, mb, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := reference(newLogp, oldLogp, adv, ret, oldV, newV, c)
	near(t, "pg", scalar(t, s, p.PG), want.pg)
	near(t, "v", scalar(t, s, p.V), want.v)
	near(t, "entropy", scalar(t, s, p.Entropy), entropy)
	near(t, "approx_kl", scalar(t, s, p.ApproxKL), want.approxKL)
	near(t, "clipfrac", scalar(t, s, p.ClipFrac), want.clipFrac)
}
