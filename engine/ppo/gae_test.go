package ppo

import (
	"math"
	"testing"
)

func TestGAEHandComputed(t *testing.T) {
	// Two envs, four steps, step-major. γ = λ = 0.5.
	// Env 0 ends an episode at step 1, so nothing flows from step 2 into step 1.
	// Env 1 ends at step 3, so its last value (10) is never used.
	rewards := []float32{1, 0, 2, 0, 3, 0, 4, 1}
	values := []float32{0.5, 0, 1, 0, 1.5, 0, 2, 0}
	ends := []bool{false, false, true, false, false, false, false, true}
	last := []float32{4, 10}
	adv := make([]float32, 8)
	ret := make([]float32, 8)
	GAE(rewards, values, ends, last, 2, 0.5, 0.5, adv, ret)
	// By hand, env 0 backwards: t3 δ=4+.5·4−2=4, A=4; t2 δ=3+.5·2−1.5=2.5, A=2.5+.25·4=3.5;
	// t1 (ends) δ=2−1=1, A=1; t0 δ=1+.5·1−.5=1, A=1+.25·1=1.25.
	// Env 1: t3 (ends) A=1; t2 A=.25; t1 A=.0625; t0 A=.015625.
	wantAdv := []float32{1.25, 0.015625, 1, 0.0625, 3.5, 0.25, 4, 1}
	wantRet := []float32{1.75, 0.015625, 2, 0.0625, 5, 0.25, 6, 1}
	for i := range adv {
		if adv[i] != wantAdv[i] || ret[i] != wantRet[i] {
			t.Fatalf("index %d: adv %v ret %v, want %v %v", i, adv, ret, wantAdv, wantRet)
		}
	}
}

func TestGAEWithLambdaOneIsDiscountedReturnMinusValue(t *testing.T) {
	rewards := []float32{1, 1, 1}
	values := []float32{0.3, 0.2, 0.1}
	ends := []bool{false, false, false}
	adv := make([]float32, 3)
	ret := make([]float32, 3)
	GAE(rewards, values, ends, []float32{2}, 1, 0.9, 1, adv, ret)
	want := 1 + 0.9 + 0.81 + 0.729*2 // Monte Carlo return bootstrapped at the end
	if math.Abs(float64(ret[0])-want) > 1e-6 {
		t.Fatalf("return %v, want %v", ret[0], want)
	}
}

func TestExplainedVariance(t *testing.T) {
	y := []float32{1, 2, 3, 4}
	if ev := ExplainedVariance(y, y); ev != 1 {
		t.Fatalf("perfect prediction: %v", ev)
	}
	if ev := ExplainedVariance([]float32{2.5, 2.5, 2.5, 2.5}, y); math.Abs(ev) > 1e-12 {
		t.Fatalf("constant prediction: %v", ev)
	}
	if ev := ExplainedVariance(y, []float32{1, 1, 1, 1}); !math.IsNaN(ev) {
		t.Fatalf("constant target: %v, want NaN", ev)
	}
}
