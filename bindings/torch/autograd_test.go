package torch

import (
	"bytes"
	"math"
	"runtime"
	"strings"
	"testing"
)

// mlpLoss is a scalar of every kind of op PPO's loss uses, so its gradient
// check covers them: linear, tanh, log_softmax, gather, exp, clamp, minimum, mean.
func mlpLoss(s *Scope, m *MLP, x, actions, adv *Tensor) *Tensor {
	logits := m.Forward(s, x)
	logp := s.Squeeze(s.Gather(s.LogSoftmax(logits, -1), 1, actions), 1)
	ratio := s.Exp(s.SubS(logp, -1.1))
	surr := s.Minimum(s.Mul(ratio, adv), s.Mul(s.Clamp(ratio, 0.5, 1.5), adv))
	return s.Neg(s.Mean(surr))
}

func TestMLPGradientsMatchFiniteDifferences(t *testing.T) {
	d := testDevice(t)
	if err := ManualSeed(7); err != nil {
		t.Fatal(err)
	}
	m, err := NewMLP([]int{3, 5, 4}, Tanh, Sqrt2, 1, Float64, d)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	s := NewScope()
	defer s.Close()
	x := FromSliceIn(s, []float64{0.5, -1, 0.25, 1, 0.3, -0.7}, []int64{2, 3}, d)
	actions := FromSliceIn(s, []int64{1, 3}, []int64{2, 1}, d)
	adv := FromSliceIn(s, []float64{0.8, -1.3}, []int64{2}, d)
	s.Backward(mlpLoss(s, m, x, actions, adv))
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	lossAt := func() float64 {
		var v float64
		err := NoGrad(func() error {
			ls := NewScope()
			defer ls.Close()
			v = ls.Item(mlpLoss(ls, m, x, actions, adv))
			return ls.Err()
		})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	const h = 1e-6
	for pi, p := range m.Parameters() {
		grad := values(t, s.Grad(p))
		vals := values(t, p)
		for i := range vals {
			probe := func(delta float64) float64 {
				shifted := append([]float64(nil), vals...)
				shifted[i] += delta
				tmp := FromSliceIn(s, shifted, p.Shape(), d)
				if err := p.CopyFrom(tmp); err != nil {
					t.Fatal(err)
				}
				return lossAt()
			}
			numeric := (probe(h) - probe(-h)) / (2 * h)
			probe(0)
			if math.Abs(numeric-grad[i]) > 1e-6*(1+math.Abs(numeric)) {
				t.Fatalf("param %d element %d: autograd %.10g, finite difference %.10g", pi, i, grad[i], numeric)
			}
		}
	}
}

func TestNoGradScope(t *testing.T) {
	p, err := Full([]int64{2}, 1, Float32, CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Free()
	if err := p.SetRequiresGrad(true); err != nil {
		t.Fatal(err)
	}
	s := NewScope()
	defer s.Close()
	var inside *Tensor
	if err := NoGrad(func() error {
		if GradEnabled() {
			t.Error("grad mode on inside NoGrad")
		}
		inside = s.MulS(p, 2)
		return s.Err()
	}); err != nil {
		t.Fatal(err)
	}
	runtime.LockOSThread()
	enabled := GradEnabled()
	runtime.UnlockOSThread()
	if !enabled {
		t.Fatal("grad mode not restored after NoGrad")
	}
	if inside.RequiresGrad() {
		t.Fatal("a result computed under NoGrad requires grad")
	}
	if outside := s.MulS(p, 2); !outside.RequiresGrad() {
		t.Fatal("a result computed with grad on does not require grad")
	}
}

// trainSteps runs n Adam steps of a small regression, deterministic on CPU.
func trainSteps(t *testing.T, m *MLP, opt *Adam, n int) {
	t.Helper()
	s := NewScope()
	defer s.Close()
	x := FromSliceIn(s, []float32{0.1, 0.2, -0.3, 0.4, 0.5, -0.6, 0.7, -0.8}, []int64{4, 2}, CPU)
	y := FromSliceIn(s, []float32{1, -1, 0.5, 0}, []int64{4, 1}, CPU)
	for i := 0; i < n; i++ {
		loss := s.Mean(s.Square(s.Sub(m.Forward(s, x), y)))
		s.Backward(loss)
		if s.Err() != nil {
			t.Fatal(s.Err())
		}
		if _, err := ClipGradNorm(m.Parameters(), 0.5); err != nil {
			t.Fatal(err)
		}
		if err := opt.Step(); err != nil {
			t.Fatal(err)
		}
		if err := opt.ZeroGrad(); err != nil {
			t.Fatal(err)
		}
	}
}

func paramBytes(t *testing.T, m *MLP) []float32 {
	t.Helper()
	var all []float32
	for _, p := range m.Parameters() {
		v, err := ToSlice[float32](p)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, v...)
	}
	return all
}

func sameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func newNet(t *testing.T, seed uint64) (*MLP, *Adam) {
	t.Helper()
	if err := ManualSeed(seed); err != nil {
		t.Fatal(err)
	}
	m, err := NewMLP([]int{2, 8, 1}, Tanh, Sqrt2, 1, Float32, CPU)
	if err != nil {
		t.Fatal(err)
	}
	opt, err := NewAdam(m.Parameters(), DefaultAdam(1e-2, 1e-5))
	if err != nil {
		t.Fatal(err)
	}
	return m, opt
}

func TestSaveLoadRoundTripIsBitExact(t *testing.T) {
	a, optA := newNet(t, 1)
	defer a.Free()
	defer optA.Free()
	trainSteps(t, a, optA, 5)
	state, err := SaveState(a.Parameters(), optA)
	if err != nil {
		t.Fatal(err)
	}
	b, optB := newNet(t, 99) // a different init, overwritten by the load
	defer b.Free()
	defer optB.Free()
	if err := LoadState(state, b.Parameters(), optB); err != nil {
		t.Fatal(err)
	}
	if !sameBits(paramBytes(t, a), paramBytes(t, b)) {
		t.Fatal("parameters differ right after load")
	}
	// Adam's moments and step count came along too: the next steps agree bit for bit.
	trainSteps(t, a, optA, 3)
	trainSteps(t, b, optB, 3)
	if !sameBits(paramBytes(t, a), paramBytes(t, b)) {
		t.Fatal("parameters differ after training on from a loaded optimiser state")
	}
	again, err := SaveState(b.Parameters(), optB)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) == 0 || bytes.Equal(again, state) {
		t.Fatal("state did not change after training")
	}
}

