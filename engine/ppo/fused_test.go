package ppo

import (
	"context"
	"math"
	"testing"
)

// maxRelDiff is ‖a−b‖∞ / max(‖a‖∞, 1e-12).
func maxRelDiff(a, b []float32) float64 {
	var d, n float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
		n = max(n, math.Abs(float64(a[i])))
	}
	return d / max(n, 1e-12)
}

// TestFusedMatchesUnfused: the update paths — one shim call per minibatch
// with the hand-written backward (fused) or with autograd (autograd), the
// loss op by op then clip + Adam over flat buffers (flat) — give the
// parameters and losses of the per-tensor path (Loss, ClipGradNorm,
// Adam.Step, Adam.ZeroGrad) within 1e-5 relative, update after update on
// the same rollout and seed: discrete and continuous actions, tanh and
// relu, no regulariser, LaGO's KL in both directions (fused), and a
// regulariser that is not a PriorTerm (flat).
func TestFusedMatchesUnfused(t *testing.T) {
	for _, c := range []struct {
		name, env string
		reg       func() Regularizer
		path      int
		relu      bool
	}{
		{"cartpole", "CartPole-v1", nil, pathFused, false},
		{"cartpole-autograd", "CartPole-v1", nil, pathAutograd, false},
		{"cartpole-flat", "CartPole-v1", nil, pathFlat, false},
		{"cartpole-kl-reverse", "CartPole-v1", func() Regularizer { return newKLReg(0.5, 2, false) }, pathFused, false},
		{"cartpole-kl-forward", "CartPole-v1", func() Regularizer { return newKLReg(0.5, 2, true) }, pathFused, false},
		{"cartpole-kl-beta0", "CartPole-v1", func() Regularizer { return newKLReg(0, 2, false) }, pathFused, false},
		{"cartpole-kl-autograd", "CartPole-v1", func() Regularizer { return newKLReg(0.5, 2, false) }, pathAutograd, false},
		{"cartpole-fake-reg", "CartPole-v1", func() Regularizer { return newFakeReg(0.5) }, pathFused, false},
		{"cartpole-relu-kl", "CartPole-v1", func() Regularizer { return newKLReg(0.5, 2, true) }, pathFused, true},
		{"pendulum", "Pendulum-v1", nil, pathFused, false},
		{"pendulum-relu", "Pendulum-v1", nil, pathFused, true},
		{"pendulum-autograd", "Pendulum-v1", nil, pathAutograd, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := smallConfig(t, c.env)
			cfg.MaxGradNorm = 0.1 // clip on most minibatches, so the clip is compared too
			if c.relu {
				cfg.Activation = "relu"
			}
			var reg [2]Regularizer
			if c.reg != nil {
				reg = [2]Regularizer{c.reg(), c.reg()}
			}
			var tr [2]*Trainer
			for i := range tr {
				var err error
				if tr[i], err = New(cfg, reg[i]); err != nil {
					t.Fatal(err)
				}
				defer tr[i].Close()
				if err := tr[i].collect(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			tr[0].path, tr[1].path = c.path, pathUnfused
			if fused, _ := tr[0].fusedPath(); fused != ((c.path == pathFused || c.path == pathAutograd) && c.name != "cartpole-fake-reg") {
				t.Fatalf("fused path %v for %s", fused, c.name)
			}
			if got, want := params(t, tr[0]), params(t, tr[1]); maxRelDiff(got, want) != 0 {
				t.Fatal("the two trainers start apart")
			}
			for u := 1; u <= 5; u++ {
				var m [2]Metrics
				for i := range tr {
					var err error
					if m[i], err = tr[i].update(context.Background()); err != nil {
						t.Fatal(err)
					}
				}
				d := maxRelDiff(params(t, tr[0]), params(t, tr[1]))
				if d > 1e-5 {
					t.Fatalf("update %d: parameters differ by %.3g relative (> 1e-5)", u, d)
				}
				t.Logf("update %d: parameters differ by %.3g relative", u, d)
				var reg [2]float64
				for i := range tr {
					if tr[i].Reg != nil {
						reg[i] = tr[i].Reg.Metrics()[tr[i].Reg.Name()]
					}
				}
				for _, q := range [][2]float64{{m[0].PolicyLoss, m[1].PolicyLoss}, {m[0].ValueLoss, m[1].ValueLoss}, {m[0].Entropy, m[1].Entropy},
					{m[0].ApproxKL, m[1].ApproxKL}, {m[0].ClipFrac, m[1].ClipFrac}, {reg[0], reg[1]}} {
					// The floor: the figures are means of terms of size ~1 (the
					// surrogate's ±A·r), which libtorch sums in float32 and the
					// hand-written path in float64; a float32 mean of 64 of them
					// is off by up to ~1e-7 even when it is close to 0.
					if math.Abs(q[0]-q[1]) > 1e-5*max(math.Abs(q[1]), 1e-2) {
						t.Fatalf("update %d: losses %v vs %v", u, m[0], m[1])
					}
				}
			}
			if n := tr[0].flat.Relinks(); n != 0 && c.path != pathUnfused {
				t.Errorf("flat Adam copied %d tensors back into its buffers in steady state; want 0 (gradients no longer accumulate in place)", n)
			}
		})
	}
}
