package ppo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/env"
)

// fakeReg is a Regularizer whose term is built from the policy alone (no
// prior): D = mean over the minibatch of log π(action 0 | s), weighted by
// beta. It records how the trainer drives it.
type fakeReg struct {
	beta float64
	// term, when set, replaces D.
	term func(s *torch.Scope, d Dist) *torch.Tensor
	// hooks, when set, run at the calls (e.g. to cancel a context).
	onObserve, onTerm func()

	calls     []string // "begin N", "observe FIRST", "end", "term", "metrics"
	entropies []float64
	samples   int
	badIdx    int64 // a Term index outside the rollout, or -1
}

func newFakeReg(beta float64) *fakeReg { return &fakeReg{beta: beta, badIdx: -1} }

func (f *fakeReg) Name() string { return "fake" }
func (f *fakeReg) BeginRollout(samples int) error {
	f.samples = samples
	f.calls = append(f.calls, fmt.Sprintf("begin %d", samples))
	return nil
}
func (f *fakeReg) Observe(first int, v *env.Vec, lo, hi int) error {
	f.calls = append(f.calls, fmt.Sprintf("observe %d %d..%d", first, lo, hi))
	if f.onObserve != nil {
		f.onObserve()
	}
	return nil
}
func (f *fakeReg) EndRollout(ctx context.Context) error {
	f.calls = append(f.calls, "end")
	return ctx.Err()
}
func (f *fakeReg) Term(s *torch.Scope, d Dist, idx []int64, progress float64) (*torch.Tensor, float64, error) {
	f.calls = append(f.calls, "term")
	if f.onTerm != nil {
		f.onTerm()
	}
	for _, k := range idx {
		if k < 0 || k >= int64(f.samples) {
			f.badIdx = k
		}
	}
	f.entropies = append(f.entropies, s.Item(s.Mean(d.Entropy(s))))
	if f.term != nil {
		return f.term(s, d), f.beta, s.Err()
	}
	first := torch.FromSliceIn(s, []int64{0}, []int64{1}, d.LogProbs.Device())
	D := s.Mean(s.Squeeze(s.IndexSelect(d.LogProbs, 1, first), 1))
	return D, f.beta, s.Err()
}
func (f *fakeReg) Metrics() map[string]float64 {
	f.calls = append(f.calls, "metrics")
	return map[string]float64{"fake": 1}
}

