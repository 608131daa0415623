package lago

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/env"
	_ "github.com/lago-rl/lago/engine/envs" // MetaWorld-<task>-v3
	"github.com/lago-rl/lago/engine/ppo"
	"github.com/lago-rl/lago/engine/prior"
)

// skillState runs task's scripted expert for steps steps from a seeded
// reset and returns the env there, closed at the test's end.
func skillState(t *testing.T, id string, seed uint64, steps int) env.Env {
	t.Helper()
	e, err := env.Make(id)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := e.(interface{ Close() }); ok {
		t.Cleanup(c.Close)
	}
	e.Seed(seed)
	obs := make([]float32, e.ObservationSpace().Dim())
	e.Reset(obs)
	a := make([]float32, e.ActionSpace().Dim())
	for range steps {
		e.(env.Expert).ExpertAction(a)
		e.Step(a, obs)
	}
	return e
}

// skillMixture reads an env's skill Gaussians: means [Z*d] and log stds
// [Z*d].
func skillMixture(e env.Env) (mu, logStd []float64) {
	sk := e.(env.Skilled)
	d := e.ActionSpace().Dim()
	a := make([]float32, d)
	for z := range sk.NumSkills() {
		sk.SkillAction(z, a)
		for j := range d {
			mu = append(mu, float64(a[j]))
			logStd = append(logStd, math.Log(sk.SkillStd(z)))
		}
	}
	return mu, logStd
}

// priorWeights is the scripted prior's row at e's state.
func priorWeights(t *testing.T, spec string, e env.Env) []float64 {
	t.Helper()
	cfg := config.Default()
	cfg.Prior = spec
	p, err := prior.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	raw := make([]float32, e.(env.Skilled).NumSkills())
	if _, ok, err := p.Lookup(e, raw); err != nil || !ok {
		t.Fatalf("prior %s on %s: known %v, %v", spec, e.Spec().ID, ok, err)
	}
	w := make([]float64, len(raw))
	for i, x := range raw {
		w[i] = float64(x)
	}
	return w
}

// TestSkillMixtureBoundOnMetaWorld checks the closed-form bound against the
// Monte-Carlo KL on the real skill mixtures of Meta-World states: the
// scripted:0.9 weights and the skills' Gaussians at states along the
// expert's episode, with policies near and away from the expert's action.
func TestSkillMixtureBoundOnMetaWorld(t *testing.T) {
	if err := torch.ManualSeed(7); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		id    string
		steps int
	}{
		{"MetaWorld-reach-v3", 10},
		{"MetaWorld-push-v3", 0},
		{"MetaWorld-push-v3", 40},
		{"MetaWorld-pick-place-v3", 60},
		{"MetaWorld-peg-insert-side-v3", 80},
		{"MetaWorld-drawer-close-v3", 30},
	}
	for _, c := range cases {
		e := skillState(t, c.id, 3, c.steps)
		muZ, lsZ := skillMixture(e)
		w := priorWeights(t, "scripted:0.9", e)
		Z, d := len(w), e.ActionSpace().Dim()
		expert := make([]float64, d)
		a := make([]float32, d)
		e.(env.Expert).ExpertAction(a)
		for j := range d {
			expert[j] = float64(a[j])
		}
		for _, pol := range []struct {
			name   string
			shift  float64
			logStd float64
		}{{"near the expert", 0.05, math.Log(0.3)}, {"away from it", -0.6, 0}} {
			mu := make([]float64, d)
			ls := make([]float64, d)
			for j := range d {
				mu[j], ls[j] = expert[j]+pol.shift, pol.logStd
			}
			s := torch.NewScope()
			args := []*torch.Tensor{
				tensor(t, s, mu, 1, int64(d)), tensor(t, s, ls, 1, int64(d)), tensor(t, s, w, 1, int64(Z)),
				tensor(t, s, muZ, 1, int64(Z), int64(d)), tensor(t, s, lsZ, 1, int64(Z), int64(d)),
			}
			bound := vals(t, MixtureKLBound(s, args[0], args[1], args[2], args[3], args[4]))[0]
			mc := vals(t, MixtureKLMC(s, args[0], args[1], args[2], args[3], args[4], 20000))[0]
			if s.Err() != nil {
				t.Fatal(s.Err())
			}
			s.Close()
			t.Logf("%s after %d expert steps, policy %s: %d skills, bound %.4f, Monte Carlo KL %.4f", c.id, c.steps, pol.name, Z, bound, mc)
			if math.IsNaN(bound) || math.IsInf(bound, 0) || math.IsNaN(mc) || math.IsInf(mc, 0) {
				t.Fatalf("%s: bound %v, Monte Carlo %v: not finite", c.id, bound, mc)
			}
			// 20000 samples put the estimate's standard error near 0.01 at
			// these KLs (a few nats).
			if bound < mc-0.05*math.Max(1, mc) {
				t.Fatalf("%s, policy %s: the bound %.4f is below the Monte Carlo KL %.4f", c.id, pol.name, bound, mc)
			}
		}
	}
}

