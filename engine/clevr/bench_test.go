package clevr

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/lago-rl/lago/engine/env"
)

// The benchmarks report pushes/s, one push being one env step of 40 MuJoCo
// time steps. BenchmarkRawPush is the bound on one core: the same model
// stepped 40 times from states that pushes start from, with nothing else,
// so Step/RawPush is the env's own overhead (teleport, observation, reward,
// success check and the resets that episodes need). RawPushParallel is the
// bound on all cores, for StepParallel (one env per core, each at its own
// pace) and VecStep (an env.Vec, which steps its envs in lockstep).

func randomActions(n int) []float32 {
	r := rand.New(rand.NewPCG(1, 2))
	a := make([]float32, n)
	for i := range a {
		a[i] = float32(r.IntN(NumActions))
	}
	return a
}

// stepper steps one env with random actions, resetting it where an episode
// ends, as a Vec would.
type stepper struct {
	e          *Env
	obs        []float32
	actions    []float32
	i, elapsed int
}

func newStepper(e *Env) *stepper {
	s := &stepper{e: e, obs: make([]float32, obsDim), actions: randomActions(4096)}
	e.Seed(1)
	e.Reset(s.obs)
	return s
}

func (s *stepper) step() {
	k := s.i % len(s.actions)
	s.i++
	s.elapsed++
	if s.e.Step(s.actions[k:k+1], s.obs).Terminated || s.elapsed == MaxEpisodeSteps {
		s.e.Reset(s.obs)
		s.elapsed = 0
	}
}

func BenchmarkStep(b *testing.B) {
	s := newStepper(newEnv(b, Options{}))
	for b.Loop() {
		s.step()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pushes/s")
}

// BenchmarkStepParallel steps one env per core, each at its own pace: the
// env's own rate on all cores, without the lockstep of a Vec.
func BenchmarkStepParallel(b *testing.B) {
	b.RunParallel(func(pb *testing.PB) {
		e, err := New(Options{})
		if err != nil {
			b.Error(err)
			return
		}
		defer e.Close()
		s := newStepper(e)
		for pb.Next() {
			s.step()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pushes/s")
}

// BenchmarkVecStep steps 16 envs (the num_envs of configs/clevr.toml) on
// one worker per core.
func BenchmarkVecStep(b *testing.B) {
	const n = 16
	v, err := env.NewVec("CLEVR-Robot-v0", n, 0, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	v.Reset()
	actions := randomActions(n * 256)
	i := 0
	for b.Loop() {
		k := i % 256 * n
		v.Step(actions[k : k+n])
		i++
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "pushes/s")
	b.ReportMetric(float64(runtime.NumCPU()), "cores")
}

// pushStarts returns e's physics states at the start of the pushes of a
// random trajectory: pusher teleported and motors on, before stepping.
func pushStarts(e *Env, n int) [][]float64 {
	e.Seed(1)
	e.Reset(make([]float32, obsDim))
	starts := make([][]float64, n)
	for k, a := range randomActions(n) {
		e.aim(int(a)/NumDirs, int(a)%NumDirs)
		starts[k] = make([]float64, e.data.StateSize())
		e.data.State(starts[k])
		e.data.Step(pushSubsteps)
	}
	return starts
}

func BenchmarkRawPush(b *testing.B) {
	e := newEnv(b, Options{})
	starts := pushStarts(e, 64)
	i := 0
	for b.Loop() {
		_ = e.data.SetState(starts[i%len(starts)])
		e.data.Step(pushSubsteps)
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pushes/s")
}

// BenchmarkRawPushParallel is BenchmarkRawPush on every core at once, the
// bound for BenchmarkVecStep.
func BenchmarkRawPushParallel(b *testing.B) {
	b.RunParallel(func(pb *testing.PB) {
		e, err := New(Options{})
		if err != nil {
			b.Error(err)
			return
		}
		defer e.Close()
		starts := pushStarts(e, 64)
		for i := 0; pb.Next(); i++ {
			_ = e.data.SetState(starts[i%len(starts)])
			e.data.Step(pushSubsteps)
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pushes/s")
}

// BenchmarkExpertAction asks the scripted expert at the states of a random
// walk: what a scripted prior pays per state of a rollout, on top of the
// push itself.
func BenchmarkExpertAction(b *testing.B) {
	s := newStepper(newEnv(b, Options{}))
	action := make([]float32, 1)
	for b.Loop() {
		s.e.ExpertAction(action)
		s.step()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "states/s")
}
