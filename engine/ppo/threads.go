package ppo

import (
	"runtime"

	"github.com/lago-rl/lago/engine/config"
)

// smallMinibatchMACs is the minibatch size, in multiply-adds of one forward
// pass of actor and critic, below which one libtorch thread beats several.
// A minibatch of a small MLP is a few hundred tiny ops; libtorch splits an
// op over its threads only when it has ≥ 32k elements (at::internal::
// GRAIN_SIZE), so more threads buy almost nothing there, while every
// parallel region (the GEMMs in OpenBLAS, the few large element-wise ops)
// pays a fork/join and, on a shared machine, waits for the slowest core.
// On the 2-vCPU development VM one thread was ~20% faster for the 64-64
// CartPole update; `lago bench` measures each shipped shape at 1 and at
// all threads (see README, "Benchmarks").
const smallMinibatchMACs = 4 << 20

// Threads is the libtorch thread count the trainer uses: torch_threads
// when set, else 1 for networks whose minibatch is small (forward
// multiply-adds below smallMinibatchMACs) and one per core otherwise.
func Threads(cfg config.Config, obsDim, outDim int) int {
	if cfg.TorchThreads > 0 {
		return cfg.TorchThreads
	}
	_, mb, _ := cfg.Derived()
	if MinibatchMACs(mb, obsDim, outDim, cfg.HiddenSizes) < smallMinibatchMACs {
		return 1
	}
	return runtime.NumCPU()
}

// MinibatchMACs is the multiply-adds of one forward pass of the actor
// (obsDim → hidden → outDim) and the critic (obsDim → hidden → 1) over a
// minibatch of mb rows.
func MinibatchMACs(mb, obsDim, outDim int, hidden []int) int {
	net := func(out int) int {
		n, in := 0, obsDim
		for _, h := range hidden {
			n += in * h
			in = h
		}
		return n + in*out
	}
	return mb * (net(outDim) + net(1))
}
