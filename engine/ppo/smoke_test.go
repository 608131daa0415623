package ppo

import (
	"testing"
	"time"

	"github.com/lago-rl/lago/engine/config"
)

func TestSmoke(t *testing.T) {
	cfg := config.Default()
	cfg.Device = "cpu"
	cfg.TotalTimesteps = 200000
	cfg.NumEnvs = 8
	cfg.NumSteps = 32
	cfg.GAELambda = 0.8
	cfg.Gamma = 0.98
	cfg.UpdateEpochs = 20
	cfg.EntCoef = 0
	cfg.LearningRate = 1e-3
	tr, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	start := time.Now()
	for !tr.Done() {
		m, err := tr.Iterate()
		if err != nil {
			t.Fatal(err)
		}
		if m.Iteration%50 == 0 {
			r, _, _, n := tr.Recent.Mean(20)
			t.Logf("it %d step %d ret %.1f (%d) sps %.0f pl %.3f vl %.3f ent %.3f kl %.4f ev %.2f", m.Iteration, m.GlobalStep, r, n, m.SPS, m.PolicyLoss, m.ValueLoss, m.Entropy, m.ApproxKL, m.ExplainedVariance)
		}
	}
	t.Log(time.Since(start))
}