func TestLoadStateErrors(t *testing.T) {
	a, optA := newNet(t, 1)
	defer a.Free()
	defer optA.Free()
	state, err := SaveState(a.Parameters(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := LoadState(state, a.Parameters(), optA); err == nil || !strings.Contains(err.Error(), "optimiser") {
		t.Fatalf("loading optimiser state that is not there: %v", err)
	}
	if err := LoadState(state[:len(state)/2], a.Parameters(), nil); err == nil {
		t.Fatal("a truncated archive loaded without error")
	}
	if err := LoadState([]byte("not an archive"), a.Parameters(), nil); err == nil {
		t.Fatal("garbage loaded without error")
	}
	other, err := NewMLP([]int{2, 9, 1}, Tanh, 1, 1, Float32, CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Free()
	if err := LoadState(state, other.Parameters(), nil); err == nil || !strings.Contains(err.Error(), "[8 2]") || !strings.Contains(err.Error(), "[9 2]") {
		t.Fatalf("shape mismatch on load: %v", err)
	}
}

func TestSameSeedSameInitAndSamples(t *testing.T) {
	draw := func(seed uint64) []float32 {
		m, opt := newNet(t, seed)
		defer m.Free()
		defer opt.Free()
		out := paramBytes(t, m)
		s := NewScope()
		defer s.Close()
		mean := s.Own(Zeros([]int64{6}, Float32, CPU))
		std := s.Own(Full([]int64{6}, 1, Float32, CPU))
		logits := FromSliceIn(s, []float32{0, 1, 2, 0, 0, 0}, []int64{2, 3}, CPU)
		out = append(out, values32(t, s.Normal(mean, std))...)
		cat, err := ToSlice[int64](s.Categorical(logits))
		if err != nil || s.Err() != nil {
			t.Fatal(err, s.Err())
		}
		for _, c := range cat {
			out = append(out, float32(c))
		}
		return out
	}
	a, b, c := draw(42), draw(42), draw(43)
	if !sameBits(a, b) {
		t.Fatal("same seed, different init or samples")
	}
	if sameBits(a, c) {
		t.Fatal("different seeds gave identical init and samples")
	}
}

func values32(t *testing.T, x *Tensor) []float32 {
	t.Helper()
	v, err := ToSlice[float32](x)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCategoricalFollowsTheLogits(t *testing.T) {
	if err := ManualSeed(3); err != nil {
		t.Fatal(err)
	}
	s := NewScope()
	defer s.Close()
	const n = 20000
	probs := []float64{0.1, 0.6, 0.3}
	logits := make([]float32, 0, 3*n)
	for i := 0; i < n; i++ {
		for _, p := range probs {
			logits = append(logits, float32(math.Log(p)))
		}
	}
	samples, err := ToSlice[int64](s.Categorical(FromSliceIn(s, logits, []int64{n, 3}, CPU)))
	if err != nil || s.Err() != nil {
		t.Fatal(err, s.Err())
	}
	counts := make([]float64, 3)
	for _, c := range samples {
		counts[c]++
	}
	for i, p := range probs {
		// 5 standard errors of a binomial proportion.
		if got := counts[i] / n; math.Abs(got-p) > 5*math.Sqrt(p*(1-p)/n) {
			t.Fatalf("category %d drawn %.4f of the time, want %.2f", i, got, p)
		}
	}
}

func TestRNGStateRestoresTheStream(t *testing.T) {
	if err := ManualSeed(11); err != nil {
		t.Fatal(err)
	}
	state, err := RNGState(CPU)
	if err != nil {
		t.Fatal(err)
	}
	draw := func() []float32 {
		x, err := Randn([]int64{8}, Float32, CPU)
		if err != nil {
			t.Fatal(err)
		}
		defer x.Free()
		return values32(t, x)
	}
	first := draw()
	if err := SetRNGState(CPU, state); err != nil {
		t.Fatal(err)
	}
	if !sameBits(first, draw()) {
		t.Fatal("restored RNG state gives a different stream")
	}
}

func TestAdamLearningRate(t *testing.T) {
	m, opt := newNet(t, 1)
	defer m.Free()
	defer opt.Free()
	if opt.LR() != 1e-2 {
		t.Fatalf("LR %g, want 0.01", opt.LR())
	}
	if err := opt.SetLR(2.5e-4); err != nil || opt.LR() != 2.5e-4 {
		t.Fatalf("SetLR: %v, LR now %g", err, opt.LR())
	}
	// A zero learning rate leaves the parameters where they are.
	if err := opt.SetLR(0); err != nil {
		t.Fatal(err)
	}
	before := paramBytes(t, m)
	trainSteps(t, m, opt, 2)
	if !sameBits(before, paramBytes(t, m)) {
		t.Fatal("parameters moved with learning rate 0")
	}
}

func TestClipGradNorm(t *testing.T) {
	p, err := FromSlice([]float64{3, 4}, []int64{2}, CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Free()
	if err := p.SetRequiresGrad(true); err != nil {
		t.Fatal(err)
	}
	s := NewScope()
	defer s.Close()
	// loss = Σ p²/2 has gradient p, of norm 5.
	s.Backward(s.DivS(s.Sum(s.Square(p)), 2))
	norm, err := ClipGradNorm([]*Tensor{p}, 1)
	if err != nil || s.Err() != nil {
		t.Fatal(err, s.Err())
	}
	if math.Abs(norm-5) > 1e-12 {
		t.Fatalf("norm %g, want 5", norm)
	}
	assertClose(t, "clipped grad", values(t, s.Grad(p)), []float64{0.6, 0.8}, 1e-6)
}
