package ppo

import (
	"context"
	"syscall"
	"testing"
	"time"

	_ "github.com/lago-rl/lago/engine/clevr" // registers CLEVR-Robot-v0
	"github.com/lago-rl/lago/engine/config"
)

// BenchmarkUpdateShapes times one PPO update on the shapes of the shipped
// configs (configs/*.toml: hidden sizes, num_envs × num_steps, minibatches,
// epochs) and reports samples/s, the minibatch samples through forward,
// backward, clip and Adam per second. clevr-lago adds LaGO's KL to a fixed
// prior (β 0.1, ~90% of samples covered). torch_threads is the config's (0:
// the trainer's choice); -benchtime and GOMAXPROCS as usual. cpu-ns/sample
// is the process's CPU time (user + system, every thread: OpenBLAS's
// too) per sample, which a loaded machine disturbs less than wall time.
func BenchmarkUpdateShapes(b *testing.B) {
	for _, c := range []struct {
		name, path string
		beta       float64
	}{
		{"cartpole", "../../configs/cartpole.toml", 0},
		{"pendulum", "../../configs/pendulum.toml", 0},
		{"clevr-lago", "../../configs/clevr-lago.toml", 0.1},
	} {
		for _, path := range []struct {
			name          string
			path, threads int
		}{{"", pathFused, 0}, {"/t1", pathFused, 1}, {"/t2", pathFused, 2}, {"/autograd", pathAutograd, 0}, {"/flat", pathFlat, 0}, {"/unfused", pathUnfused, 0}} {
			name := c.name + path.name
			b.Run(name, func(b *testing.B) {
				cfg, err := config.Load(c.path)
				if err != nil {
					b.Fatal(err)
				}
				cfg.Device, cfg.Prior = "cpu", "none"
				if path.threads > 0 {
					cfg.TorchThreads = path.threads
				}
				var reg Regularizer
				if c.beta != 0 {
					reg = newKLReg(c.beta, 40, false)
				}
				tr, err := New(cfg, reg)
				if err != nil {
					b.Fatal(err)
				}
				defer tr.Close()
				tr.path = path.path
				if err := tr.collect(context.Background()); err != nil {
					b.Fatal(err)
				}
				if _, err := tr.update(context.Background()); err != nil { // warm-up
					b.Fatal(err)
				}
				cpu0 := processCPU(b)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := tr.update(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
				samples := float64(b.N * tr.BatchSize * cfg.UpdateEpochs)
				b.ReportMetric(samples/b.Elapsed().Seconds(), "samples/s")
				b.ReportMetric(float64(processCPU(b)-cpu0)/samples, "cpu-ns/sample")
			})
		}
	}
}

// processCPU is the process's user + system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
