package ppo

import (
	"runtime"
	"testing"

	"github.com/lago-rl/lago/engine/config"
)

func TestThreads(t *testing.T) {
	load := func(path string) config.Config {
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	big := config.Default()
	big.HiddenSizes = []int{512, 512}
	set := config.Default()
	set.TorchThreads = 3
	for _, c := range []struct {
		name           string
		cfg            config.Config
		obsDim, outDim int
		want           int
	}{
		{"cartpole 64-64", load("../../configs/cartpole.toml"), 4, 2, 1},
		{"pendulum 64-64", load("../../configs/pendulum.toml"), 3, 1, 1},
		{"clevr-lago 128-128, minibatch 64", load("../../configs/clevr-lago.toml"), 24, 40, 1},
		{"clevr 128-128, minibatch 256", load("../../configs/clevr.toml"), 24, 40, runtime.NumCPU()},
		{"512-512, minibatch 128", big, 4, 2, runtime.NumCPU()},
		{"torch_threads set", set, 4, 2, 3},
	} {
		if got := Threads(c.cfg, c.obsDim, c.outDim); got != c.want {
			_, mb, _ := c.cfg.Derived()
			t.Errorf("%s: %d threads, want %d (%d multiply-adds per minibatch)", c.name, got, c.want, MinibatchMACs(mb, c.obsDim, c.outDim, c.cfg.HiddenSizes))
		}
	}
	// 64 rows of 4 → 64 → 64 → 2 and → 1: 64·(4·64 + 64·64 + 64·2 + 4·64 + 64·64 + 64).
	if got, want := MinibatchMACs(64, 4, 2, []int{64, 64}), 64*(256+4096+128+256+4096+64); got != want {
		t.Errorf("MinibatchMACs = %d, want %d", got, want)
	}
}
