package env

import (
	"math"
	"testing"
)

func TestPendulumStep(t *testing.T) {
	// Expected values worked out from Gymnasium's equations:
	// cost = angle_normalize(th)² + 0.1 thdot² + 0.001 u² with u clipped,
	// thdot' = clip(thdot + (15 sin th + 3u) 0.05, ±8), th' = th + thdot' 0.05.
	tests := []struct {
		name              string
		th, thDot, u      float64
		reward, th2, thD2 float64
	}{
		{"plain", 1.0, 0.5, 0.7, -1.02549, 1.0618051619302962, 1.2361032386059225},
		{"torque clipped to 2", 1.0, 0.5, 5.0, -1.029, 1.071555161930296, 1.4311032386059224},
		{"angle normalised in cost", 4.0, -2.0, -1.5, -5.615185146920742, 3.8603699064259525, -2.7926018714809464},
		{"speed clipped to 8", 1.5, 7.9, 2.0, -8.495, 1.9, 8},
		{"speed clipped to -8", -1.5, -7.9, -2.0, -8.495, -1.9, -8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPendulum()
			p.theta, p.thetaDot = tt.th, tt.thDot
			obs := make([]float32, 3)
			tr := p.Step([]float32{float32(tt.u)}, obs)
			check := func(what string, got, want float64) {
				t.Helper()
				if math.Abs(got-want) > 1e-6*(1+math.Abs(want)) {
					t.Errorf("%s = %.17g, want %.17g", what, got, want)
				}
			}
			// The action travels as float32, so u is only float32-exact.
			check("reward", tr.Reward, tt.reward)
			check("theta", p.theta, tt.th2)
			check("theta_dot", p.thetaDot, tt.thD2)
			check("obs[0]", float64(obs[0]), math.Cos(tt.th2))
			check("obs[1]", float64(obs[1]), math.Sin(tt.th2))
			check("obs[2]", float64(obs[2]), tt.thD2)
			if tr.Terminated || tr.Success {
				t.Errorf("transition %+v: Pendulum never terminates and succeeds only on its last step", tr)
			}
		})
	}
}

func TestAngleNormalize(t *testing.T) {
	tests := []struct{ x, want float64 }{
		{0, 0},
		{1, 1},
		{-1, -1},
		{math.Pi, -math.Pi}, // the range is [-π, π), as with Python's %
		{-math.Pi, -math.Pi},
		{4, 4 - 2*math.Pi},
		{-4, 2*math.Pi - 4},
		{7 * math.Pi / 2, -math.Pi / 2},
		{-7 * math.Pi / 2, math.Pi / 2},
	}
	for _, tt := range tests {
		if got := angleNormalize(tt.x); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("angleNormalize(%v) = %v, want %v", tt.x, got, tt.want)
		}
	}
}

func TestPendulumSuccess(t *testing.T) {
	tests := []struct {
		name     string
		th, thD  float64
		steps    int // steps already taken in the episode
		wantSucc bool
	}{
		{"balanced on last step", 0.1, 0, 199, true},
		{"balanced wrapped angle", 2*math.Pi + 0.1, 0, 199, true},
		{"balanced before last step", 0.1, 0, 100, false},
		{"too far on last step", 0.5, 0, 199, false},
		{"too fast on last step", 0, 1.5, 199, false},
	}
	for _, tt := range tests {
		p := NewPendulum()
		p.theta, p.thetaDot, p.steps = tt.th, tt.thD, tt.steps
		act := make([]float32, 1)
		p.ExpertAction(act)
		if got := p.Step(act, make([]float32, 3)).Success; got != tt.wantSucc {
			t.Errorf("%s: Success = %v, want %v", tt.name, got, tt.wantSucc)
		}
	}
}

func TestPendulumReset(t *testing.T) {
	p := NewPendulum()
	obs := make([]float32, 3)
	for seed := range uint64(100) {
		p.Seed(seed)
		p.Reset(obs)
		if p.theta < -math.Pi || p.theta >= math.Pi || p.thetaDot < -1 || p.thetaDot >= 1 {
			t.Fatalf("seed %d: reset to theta %v, theta_dot %v", seed, p.theta, p.thetaDot)
		}
	}
}

func TestPendulumExpert(t *testing.T) {
	const episodes = 50
	p := NewPendulum()
	obs := make([]float32, 3)
	act := make([]float32, 1)
	total := 0.0
	for seed := range uint64(episodes) {
		p.Seed(seed)
		p.Reset(obs)
		for range 200 {
			p.ExpertAction(act)
			total += p.Step(act, obs).Reward
		}
	}
	if mean := total / episodes; mean < -200 {
		t.Errorf("expert mean return %.1f over %d episodes, want at least -200", mean, episodes)
	}
}
