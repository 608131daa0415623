package env

import (
	"math"
	"testing"
)

func TestCartPoleStep(t *testing.T) {
	// Expected values worked out from Gymnasium's equations for the state
	// (0.01, -0.02, 0.03, 0.04): cos and sin of 0.03, temp, thetaacc,
	// xacc, then one Euler update of each variable.
	tests := []struct {
		action float32
		want   [4]float64
	}{
		{0, [4]float64{0.0096, -0.21553901710278936, 0.0308, 0.34199522377603914}},
		{1, [4]float64{0.0096, 0.17467919574755525, 0.0308, -0.2430687179600081}},
	}
	for _, tt := range tests {
		c := NewCartPole()
		c.state = [4]float64{0.01, -0.02, 0.03, 0.04}
		obs := make([]float32, 4)
		tr := c.Step([]float32{tt.action}, obs)
		for i, want := range tt.want {
			if math.Abs(c.state[i]-want) > 1e-12 {
				t.Errorf("action %v: state[%d] = %.17g, want %.17g", tt.action, i, c.state[i], want)
			}
			if obs[i] != float32(c.state[i]) {
				t.Errorf("action %v: obs[%d] = %v, want float32 of state %v", tt.action, i, obs[i], c.state[i])
			}
		}
		if tr != (Transition{Reward: 1}) {
			t.Errorf("action %v: transition %+v, want reward 1 only", tt.action, tr)
		}
	}
}

func TestCartPoleTermination(t *testing.T) {
	// With zero velocities one Euler step leaves x and theta unchanged,
	// so the state sits right where the thresholds are checked.
	const th = 12 * 2 * math.Pi / 360
	tests := []struct {
		x, theta float64
		want     bool
	}{
		{0, 0, false},
		{2.4, 0, false},
		{2.4000001, 0, true},
		{-2.4, 0, false},
		{-2.4000001, 0, true},
		{0, th, false},
		{0, th + 1e-7, true},
		{0, -th, false},
		{0, -th - 1e-7, true},
		{3, 0.5, true},
	}
	for _, tt := range tests {
		c := NewCartPole()
		c.state = [4]float64{tt.x, 0, tt.theta, 0}
		tr := c.Step([]float32{1}, make([]float32, 4))
		if tr.Terminated != tt.want {
			t.Errorf("x=%v theta=%v: Terminated = %v, want %v", tt.x, tt.theta, tr.Terminated, tt.want)
		}
		// The terminal step is rewarded too, as in Gymnasium.
		if tr.Reward != 1 {
			t.Errorf("x=%v theta=%v: reward %v, want 1", tt.x, tt.theta, tr.Reward)
		}
	}
}

func TestCartPoleRewardAndSuccess(t *testing.T) {
	c := NewCartPole()
	c.Seed(1)
	obs := make([]float32, 4)
	act := make([]float32, 1)
	c.Reset(obs)
	for i := 1; i <= 500; i++ {
		c.ExpertAction(act)
		tr := c.Step(act, obs)
		if tr.Reward != 1 || tr.Terminated {
			t.Fatalf("step %d: %+v, want reward 1 and no termination", i, tr)
		}
		if tr.Success != (i == 500) {
			t.Fatalf("step %d: Success = %v, want it only on step 500", i, tr.Success)
		}
	}

	// Past a termination, steps give no reward.
	c.state = [4]float64{2.5, 0, 0, 0}
	if tr := c.Step(act, obs); !tr.Terminated || tr.Reward != 1 {
		t.Fatalf("terminal step: %+v", tr)
	}
	if tr := c.Step(act, obs); tr.Reward != 0 || tr.Success {
		t.Errorf("step after termination: %+v, want no reward", tr)
	}
}

func TestCartPoleReset(t *testing.T) {
	c := NewCartPole()
	obs := make([]float32, 4)
	for seed := range uint64(100) {
		c.Seed(seed)
		c.Reset(obs)
		for i, v := range obs {
			if v < -0.05 || v >= 0.05 {
				t.Fatalf("seed %d: obs[%d] = %v outside [-0.05, 0.05)", seed, i, v)
			}
		}
	}
}

func TestCartPoleInvalidAction(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("action 2 did not panic")
		}
	}()
	NewCartPole().Step([]float32{2}, make([]float32, 4))
}

func TestCartPoleExpert(t *testing.T) {
	const episodes = 200
	c := NewCartPole()
	obs := make([]float32, 4)
	act := make([]float32, 1)
	survived := 0
	for seed := range uint64(episodes) {
		c.Seed(seed)
		c.Reset(obs)
		steps := 0
		for ; steps < 500; steps++ {
			c.ExpertAction(act)
			if c.Step(act, obs).Terminated {
				break
			}
		}
		if steps == 500 {
			survived++
		}
	}
	if survived < episodes*95/100 {
		t.Errorf("expert survived 500 steps on %d of %d seeds, want at least 95%%", survived, episodes)
	}
}
