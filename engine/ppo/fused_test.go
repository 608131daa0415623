package ppo

import (
	"context"
	"fmt"
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

// TestFlatAdamMatchesUnfused: the update over flat buffers (one shim call
// for clip + Adam + zero_grad) gives the parameters and losses of the
// per-tensor path (ClipGradNorm, Adam.Step, Adam.ZeroGrad) within 1e-5
// relative, update after update on the same rollout and seed, with and
// without a regulariser, for discrete and continuous actions.
func TestFlatAdamMatchesUnfused(t *testing.T) {
	for _, c := range []struct {
		env  string
		beta float64
	}{{"CartPole-v1", 0}, {"CartPole-v1", 0.5}, {"Pendulum-v1", 0}} {
		t.Run(fmt.Sprintf("%s/beta=%g", c.env, c.beta), func(t *testing.T) {
			cfg := smallConfig(t, c.env)
			cfg.MaxGradNorm = 0.1 // clip on most minibatches, so the clip is compared too
			var reg [2]Regularizer
			if c.beta != 0 {
				reg = [2]Regularizer{newFakeReg(c.beta), newFakeReg(c.beta)}
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
			tr[1].unfused = true
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
				for _, q := range [][2]float64{{m[0].PolicyLoss, m[1].PolicyLoss}, {m[0].ValueLoss, m[1].ValueLoss}, {m[0].Entropy, m[1].Entropy}} {
					if math.Abs(q[0]-q[1]) > 1e-5*max(math.Abs(q[1]), 1e-3) {
						t.Fatalf("update %d: losses %v vs %v", u, m[0], m[1])
					}
				}
			}
			if n := tr[0].flat.Relinks(); n != 0 {
				t.Errorf("flat Adam copied %d tensors back into its buffers in steady state; want 0 (gradients no longer accumulate in place)", n)
			}
		})
	}
}
