//go:build ignore

// Where a lockstep vector env loses time on CLEVR-Robot (issue 16), measured
// rather than guessed: run from the repository root with
//
//	go run bench/vecloss/main.go
//
// It prints
//   - the cost distribution of one env step (a push, resets included),
//     stepping 16 envs one after the other on one goroutine;
//   - the barrier (straggler) loss: those measured costs replayed into
//     lockstep shards (2 of 8 envs) and into two groups of two fixed shards
//     of 4, as (total / workers) / Σ per-step slowest shard;
//   - the policy's forward pass per step (16 envs and 8, 128-128 tanh,
//     sample + log-prob + value, 1 torch thread), wall and CPU;
//   - the cost of waking the workers: a step of 16 CartPoles (~0.1 µs of
//     work each) in lockstep and async, on 1 and 2 workers;
//   - the lockstep Vec of 16 CLEVR envs on 2 workers, wall and per
//     CPU-second, against the one-goroutine rate.
//
// Wall figures depend on the machine's load; run `uptime` beside it.
package main

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sort"
	"syscall"
	"time"

	"github.com/lago-rl/lago/bindings/torch"
	_ "github.com/lago-rl/lago/engine/clevr"
	"github.com/lago-rl/lago/engine/env"
	"github.com/lago-rl/lago/engine/ppo"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	runtime.LockOSThread()
	const n, steps = 16, 150
	envs := make([]env.Env, n)
	obs := make([][]float32, n)
	for i := range envs {
		e, err := env.Make("CLEVR-Robot-v0")
		if err != nil {
			panic(err)
		}
		e.Seed(uint64(i + 1))
		envs[i] = e
		obs[i] = make([]float32, e.ObservationSpace().Dim())
		e.Reset(obs[i])
	}
	rng := rand.New(rand.NewPCG(1, 2))
	a := make([]float32, 1)
	limit := envs[0].Spec().MaxEpisodeSteps
	elapsed := make([]int, n)
	var costs []float64
	var total, lockstep, groups float64
	c := make([]float64, n)
	for s := 0; s < steps; s++ {
		for i, e := range envs {
			a[0] = float32(rng.IntN(e.ActionSpace().N))
			t0 := time.Now()
			tr := e.Step(a, obs[i])
			elapsed[i]++
			if tr.Terminated || elapsed[i] >= limit {
				e.Reset(obs[i])
				elapsed[i] = 0
			}
			c[i] = time.Since(t0).Seconds()
			costs = append(costs, c[i])
		}
		var half [2]float64
		var quarter [4]float64
		for i, x := range c {
			total += x
			half[i/(n/2)] += x
			quarter[i/(n/4)] += x
		}
		lockstep += max(half[0], half[1])
		groups += max(quarter[0], quarter[1]) + max(quarter[2], quarter[3])
	}
	sort.Float64s(costs)
	q := func(f float64) float64 { return 1e3 * costs[min(len(costs)-1, int(f*float64(len(costs))))] }
	fmt.Printf("env step: mean %.3f ms, p10 %.3f, p50 %.3f, p90 %.3f, p99 %.3f, max %.3f (%d steps)\n",
		1e3*total/float64(len(costs)), q(0.1), q(0.5), q(0.9), q(0.99), q(1), len(costs))
	fmt.Printf("barrier: lockstep 2 shards of 8 keeps %.3f of 2 cores; 2 groups × 2 fixed shards of 4 keep %.3f\n",
		(total/2)/lockstep, (total/2)/groups)

	if err := torch.SetNumThreads(1); err != nil {
		panic(err)
	}
	od := envs[0].ObservationSpace().Dim()
	ag, err := ppo.NewAgent(od, envs[0].ActionSpace(), []int{128, 128}, torch.Tanh, 0, torch.CPU)
	if err != nil {
		panic(err)
	}
	for _, b := range []int{16, 8} {
		x := make([]float32, b*od)
		act := make([]int64, b)
		out := make([]float32, b)
		s := torch.NewScope()
		const reps = 2000
		c0, t0 := cpuTime(), time.Now()
		for r := 0; r < reps; r++ {
			err := torch.NoGrad(func() error {
				o := torch.FromSliceIn(s, x, []int64{int64(b), int64(od)}, torch.CPU)
				d := ag.Distribution(s, o)
				sample := d.Sample(s, false)
				logp := d.LogProb(s, sample)
				v := ag.Value(s, o)
				if err := torch.CopyTo(sample, act); err != nil {
					return err
				}
				if err := torch.CopyTo(logp, out); err != nil {
					return err
				}
				return torch.CopyTo(v, out)
			})
			if err != nil {
				panic(err)
			}
			s.Reset()
		}
		fmt.Printf("policy forward, %d envs: %.3f ms wall, %.3f ms CPU per step\n", b,
			1e3*time.Since(t0).Seconds()/reps, 1e3*(cpuTime()-c0).Seconds()/reps)
		s.Close()
	}
	ag.Free()

	for _, workers := range []int{1, 2} {
		for _, async := range []bool{false, true} {
			v, err := env.NewVec("CartPole-v1", 16, workers, 1)
			if err != nil {
				panic(err)
			}
			if async {
				if err := v.EnableAsync(2); err != nil {
					panic(err)
				}
			}
			v.Reset()
			acts := make([]float32, 16)
			const reps = 20000
			t0 := time.Now()
			for r := 0; r < reps; r++ {
				if async {
					v.Send(0, acts[:8])
					v.Send(1, acts[8:])
					v.Recv(0)
					v.Recv(1)
				} else {
					v.Step(acts)
				}
			}
			mode := "lockstep"
			if async {
				mode = "async (2 groups)"
			}
			fmt.Printf("wake-up: 16 CartPoles, %d workers, %s: %.1f µs per step of all envs\n", workers, mode, 1e6*time.Since(t0).Seconds()/reps)
			v.Close()
		}
	}

	v, err := env.NewVec("CLEVR-Robot-v0", n, 2, 1)
	if err != nil {
		panic(err)
	}
	v.Reset()
	acts := make([]float32, n)
	for i := 0; i < 10; i++ {
		v.Step(acts)
	}
	c0, t0 := cpuTime(), time.Now()
	for s := 0; s < steps; s++ {
		for i := range acts {
			acts[i] = float32(rng.IntN(v.ActSpace.N))
		}
		v.Step(acts)
	}
	wall := time.Since(t0).Seconds()
	fmt.Printf("lockstep Vec, 16 CLEVR envs, 2 workers: %.0f env-steps/s wall (%.2f of 2 × the one-goroutine %.0f), %.0f per CPU-second\n",
		float64(n*steps)/wall, float64(n*steps)/wall/(2*float64(len(costs))/total), float64(len(costs))/total, float64(n*steps)/(cpuTime()-c0).Seconds())
	v.Close()
}