func newTrainer(t *testing.T, reg Regularizer) *Trainer {
	t.Helper()
	tr, err := New(smallConfig(t, "CartPole-v1"), reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	return tr
}

func bitsEqual(a, b []float32) int {
	if len(a) != len(b) {
		return 0
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// train runs iterations of the small CartPole config with reg, one trainer
// at a time (libtorch's generator is global, seeded by New), and returns
// the metrics and the parameters.
func train(t *testing.T, reg Regularizer, iterations int) ([]Metrics, []float32) {
	t.Helper()
	return trainOn(t, reg, iterations, pathFused)
}

// trainOn is train with the update path (pathFused, …) set; a regulariser
// that is not a PriorTerm takes the op-by-op path whatever it says.
func trainOn(t *testing.T, reg Regularizer, iterations, path int) ([]Metrics, []float32) {
	t.Helper()
	tr, err := New(smallConfig(t, "CartPole-v1"), reg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	tr.path = path
	var ms []Metrics
	for i := 0; i < iterations; i++ {
		m, err := tr.Iterate(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		m.SPS, m.Regularizer = 0, nil
		ms = append(ms, m)
	}
	return ms, params(t, tr)
}

// TestZeroBetaIsVanilla: a regulariser whose β is 0 leaves training bit for
// bit as vanilla PPO's (CPU) on the same update path, though its D is
// computed on every minibatch: the op-by-op loss (a regulariser that is not
// a PriorTerm) and the one-call hand-written step (a PriorTerm). The two
// paths agree with each other within float rounding (TestFusedMatchesUnfused).
func TestZeroBetaIsVanilla(t *testing.T) {
	for _, c := range []struct {
		name string
		path int
		reg  Regularizer
	}{
		{"op-by-op", pathFlat, newFakeReg(0)},
		{"fused", pathFused, newKLReg(0, 2, false)},
	} {
		t.Run(c.name, func(t *testing.T) {
			mv, pv := trainOn(t, nil, 3, c.path)
			mz, pz := trainOn(t, c.reg, 3, c.path)
			for i := range mv {
				if fmt.Sprint(mv[i]) != fmt.Sprint(mz[i]) {
					t.Fatalf("iteration %d: metrics\n vanilla %+v\n β = 0   %+v", i+1, mv[i], mz[i])
				}
			}
			if i := bitsEqual(pv, pz); i != -1 {
				t.Fatalf("parameter %d differs between vanilla PPO and β = 0", i)
			}
		})
	}
}

// TestRegTermEntersTheGradient: Loss with a term β·D has the gradient of
// vanilla PPO's loss plus β·∇D, and a trainer with a non-zero term moves
// its parameters elsewhere than vanilla PPO.
func TestRegTermEntersTheGradient(t *testing.T) {
	const beta = 0.7
	logits := []float32{0.1, 0.5, -0.2, 1.0, -1.0, 0.0, 0.3, 0.3, 0.3}
	grads := map[string][]float32{}
	for _, name := range []string{"ppo", "D", "ppo+βD"} {
		x, err := torch.FromSlice(logits, []int64{3, 3}, torch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		x.SetRequiresGrad(true)
		s := torch.NewScope()
		f := func(v []float32) *torch.Tensor { return torch.FromSliceIn(s, v, []int64{3}, torch.CPU) }
		mb := Minibatch{
			Dist:    Dist{Discrete: true, LogProbs: s.LogSoftmax(x, -1)},
			Actions: torch.FromSliceIn(s, []int64{1, 0, 2}, []int64{3}, torch.CPU),
			OldLogp: f([]float32{-1, -0.2, -1.3}), Adv: f([]float32{0.5, -1, 2}),
			Returns: f([]float32{1, 0, 2}), OldValues: f([]float32{0.8, 0.3, 1}), NewValues: f([]float32{1.2, -0.1, 1.1}),
		}
		D := func() *torch.Tensor { return s.Mean(s.Square(mb.Dist.LogProbs)) }
		var loss *torch.Tensor
		switch name {
		case "ppo":
			p, err := Loss(s, LossCoefs{ClipCoef: 0.2, EntCoef: 0.01, VFCoef: 0.5}, mb, nil)
			if err != nil || p.Reg != nil {
				t.Fatal(err, p.Reg)
			}
			loss = p.Total
		case "D":
			loss = D()
		case "ppo+βD":
			p, err := Loss(s, LossCoefs{ClipCoef: 0.2, EntCoef: 0.01, VFCoef: 0.5}, mb, func() (RegTerm, error) {
				return RegTerm{D: D(), Beta: beta}, nil
			})
			if err != nil || p.Reg == nil {
				t.Fatal(err, p.Reg)
			}
			loss = p.Total
		}
		s.Backward(loss)
		g, err := torch.ToSlice[float32](s.Grad(x))
		if err != nil || s.Err() != nil {
			t.Fatal(err, s.Err())
		}
		grads[name] = g
		s.Close()
		x.Free()
	}
	moved := false
	for i := range logits {
		want := float64(grads["ppo"][i]) + beta*float64(grads["D"][i])
		if math.Abs(float64(grads["ppo+βD"][i])-want) > 1e-6 {
			t.Fatalf("logit %d: ∇(ppo + βD) = %v, want ∇ppo + β∇D = %v", i, grads["ppo+βD"][i], want)
		}
		moved = moved || grads["ppo+βD"][i] != grads["ppo"][i]
	}
	if !moved {
		t.Fatal("the term changed no gradient")
	}

	// Through the trainer: one iteration with β = 1 lands elsewhere, while
	// a rerun of vanilla PPO lands on the same parameters.
	_, pv := train(t, nil, 1)
	_, pv2 := train(t, nil, 1)
	_, pr := train(t, newFakeReg(1), 1)
	if i := bitsEqual(pv, pv2); i != -1 {
		t.Fatalf("vanilla PPO is not reproducible (parameter %d)", i)
	}
	if bitsEqual(pv, pr) == -1 {
		t.Fatal("a non-zero term left the parameters as vanilla PPO's")
	}
}

// TestTrainerDrivesTheRegularizer: per iteration, BeginRollout with the
// rollout's sample count, Observe once per step with that step's first
// sample (in the asynchronous mode once per group of envs, in group order),
// EndRollout once before the first Term, a Term per minibatch of every
// epoch with sample numbers inside the rollout, Metrics last.
func TestTrainerDrivesTheRegularizer(t *testing.T) {
	for _, mode := range []string{"lockstep", "async"} {
		t.Run(mode, func(t *testing.T) { testTrainerDrivesTheRegularizer(t, mode) })
	}
}

func testTrainerDrivesTheRegularizer(t *testing.T, mode string) {
	f := newFakeReg(0.1)
	cfg := smallConfig(t, "CartPole-v1")
	cfg.NumEnvs = 5 // groups 0..2 and 2..5
	cfg.VecMode = mode
	tr, err := New(cfg, f)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for it := 0; it < 2; it++ {
		f.calls = nil
		m, err := tr.Iterate(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		want := []string{fmt.Sprintf("begin %d", cfg.NumSteps*cfg.NumEnvs)}
		for step := 0; step < cfg.NumSteps; step++ {
			if mode == "async" {
				want = append(want, fmt.Sprintf("observe %d 0..2", step*cfg.NumEnvs), fmt.Sprintf("observe %d 2..5", step*cfg.NumEnvs))
				continue
			}
			want = append(want, fmt.Sprintf("observe %d 0..%d", step*cfg.NumEnvs, cfg.NumEnvs))
		}
		want = append(want, "end")
		for i := 0; i < cfg.UpdateEpochs*cfg.NumMinibatches; i++ {
			want = append(want, "term")
		}
		want = append(want, "metrics")
		if strings.Join(f.calls, ",") != strings.Join(want, ",") {
			t.Fatalf("iteration %d calls\n got %v\nwant %v", it+1, f.calls, want)
		}
		if f.badIdx != -1 {
			t.Fatalf("Term got sample %d of a %d-sample rollout", f.badIdx, f.samples)
		}
		if m.Regularizer["fake"] != 1 {
			t.Fatalf("regulariser metrics %v", m.Regularizer)
		}
	}
}

// TestMetricsAreMinibatchMeans: an iteration's entropy (as its other loss
// figures) is the mean over all its minibatches, not the last one's.
func TestMetricsAreMinibatchMeans(t *testing.T) {
	f := newFakeReg(0)
	tr := newTrainer(t, f)
	m, err := tr.Iterate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n := tr.Cfg.UpdateEpochs * tr.Cfg.NumMinibatches; len(f.entropies) != n {
		t.Fatalf("%d minibatches seen, want %d", len(f.entropies), n)
	}
	mean := 0.0
	for _, h := range f.entropies {
		mean += h
	}
	mean /= float64(len(f.entropies))
	if math.Abs(m.Entropy-mean) > 1e-12 {
		t.Fatalf("entropy %v, mean over minibatches %v (last %v)", m.Entropy, mean, f.entropies[len(f.entropies)-1])
	}
	if last := f.entropies[len(f.entropies)-1]; m.Entropy == last {
		t.Fatalf("entropy %v is the last minibatch's", m.Entropy)
	}
}

// TestIterateStopsWhenCancelled: a cancelled context stops the rollout at
// the next env step and the update at the next minibatch; the trainer then
// refuses to go on or to be checkpointed.
func TestIterateStopsWhenCancelled(t *testing.T) {
	for _, where := range []string{"before", "rollout", "update"} {
		t.Run(where, func(t *testing.T) {
			f := newFakeReg(0)
			tr := newTrainer(t, f)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			observes, terms := 0, 0
			switch where {
			case "before":
				cancel()
			case "rollout":
				f.onObserve = func() {
					if observes++; observes == 3 {
						cancel()
					}
				}
			case "update":
				f.onTerm = func() {
					if terms++; terms == 2 {
						cancel()
					}
				}
			}
			_, err := tr.Iterate(ctx)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Iterate = %v, want context.Canceled", err)
			}
			switch where {
			case "rollout":
				if observes != 3 {
					t.Fatalf("%d steps observed, want the rollout to stop after the 3rd", observes)
				}
			case "update":
				if terms != 2 {
					t.Fatalf("%d minibatches run, want the update to stop after the 2nd", terms)
				}
			}
			if tr.Iteration != 0 {
				t.Fatalf("iteration %d counted after an aborted one", tr.Iteration)
			}
			if _, err := tr.Iterate(context.Background()); err == nil || !strings.Contains(err.Error(), "aborted") {
				t.Fatalf("Iterate after an aborted iteration: %v", err)
			}
			if err := tr.SaveCheckpoint(filepath.Join(t.TempDir(), "ckpt")); err == nil || !strings.Contains(err.Error(), "not checkpointing") {
				t.Fatalf("SaveCheckpoint after an aborted iteration: %v", err)
			}
		})
	}
}

// TestNonFiniteStopsWithTheLastGoodCheckpoint: a non-finite loss or
// gradient stops the iteration with an error naming the iteration, the
// quantity and the likely key, before the optimiser steps; the last good
// checkpoint stays as it was (issue 11, point 4).
func TestNonFiniteStopsWithTheLastGoodCheckpoint(t *testing.T) {
	cases := []struct {
		name string
		term func(s *torch.Scope, d Dist) *torch.Tensor
		want []string
	}{
		{"NaN term", func(s *torch.Scope, d Dist) *torch.Tensor {
			return s.MulS(s.Mean(d.LogProbs), math.NaN())
		}, []string{"ppo: iteration 2 (epoch 1, minibatch 1): the regulariser term is NaN (loss NaN)", "beta, prior_temperature"}},
		{"infinite term", func(s *torch.Scope, d Dist) *torch.Tensor {
			return s.MulS(s.Mean(s.Exp(d.LogProbs)), math.Inf(1))
		}, []string{"ppo: iteration 2 (epoch 1, minibatch 1): the regulariser term is +Inf (loss +Inf)"}},
		// √(0·x) is 0 with the gradient 0·∞ = NaN: the loss is finite, the
		// gradient norm is not.
		{"NaN gradient", func(s *torch.Scope, d Dist) *torch.Tensor {
			return s.Sqrt(s.MulS(s.Mean(s.Exp(d.LogProbs)), 0))
		}, []string{"ppo: iteration 2 (epoch 1, minibatch 1): the gradient norm is NaN (loss ", "learning_rate"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeReg(0.5)
			tr := newTrainer(t, f)
			if _, err := tr.Iterate(context.Background()); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "checkpoint.lago")
			if err := tr.SaveCheckpoint(path); err != nil {
				t.Fatal(err)
			}
			good, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			before := params(t, tr)
			f.term = c.term
			_, err = tr.Iterate(context.Background())
			var nf *NonFiniteError
			if !errors.As(err, &nf) || nf.At.Iteration != 2 {
				t.Fatalf("Iterate = %v, want a NonFiniteError at iteration 2", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if i := bitsEqual(before, params(t, tr)); i != -1 {
				t.Fatalf("parameter %d changed by the non-finite step", i)
			}
			if err := tr.SaveCheckpoint(path); err == nil {
				t.Fatal("checkpointed after a failed iteration")
			}
			if now, err := os.ReadFile(path); err != nil || string(now) != string(good) {
				t.Fatalf("the last good checkpoint changed (%v)", err)
			}
		})
	}
}

// TestNoCheckpointOfNonFiniteParameters: parameters holding NaN or Inf
// are never written, and a checkpoint holding them is refused on resume.
func TestNoCheckpointOfNonFiniteParameters(t *testing.T) {
	tr := newTrainer(t, nil)
	path := filepath.Join(t.TempDir(), "checkpoint.lago")
	if err := tr.SaveCheckpoint(path); err != nil {
		t.Fatal(err)
	}
	good, err := tr.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	critic := tr.Agent.Critic.Parameters()[0]
	if err := torch.NoGrad(func() error { return critic.Fill(math.Inf(1)) }); err != nil {
		t.Fatal(err)
	}
	err = tr.SaveCheckpoint(path)
	if err == nil || !strings.Contains(err.Error(), "critic") || !strings.Contains(err.Error(), "+Inf") {
		t.Fatalf("SaveCheckpoint of an infinite critic: %v", err)
	}
	if data, _ := os.ReadFile(path); len(data) == 0 {
		t.Fatal("the good checkpoint was removed")
	}
	// The next iteration names the likely key.
	_, err = tr.Iterate(context.Background())
	if err == nil || !strings.Contains(err.Error(), "iteration 1") || !strings.Contains(err.Error(), "learning_rate") {
		t.Fatalf("Iterate with an infinite critic: %v", err)
	}
	// A checkpoint with non-finite parameters (written before this guard)
	// is refused on resume.
	bad := newTrainer(t, nil)
	if err := torch.NoGrad(func() error { return bad.Agent.Actor.Parameters()[0].Fill(math.NaN()) }); err != nil {
		t.Fatal(err)
	}
	nets, err := torch.SaveState(bad.Agent.Parameters(), bad.Opt)
	if err != nil {
		t.Fatal(err)
	}
	js, _, err := splitCheckpoint(good)
	if err != nil {
		t.Fatal(err)
	}
	data := assemble(js, nets)
	fresh := newTrainer(t, nil)
	if err := fresh.Restore(data); err == nil || !strings.Contains(err.Error(), "cannot resume") {
		t.Fatalf("Restore of NaN parameters: %v", err)
	}
}
