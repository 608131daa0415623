package ppo

import (
	"context"
	"testing"

	"github.com/lago-rl/lago/engine/config"
)

// learnUntil trains the shipped config, its envs stepped in vecMode, until
// the mean return of the last 20 episodes reaches threshold, failing if
// total_timesteps run out first.
func learnUntil(t *testing.T, path, vecMode string, threshold float64) {
	if testing.Short() {
		t.Skip("learning test: skipped in -short mode (it trains for up to a minute)")
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Device, cfg.VecMode = "cpu", vecMode
	tr, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	best := -1e18
	for !tr.Done() {
		if _, err := tr.Iterate(context.Background()); err != nil {
			t.Fatal(err)
		}
		ret, _, _, n := tr.Recent.Mean(20)
		if n == 20 {
			best = max(best, ret)
			if ret >= threshold {
				t.Logf("%s: mean return %.1f over the last 20 episodes at step %d (budget %d)", cfg.EnvID, ret, tr.GlobalStep, cfg.TotalTimesteps)
				return
			}
		}
	}
	t.Fatalf("%s: best mean return over 20 episodes %.1f < %.1f within %d steps", cfg.EnvID, best, threshold, tr.GlobalStep)
}

func TestLearnsCartPole(t *testing.T) { learnUntil(t, "../../configs/cartpole.toml", "lockstep", 475) }

// TestLearnsCartPoleAsync: the asynchronous rollout trains as well.
func TestLearnsCartPoleAsync(t *testing.T) {
	learnUntil(t, "../../configs/cartpole.toml", "async", 475)
}

func TestLearnsPendulum(t *testing.T) { learnUntil(t, "../../configs/pendulum.toml", "lockstep", -400) }