// mixtureBound64 is Σ_z w_z·KL between row b's policy and skill z, in
// float64, the reference for SkillKLs.
func mixtureBound64(mu, ls, w, muZ, lsZ []float64, B, Z, d int, forward bool) float64 {
	total := 0.0
	for b := range B {
		for z := range Z {
			kl := 0.0
			for j := range d {
				m1, l1 := mu[b*d+j], ls[j]
				m2, l2 := muZ[(b*Z+z)*d+j], lsZ[(b*Z+z)*d+j]
				if forward {
					m1, l1, m2, l2 = m2, l2, m1, l1
				}
				v1, v2 := math.Exp(2*l1), math.Exp(2*l2)
				kl += l2 - l1 + (v1+(m1-m2)*(m1-m2))/(2*v2) - 0.5
			}
			total += w[b*Z+z] * kl
		}
	}
	return total
}

func TestSkillKLGradientMatchesFiniteDifferences(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	const B, Z, d = 3, 4, 4
	var mu, ls, w, muZ, lsZ []float64
	for range B * d {
		mu = append(mu, r.NormFloat64()*0.5)
	}
	for range d {
		ls = append(ls, -0.5+0.3*r.NormFloat64())
	}
	for range B {
		row := make([]float64, Z)
		sum := 0.0
		for z := range row {
			row[z] = r.Float64() + 0.05
			sum += row[z]
		}
		for z := range row {
			w = append(w, row[z]/sum)
		}
	}
	for range B * Z * d {
		muZ = append(muZ, r.Float64()*2-1)
		lsZ = append(lsZ, math.Log(0.2))
	}
	for _, dir := range Directions {
		forward := dir == Forward
		muT, err1 := torch.FromSlice(mu, []int64{B, d}, torch.CPU)
		lsT, err2 := torch.FromSlice(ls, []int64{1, d}, torch.CPU)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		muT.SetRequiresGrad(true)
		lsT.SetRequiresGrad(true)
		s := torch.NewScope()
		klZ := SkillKLs(s, muT, lsT, tensor(t, s, muZ, B, Z, d), tensor(t, s, lsZ, B, Z, d), dir)
		D := s.Sum(s.Mul(tensor(t, s, w, B, Z), klZ))
		if got, want := s.Item(D), mixtureBound64(mu, ls, w, muZ, lsZ, B, Z, d, forward); math.Abs(got-want) > 1e-9*math.Max(1, want) {
			t.Fatalf("forward=%v: D %.12g, want %.12g", forward, got, want)
		}
		s.Backward(D)
		gMu, gLs := vals(t, s.Grad(muT)), vals(t, s.Grad(lsT))
		check := func(name string, x []float64, grad []float64) {
			for j := range x {
				orig := x[j]
				x[j] = orig + 1e-6
				up := mixtureBound64(mu, ls, w, muZ, lsZ, B, Z, d, forward)
				x[j] = orig - 1e-6
				down := mixtureBound64(mu, ls, w, muZ, lsZ, B, Z, d, forward)
				x[j] = orig
				num := (up - down) / 2e-6
				if math.Abs(num-grad[j]) > 1e-5*math.Max(1, math.Abs(num)) {
					t.Fatalf("forward=%v %s[%d]: autograd %.9g, finite difference %.9g", forward, name, j, grad[j], num)
				}
			}
		}
		check("mean", mu, gMu)
		check("log std", ls, gLs)
		s.Close()
		muT.Free()
		lsT.Free()
	}
}

