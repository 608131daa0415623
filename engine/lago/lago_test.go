package lago

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/env"
	"github.com/lago-rl/lago/engine/ppo"
	"github.com/lago-rl/lago/engine/prior"
)

func tensor(t *testing.T, s *torch.Scope, data []float64, shape ...int64) *torch.Tensor {
	t.Helper()
	x := torch.FromSliceIn(s, data, shape, torch.CPU)
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	return x
}

func vals(t *testing.T, x *torch.Tensor) []float64 {
	t.Helper()
	v, err := torch.ToSlice[float64](x)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func logSoftmax(row []float64) []float64 {
	m := math.Inf(-1)
	for _, x := range row {
		m = math.Max(m, x)
	}
	z := 0.0
	for _, x := range row {
		z += math.Exp(x - m)
	}
	out := make([]float64, len(row))
	for i, x := range row {
		out[i] = x - m - math.Log(z)
	}
	return out
}

func TestDiscreteKLAgainstFloat64(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	const B, n = 4, 6
	var lpi, lp []float64
	for b := 0; b < B; b++ {
		a, c := make([]float64, n), make([]float64, n)
		for j := range a {
			a[j], c[j] = 2*r.NormFloat64(), 2*r.NormFloat64()
		}
		lpi = append(lpi, logSoftmax(a)...)
		lp = append(lp, logSoftmax(c)...)
	}
	for _, dir := range Directions {
		forward := dir == Forward
		s := torch.NewScope()
		got := vals(t, DiscreteKL(s, tensor(t, s, lpi, B, n), tensor(t, s, lp, B, n), dir))
		for b := 0; b < B; b++ {
			want := 0.0
			for j := 0; j < n; j++ {
				x, y := lpi[b*n+j], lp[b*n+j]
				if forward {
					x, y = y, x
				}
				want += math.Exp(x) * (x - y)
			}
			if math.Abs(got[b]-want) > 1e-12 || want < 0 {
				t.Fatalf("forward=%v row %d: KL %.15g, want %.15g", forward, b, got[b], want)
			}
		}
		s.Close()
	}
}

func TestUniformPriorIsAnEntropyBonus(t *testing.T) {
	// KL(π‖U) = log n − H(π): the same gradient as −H.
	logits := []float64{0.3, -1.2, 2.0, 0.1}
	lpi := logSoftmax(logits)
	lu := []float64{math.Log(0.25), math.Log(0.25), math.Log(0.25), math.Log(0.25)}
	s := torch.NewScope()
	defer s.Close()
	kl := vals(t, DiscreteKL(s, tensor(t, s, lpi, 1, 4), tensor(t, s, lu, 1, 4), Reverse))[0]
	h := 0.0
	for _, l := range lpi {
		h -= math.Exp(l) * l
	}
	if math.Abs(kl-(math.Log(4)-h)) > 1e-12 {
		t.Fatalf("KL to uniform %.12g, log n − H = %.12g", kl, math.Log(4)-h)
	}
}

func TestGaussianKLAgainstFloat64(t *testing.T) {
	mu1, ls1 := []float64{0.2, -0.5}, []float64{-0.3, 0.1}
	mu2, ls2 := []float64{-0.1, 0.4}, []float64{0.2, -0.4}
	want := 0.0
	for d := range mu1 {
		s1, s2 := math.Exp(ls1[d]), math.Exp(ls2[d])
		want += math.Log(s2/s1) + (s1*s1+(mu1[d]-mu2[d])*(mu1[d]-mu2[d]))/(2*s2*s2) - 0.5
	}
	s := torch.NewScope()
	defer s.Close()
	got := vals(t, GaussianKL(s, tensor(t, s, mu1, 1, 2), tensor(t, s, ls1, 1, 2), tensor(t, s, mu2, 1, 2), tensor(t, s, ls2, 1, 2)))[0]
	if math.Abs(got-want) > 1e-12 {
		t.Fatalf("Gaussian KL %.15g, want %.15g", got, want)
	}
	self := vals(t, GaussianKL(s, tensor(t, s, mu1, 1, 2), tensor(t, s, ls1, 1, 2), tensor(t, s, mu1, 1, 2), tensor(t, s, ls1, 1, 2)))[0]
	if math.Abs(self) > 1e-12 {
		t.Fatalf("KL of a Gaussian to itself = %g", self)
	}
}

func TestMixtureBoundIsAtLeastTheMonteCarloKL(t *testing.T) {
	if err := torch.ManualSeed(5); err != nil {
		t.Fatal(err)
	}
	s := torch.NewScope()
	defer s.Close()
	// One row, a 2-D policy and a three-component mixture prior.
	mu := tensor(t, s, []float64{0.3, -0.2}, 1, 2)
	ls := tensor(t, s, []float64{-0.5, -0.7}, 1, 2)
	w := tensor(t, s, []float64{0.6, 0.3, 0.1}, 1, 3)
	muZ := tensor(t, s, []float64{0.5, 0, -1, 1, 0, -1}, 1, 3, 2)
	lsZ := tensor(t, s, []float64{-0.3, -0.3, -0.5, -0.5, 0, 0}, 1, 3, 2)
	bound := vals(t, MixtureKLBound(s, mu, ls, w, muZ, lsZ))[0]
	mc := vals(t, MixtureKLMC(s, mu, ls, w, muZ, lsZ, 20000))[0]
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	t.Logf("bound %.4f, Monte Carlo KL %.4f", bound, mc)
	// 20000 samples put the estimate's standard error near 0.01.
	if bound < mc-0.03 {
		t.Fatalf("the convexity bound %.4f is below the Monte Carlo KL %.4f", bound, mc)
	}
	if mc <= 0 {
		t.Fatalf("Monte Carlo KL %.4f should be positive here", mc)
	}
}

func TestKLGradientMatchesFiniteDifferences(t *testing.T) {
	logits := []float64{0.5, -0.2, 1.1, 0.0}
	lp := logSoftmax([]float64{1, 0, -1, 0.5})
	for _, dir := range Directions {
		forward := dir == Forward
		f := func(l []float64) float64 {
			lpi := logSoftmax(l)
			kl := 0.0
			for j := range l {
				x, y := lpi[j], lp[j]
				if forward {
					x, y = y, x
				}
				kl += math.Exp(x) * (x - y)
			}
			return kl
		}
		x, err := torch.FromSlice(logits, []int64{1, 4}, torch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		x.SetRequiresGrad(true)
		s := torch.NewScope()
		kl := s.Sum(DiscreteKL(s, s.LogSoftmax(x, -1), tensor(t, s, lp, 1, 4), dir))
		s.Backward(kl)
		grad := vals(t, s.Grad(x))
		for j := range logits {
			up := append([]float64(nil), logits...)
			down := append([]float64(nil), logits...)
			up[j] += 1e-6
			down[j] -= 1e-6
			num := (f(up) - f(down)) / 2e-6
			if math.Abs(num-grad[j]) > 1e-6 {
				t.Fatalf("forward=%v logit %d: autograd %.9g, finite difference %.9g", forward, j, grad[j], num)
			}
		}
		s.Close()
		x.Free()
	}
}

func TestSchedules(t *testing.T) {
	cases := []struct {
		s    Schedule
		p    float64
		want float64
	}{
		{Schedule{Kind: Constant, Start: 0.1}, 0.7, 0.1},
		{Schedule{Kind: Linear, Start: 0.1, Final: 0, DecayFraction: 0.5}, 0, 0.1},
		{Schedule{Kind: Linear, Start: 0.1, Final: 0, DecayFraction: 0.5}, 0.25, 0.05},
		{Schedule{Kind: Linear, Start: 0.1, Final: 0, DecayFraction: 0.5}, 0.9, 0},
		{Schedule{Kind: Linear, Start: 0.1, Final: 0.02, DecayFraction: 1}, 0.5, 0.06},
		{Schedule{Kind: Exp, Start: 0.1, Final: 0, DecayFraction: 1}, 0.5, 0.01},
		{Schedule{Kind: Exp, Start: 0.1, Final: 0, DecayFraction: 1}, 1, 0},
		{Schedule{Kind: Exp, Start: 1, Final: 0.5, DecayFraction: 0.5}, 0.25, 0.55},
	}
	for _, c := range cases {
		if got := c.s.At(c.p); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%+v at %v = %v, want %v", c.s, c.p, got, c.want)
		}
	}
}

// fixedPrior knows the prior of the even-numbered envs at lookup and
// answers the odd ones later, to test masking and late arrivals.
type fixedPrior struct {
	row   []float32
	index map[env.Env]int
	mu    sync.Mutex
	late  map[prior.Key]bool
}

func newFixedPrior(v *env.Vec, row []float32) *fixedPrior {
	f := &fixedPrior{row: row, index: map[env.Env]int{}, late: map[prior.Key]bool{}}
	for i := 0; i < v.NumEnvs; i++ {
		f.index[v.Env(i)] = i
	}
	return f
}

func (f *fixedPrior) Name() string { return "fixed" }
func (f *fixedPrior) Lookup(e env.Env, out []float32) (prior.Key, bool, error) {
	i := f.index[e]
	k := prior.MakeKey("", "", fmt.Sprint(i))
	if i%2 == 1 {
		f.mu.Lock()
		f.late[k] = true
		f.mu.Unlock()
		return k, false, nil
	}
	copy(out, f.row)
	return k, true, nil
}
func (f *fixedPrior) Get(k prior.Key, out []float32) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.late[k] {
		copy(out, f.row)
		return true
	}
	return false
}
func (f *fixedPrior) Wait(context.Context, []prior.Key) error { return nil }
func (f *fixedPrior) Metrics() map[string]float64             { return nil }
func (f *fixedPrior) Close() error                            { return nil }

