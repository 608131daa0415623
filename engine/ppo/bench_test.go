package ppo

import (
	"context"
	"testing"

	"github.com/lago-rl/lago/engine/config"
)

// BenchmarkUpdate times one PPO update of CleanRL's CartPole defaults
// (batch 512, 4 epochs × 4 minibatches of 128) and reports samples/s: the
// minibatch samples pushed through forward, backward and Adam per second.
func BenchmarkUpdate(b *testing.B) {
	for _, dev := range []string{"cpu", "cuda"} {
		b.Run(dev, func(b *testing.B) {
			cfg := config.Default()
			cfg.Device = dev
			tr, err := New(cfg, nil)
			if err != nil {
				b.Skipf("device %s: %v", dev, err)
			}
			defer tr.Close()
			if err := tr.collect(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := tr.update(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*tr.BatchSize*cfg.UpdateEpochs)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}

// BenchmarkRollout times collecting one rollout (4 envs × 128 steps of
// CartPole, policy and value forward passes on each step) and reports env
// steps/s.
func BenchmarkRollout(b *testing.B) {
	cfg := config.Default()
	cfg.Device = "cpu"
	tr, err := New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := tr.collect(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*tr.BatchSize)/b.Elapsed().Seconds(), "env-steps/s")
}