// TestContinuousTermOnMetaWorld: the skills' Gaussians stored at Observe,
// masking of the samples whose weights are late, and D against the float64
// reference on two push envs.
func TestContinuousTermOnMetaWorld(t *testing.T) {
	v, err := env.NewVec("MetaWorld-push-v3", 2, 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	v.Reset()
	weights := []float32{0.7, 0.1, 0.1, 0.1}
	fp := newFixedPrior(v, weights)
	r, err := NewContinuous(fp, 4, 4, Options{Beta: Schedule{Kind: Linear, Start: 1, Final: 0, DecayFraction: 1}, Direction: Reverse, Eps: 1e-3, Temperature: 1})
	if err != nil {
		t.Fatal(err)
	}
	r.BeginRollout(2)
	if err := r.Observe(0, v, 0, v.NumEnvs); err != nil {
		t.Fatal(err)
	}
	fp.late = map[prior.Key]bool{} // env 1's weights never come
	if err := r.EndRollout(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu := []float64{0.1, -0.2, 0.3, -0.5, 0, 0, 0, 0}
	ls := []float64{-0.5, -0.5, -0.2, 0}
	s := torch.NewScope()
	defer s.Close()
	d := ppo.Dist{
		Mean:   s.To(tensor(t, s, mu, 2, 4), torch.CPU, torch.Float32),
		LogStd: s.To(tensor(t, s, ls, 1, 4), torch.CPU, torch.Float32),
	}
	D, beta, err := r.Term(s, d, []int64{1, 0}, 0.25)
	if err != nil || beta != 0.75 {
		t.Fatal(err, beta)
	}
	// Reference: the bound of env 0 (minibatch row 1, policy row 1).
	muZ, lsZ := skillMixture(v.Env(0))
	w := make([]float64, 4)
	for i, x := range weights {
		w[i] = float64(x) // all above ε: processing leaves them as they are
	}
	want := mixtureBound64(mu[4:], ls, w, muZ, lsZ, 1, 4, 4, false)
	if got := s.Item(D); s.Err() != nil || math.Abs(got-want) > 1e-4*math.Max(1, want) {
		t.Fatalf("masked D %.6f, want %.6f (%v)", got, want, s.Err())
	}
	m := r.Metrics()
	if m["lago_coverage"] != 0.5 || m["lago_beta"] != 0.75 || m["lago_kl"] <= 0 {
		t.Fatalf("metrics %v", m)
	}
	if _, ok := m["lago_agreement"]; !ok {
		t.Fatalf("metrics %v: no lago_agreement", m)
	}
	if D, beta, err := r.Term(s, d, []int64{1}, 0); D != nil || err != nil || beta != 1 {
		t.Fatalf("uncovered minibatch: D %v, β %v, %v", D, beta, err)
	}
}

// TestFromConfigPicksByActionSpace: the discrete regulariser on a discrete
// env, the skill mixture on Meta-World, and a clear refusal on a
// continuous env without skills.
func TestFromConfigPicksByActionSpace(t *testing.T) {
	cfg := config.Default()
	cfg.Prior = "scripted:0.9"
	for _, c := range []struct {
		id   string
		want string
	}{
		{"CartPole-v1", "*lago.Regularizer"},
		{"MetaWorld-reach-v3", "*lago.Continuous"},
		{"MetaWorld-peg-insert-side-v3", "*lago.Continuous"},
	} {
		cfg.EnvID = c.id
		r, closeFn, err := FromConfig(context.Background(), cfg)
		if err != nil {
			t.Fatalf("%s: %v", c.id, err)
		}
		if got := typeName(r); got != c.want {
			t.Errorf("%s: regulariser %s, want %s", c.id, got, c.want)
		}
		closeFn()
	}
	cfg.EnvID = "Pendulum-v1"
	_, _, err := FromConfig(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), `prior = "scripted:0.9" on Pendulum-v1`) || !strings.Contains(err.Error(), "skills") {
		t.Fatalf("prior on Pendulum-v1: %v, want a refusal naming the env and its missing skills", err)
	}
}

func typeName(r ppo.Regularizer) string {
	switch r.(type) {
	case *Regularizer:
		return "*lago.Regularizer"
	case *Continuous:
		return "*lago.Continuous"
	}
	return "other"
}