// fourEnvs is a reset Vec of 4 CartPoles, closed at the test's end.
func fourEnvs(t *testing.T) *env.Vec {
	t.Helper()
	v, err := env.NewVec("CartPole-v1", 4, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	v.Reset()
	return v
}

// newReg builds a regulariser for a test, failing it on an error.
func newReg(t *testing.T, p prior.Prior, n int, opt Options) *Regularizer {
	t.Helper()
	r, err := New(p, n, opt)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestMaskingAndLateArrivals(t *testing.T) {
	v := fourEnvs(t)
	fp := newFixedPrior(v, []float32{0.9, 0.1})
	r := newReg(t, fp, 2, Options{Beta: Schedule{Kind: Constant, Start: 0.5}, Direction: Reverse, Eps: 1e-3, Temperature: 1})
	r.BeginRollout(4)
	if err := r.Observe(0, v, 0, v.NumEnvs); err != nil {
		t.Fatal(err)
	}
	known := 0
	for _, k := range r.known {
		if k {
			known++
		}
	}
	if known != 2 {
		t.Fatalf("%d of 4 known at rollout, want 2", known)
	}
	// Mask: the late half stays late (forgotten by the prior), so the end of
	// the rollout finds nothing new; compare D to the reference.
	fp.late = map[prior.Key]bool{}
	if err := r.EndRollout(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := torch.NewScope()
	defer s.Close()
	logits := tensor(t, s, []float64{0, 0, 1, -1, 0.5, 0.5, -2, 2}, 4, 2)
	d := ppo.Dist{Discrete: true, LogProbs: s.To(s.LogSoftmax(logits, -1), torch.CPU, torch.Float32)}
	D, beta, err := r.Term(s, d, []int64{0, 1, 2, 3}, 0.3)
	if err != nil || beta != 0.5 {
		t.Fatal(err, beta)
	}
	// Reference: mean KL(π‖p) over rows 0 and 2 (the known ones).
	p := []float64{0.9, 0.1}
	want := 0.0
	for _, row := range [][]float64{{0, 0}, {0.5, 0.5}} {
		lpi := logSoftmax(row)
		for j := range lpi {
			want += math.Exp(lpi[j]) * (lpi[j] - math.Log(p[j]))
		}
	}
	want /= 2
	got := s.Item(D)
	if s.Err() != nil || math.Abs(got-want) > 1e-5 {
		t.Fatalf("masked D %.6f, want %.6f (%v)", got, want, s.Err())
	}
	m := r.Metrics()
	if m["lago_coverage"] != 0.5 || m["lago_beta"] != 0.5 {
		t.Fatalf("metrics %v", m)
	}
	// A minibatch with no prior at all adds nothing, yet β is what the
	// schedule says, and is logged as such (issue 11, point 7).
	D, beta, err = r.Term(s, d, []int64{1, 3}, 0.3)
	if D != nil || err != nil || beta != 0.5 {
		t.Fatalf("uncovered minibatch: D %v, β %v, %v", D, beta, err)
	}
	if m := r.Metrics(); m["lago_beta"] != 0.5 {
		t.Fatalf("lago_beta = %v with no prior in the iteration, want the configured 0.5 (metrics %v)", m["lago_beta"], m)
	}
}

func TestLatePriorsArriveAtTheEndOfTheRollout(t *testing.T) {
	v := fourEnvs(t)
	fp := newFixedPrior(v, []float32{0.5, 0.5})
	r := newReg(t, fp, 2, Options{Beta: Schedule{Kind: Constant, Start: 1}, Direction: Reverse, Temperature: 1})
	r.BeginRollout(4)
	if err := r.Observe(0, v, 0, v.NumEnvs); err != nil {
		t.Fatal(err)
	}
	s := torch.NewScope()
	defer s.Close()
	d := ppo.Dist{Discrete: true, LogProbs: s.LogSoftmax(torch.FromSliceIn(s, make([]float32, 8), []int64{4, 2}, torch.CPU), -1)}
	// Term alone no longer fetches anything: before EndRollout the late
	// half is masked.
	if _, _, err := r.Term(s, d, []int64{0, 1, 2, 3}, 0); err != nil {
		t.Fatal(err)
	}
	if n := countKnown(r); n != 2 {
		t.Fatalf("%d of 4 priors known before the end of the rollout, want 2", n)
	}
	if err := r.EndRollout(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m := r.Metrics(); m["lago_coverage"] != 1 {
		t.Fatalf("coverage %v after late priors arrived, want 1", m["lago_coverage"])
	}
}

func countKnown(r *Regularizer) int {
	n := 0
	for _, k := range r.known {
		if k {
			n++
		}
	}
	return n
}

// blockingPrior never answers the late priors: Wait blocks until its
// context ends.
type blockingPrior struct{ *fixedPrior }

func (b blockingPrior) Get(prior.Key, []float32) bool { return false }
func (b blockingPrior) Wait(ctx context.Context, _ []prior.Key) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestEndRolloutStopsWhenCancelled(t *testing.T) {
	v := fourEnvs(t)
	bp := blockingPrior{newFixedPrior(v, []float32{0.5, 0.5})}
	r := newReg(t, bp, 2, Options{Beta: Schedule{Kind: Constant, Start: 1}, Direction: Reverse, Temperature: 1, Wait: time.Hour})
	r.BeginRollout(4)
	if err := r.Observe(0, v, 0, v.NumEnvs); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	err := r.EndRollout(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("EndRollout = %v, want context.Canceled", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("EndRollout took %v after cancellation (prior_wait 1h)", el)
	}
	// Without cancellation the wait ends at prior_wait and the late
	// priors stay masked.
	r.opt.Wait = 20 * time.Millisecond
	if err := r.EndRollout(context.Background()); err != nil {
		t.Fatalf("EndRollout after prior_wait: %v", err)
	}
}

func TestPriorProcessing(t *testing.T) {
	r := newReg(t, nil, 3, Options{Beta: Schedule{Kind: Constant}, Direction: Reverse, Eps: 0.05, Temperature: 0.5})
	r.BeginRollout(1)
	if err := r.store(0, []float32{0.8, 0.2, 0}); err != nil {
		t.Fatal(err)
	}
	// τ = 0.5 squares: .64, .04, 0 → /.68; floor .05 on the last; renormalise.
	p := []float64{0.64 / 0.68, 0.04 / 0.68, 0.05}
	z := p[0] + p[1] + p[2]
	for j := range p {
		if got := math.Exp(float64(r.logPrior[j])); math.Abs(got-p[j]/z) > 1e-6 {
			t.Fatalf("processed prior %d = %v, want %v", j, got, p[j]/z)
		}
	}
	if r.argmaxP[0] != 0 {
		t.Fatal("argmax of the prior")
	}
}

// TestTinyTemperatureIsAnError: prior_temperature = 1e-4 on a scripted
// prior's row (0.9025 on the expert's action, 0.0025 elsewhere) made
// p^(1/τ) underflow to 0 everywhere and the loss NaN (issue 11, point 4).
// The config now refuses such a τ; the code path reports it too.
func TestTinyTemperatureIsAnError(t *testing.T) {
	row := make([]float32, 40)
	for j := range row {
		row[j] = 0.0025
	}
	row[7] = 0.9025
	for _, c := range []struct {
		tau, eps float64
		want     string
	}{
		{1e-4, 1e-3, "config key prior_temperature = 0.0001"},
		{0.01, 0, "prior_eps"}, // 0.0025^100 underflows float32; no floor
	} {
		r := newReg(t, nil, 40, Options{Beta: Schedule{Kind: Constant}, Direction: Reverse, Eps: c.eps, Temperature: c.tau})
		r.BeginRollout(1)
		err := r.store(0, row)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("τ %v, ε %v: %v, want an error naming %q", c.tau, c.eps, err, c.want)
		}
	}
	// The smallest τ the config allows, with its default floor, is fine.
	r := newReg(t, nil, 40, Options{Beta: Schedule{Kind: Constant}, Direction: Reverse, Eps: 1e-3, Temperature: 0.01})
	r.BeginRollout(1)
	if err := r.store(0, row); err != nil {
		t.Fatal(err)
	}
	for j := range row {
		if x := float64(r.logPrior[j]); math.IsNaN(x) || math.IsInf(x, 0) {
			t.Fatalf("log-prior %d = %v", j, x)
		}
	}
}

func TestUnknownKindsAreErrors(t *testing.T) {
	good := Options{Beta: Schedule{Kind: Linear, Start: 0.1}, Direction: Forward, Temperature: 1}
	if _, err := New(nil, 2, good); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"schedule", func(o *Options) { o.Beta.Kind = "cosine" }, `config key beta_schedule: unknown value "cosine": want one of constant, linear, exp`},
		{"empty schedule", func(o *Options) { o.Beta.Kind = "" }, `config key beta_schedule: unknown value "": want one of constant, linear, exp`},
		{"direction", func(o *Options) { o.Direction = "both" }, `config key kl_direction: unknown value "both": want one of reverse, forward`},
		{"temperature", func(o *Options) { o.Temperature = 0 }, "config key prior_temperature"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := good
			c.edit(&o)
			_, err := New(nil, 2, o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New: %v, want %q", err, c.want)
			}
		})
	}
	// OptionsFrom reads the config's strings into the typed kinds, and
	// refuses what a config built in code (not parsed) may hold.
	cfg := config.Default()
	cfg.BetaSchedule, cfg.KLDirection = "exp", "forward"
	o, err := OptionsFrom(cfg)
	if err != nil || o.Beta.Kind != Exp || o.Direction != Forward {
		t.Fatalf("OptionsFrom: %+v, %v", o, err)
	}
	cfg.BetaSchedule = "cosine"
	if _, err := OptionsFrom(cfg); err == nil || !strings.Contains(err.Error(), "beta_schedule") {
		t.Fatalf("OptionsFrom with beta_schedule = cosine: %v", err)
	}
	cfg.BetaSchedule, cfg.KLDirection = "constant", "sideways"
	if _, err := OptionsFrom(cfg); err == nil || !strings.Contains(err.Error(), "kl_direction") {
		t.Fatalf("OptionsFrom with kl_direction = sideways: %v", err)
	}
	// Schedule.At never turns an unknown kind into some decay.
	defer func() {
		if recover() == nil {
			t.Fatal("At of an unknown schedule returned a β")
		}
	}()
	Schedule{Kind: "cosine", Start: 1}.At(0.5)
}

// TestKindsMatchTheConfig: the typed kinds are exactly the values the
// config accepts for beta_schedule and kl_direction.
func TestKindsMatchTheConfig(t *testing.T) {
	allowed := map[string]string{}
	for _, k := range config.Keys() {
		allowed[k.Key] = k.Allowed
	}
	join := func(xs []string) string { return "one of " + strings.Join(xs, ", ") }
	var kinds, dirs []string
	for _, k := range ScheduleKinds {
		kinds = append(kinds, string(k))
	}
	for _, d := range Directions {
		dirs = append(dirs, string(d))
	}
	if got, want := allowed["beta_schedule"], join(kinds); got != want {
		t.Errorf("config allows beta_schedule %q, lago knows %q", got, want)
	}
	if got, want := allowed["kl_direction"], join(dirs); got != want {
		t.Errorf("config allows kl_direction %q, lago knows %q", got, want)
	}
}

// TestPriorRowsAreTermsInput: the fused step's input (ppo.PriorTerm) is the
// rows and mask Term uses: the known samples' log-priors, β at progress,
// the direction; Account adds to the metrics as Term does.
func TestPriorRowsAreTermsInput(t *testing.T) {
	v := fourEnvs(t)
	fp := newFixedPrior(v, []float32{0.9, 0.1})
	r := newReg(t, fp, 2, Options{Beta: Schedule{Kind: Constant, Start: 0.5}, Direction: Forward, Eps: 1e-3, Temperature: 1})
	r.BeginRollout(4)
	if err := r.Observe(0, v, 0, v.NumEnvs); err != nil {
		t.Fatal(err)
	}
	logP, mask := make([]float32, 8), make([]float32, 4)
	covered, beta, forward, err := r.PriorRows([]int64{3, 2, 1, 0}, 0.3, logP, mask)
	if err != nil || beta != 0.5 || !forward {
		t.Fatal(err, beta, forward)
	}
	want := 0
	for b, k := range []int64{3, 2, 1, 0} {
		if r.known[k] {
			want++
			if mask[b] != 1 || logP[2*b] != r.logPrior[2*k] || logP[2*b+1] != r.logPrior[2*k+1] {
				t.Fatalf("row %d (sample %d): mask %v, log-prior %v, want 1, %v", b, k, mask[b], logP[2*b:2*b+2], r.logPrior[2*k:2*k+2])
			}
		} else if mask[b] != 0 || logP[2*b] != 0 || logP[2*b+1] != 0 {
			t.Fatalf("row %d (sample %d, no prior): mask %v, log-prior %v, want zeros", b, k, mask[b], logP[2*b:2*b+2])
		}
	}
	if covered != want || want != 2 {
		t.Fatalf("covered %d, want %d (of 4, 2 known)", covered, want)
	}
	if _, _, _, err := r.PriorRows([]int64{0}, 0, logP, mask); err == nil {
		t.Fatal("mis-sized rows: no error")
	}
	r.Account([]int64{3, 2, 1, 0}, 0.25, []int64{0, 0, 0, 0})
	if m := r.Metrics(); m["lago_kl"] != 0.25 {
		t.Fatalf("lago_kl %v after Account(D = 0.25), metrics %v", m["lago_kl"], m)
	}
}
