package metaworld

import (
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/lago-rl/lago/engine/env"
)

// The benchmarks report env steps/s (one env step is 5 MuJoCo steps).
// BenchmarkRawStep is the bound on one core: the same scene driven by the
// same actions, 5 mj_step per step and nothing else, so Step/RawStep is the
// env's own overhead (kinematics, observation, reward, and the resets, each
// of which simulates 250 mj_step). BenchmarkVecStep steps env.Vec on 2
// workers; its ideal is 2 × RawStep, or RawStepParallel measured under the
// same load.

// cpuClock measures the CPU time the process spends (user and system, all
// threads). On a machine shared with other jobs, wall-clock rates fall with
// the load while CPU time per step barely moves, so each benchmark also
// reports cpu-steps/s: steps per second of this process's CPU time. For the
// parallel benchmarks that is per core busy, so their cpu-steps/s next to
// RawStep's is the efficiency of the work, though not of idle waits.
type cpuClock struct{ start time.Duration }

func cpuNow() time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		panic(err)
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

func startCPU() cpuClock { return cpuClock{cpuNow()} }

func (c cpuClock) report(b *testing.B, steps int) {
	if d := cpuNow() - c.start; d > 0 {
		b.ReportMetric(float64(steps)/d.Seconds(), "cpu-steps/s")
	}
}

// bangActions are random actions held for 10 steps each, so that the hand
// travels across the table instead of jittering in place.
func bangActions(n int) []float32 {
	r := rand.New(rand.NewPCG(1, 2))
	a := make([]float32, 4*n)
	for i := 0; i < n; i += 10 {
		var x [4]float32
		for j := range x {
			x[j] = float32(2*r.Float64() - 1)
		}
		for k := i; k < min(i+10, n); k++ {
			copy(a[4*k:], x[:])
		}
	}
	return a
}

func BenchmarkStep(b *testing.B) {
	for _, task := range Tasks {
		b.Run(task.Name, func(b *testing.B) {
			e := newEnv(b, task.Name)
			obs := make([]float32, ObsDim)
			e.Seed(1)
			e.Reset(obs)
			acts := bangActions(4000)
			i, elapsed := 0, 0
			clock := startCPU()
			for b.Loop() {
				k := i % 4000
				e.Step(acts[4*k:4*k+4], obs)
				i++
				if elapsed++; elapsed == MaxEpisodeSteps {
					e.Reset(obs)
					elapsed = 0
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
			clock.report(b, b.N)
		})
	}
}

// rawStep is what an env step costs MuJoCo alone: the mocap moved and the
// fingers driven as Step does, then 5 mj_step, without the kinematics,
// observation, reward or resets.
func (e *Env) rawStep(a []float32) {
	mp := e.data.MocapPos()[3*e.mocap : 3*e.mocap+3]
	for i := range 3 {
		mp[i] = clamp(mp[i]+actionScale*float64(a[i]), handLow[i], handHigh[i])
	}
	c := e.data.Ctrl()
	c[e.ctrlR], c[e.ctrlL] = float64(a[3]), -float64(a[3])
	e.data.Step(frameSkip)
}

func BenchmarkRawStep(b *testing.B) {
	for _, task := range Tasks {
		b.Run(task.Name, func(b *testing.B) {
			e := newEnv(b, task.Name)
			e.Seed(1)
			e.Reset(make([]float32, ObsDim))
			acts := bangActions(4000)
			i := 0
			clock := startCPU()
			for b.Loop() {
				k := i % 4000
				e.rawStep(acts[4*k : 4*k+4])
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
			clock.report(b, b.N)
			b.ReportMetric(frameSkip*float64(b.N)/b.Elapsed().Seconds(), "mj_steps/s")
		})
	}
}

// BenchmarkRawStepParallel is BenchmarkRawStep on GOMAXPROCS goroutines
// at once (2 on this machine): the bound for BenchmarkVecStep on the same
// cores under the same load.
func BenchmarkRawStepParallel(b *testing.B) {
	for _, task := range Tasks {
		b.Run(task.Name, func(b *testing.B) {
			// One env per goroutine, made before the clock starts.
			n := runtime.GOMAXPROCS(0)
			pool := make(chan *Env, n)
			for range n {
				e := newEnv(b, task.Name)
				e.Seed(1)
				e.Reset(make([]float32, ObsDim))
				pool <- e
			}
			acts := bangActions(4000)
			b.ResetTimer()
			clock := startCPU()
			b.RunParallel(func(pb *testing.PB) {
				e := <-pool
				for i := 0; pb.Next(); i++ {
					k := i % 4000
					e.rawStep(acts[4*k : 4*k+4])
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
			clock.report(b, b.N)
		})
	}
}

// BenchmarkVecStep steps 8 envs on 2 workers.
func BenchmarkVecStep(b *testing.B) {
	const n, workers = 8, 2
	for _, task := range Tasks {
		b.Run(task.Name, func(b *testing.B) {
			v, err := env.NewVec(task.ID(), n, workers, 1)
			if err != nil {
				b.Fatal(err)
			}
			defer v.Close()
			v.Reset()
			acts := bangActions(n * 500)
			i := 0
			clock := startCPU()
			for b.Loop() {
				k := i % 500 * n
				v.Step(acts[4*k : 4*(k+n)])
				i++
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "steps/s")
			clock.report(b, b.N*n)
			b.ReportMetric(float64(runtime.NumCPU()), "cores")
		})
	}
}
