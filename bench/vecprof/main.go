//go:build ignore

// Where the CLEVR vector env's extra CPU per step goes (issue 16): the same
// env steps (16 CLEVR-Robot-v0 envs seeded 1..16, the same pre-drawn random
// actions, -steps steps each) run in four setups, and each setup's wall and
// CPU time is printed, best of -rounds alternating rounds:
//
//   - bare-seq: -workers goroutines take whole envs from a counter and run
//     each one's steps back to back (one env hot in cache at a time, no
//     synchronisation: what `lago bench`'s per-core row does);
//   - bare-rr: the same goroutines each own a fixed half of the envs and
//     step them round robin, one step each per turn (the working set of a
//     vector env, no synchronisation);
//   - lockstep: env.Vec.Step with -workers workers;
//   - async: env.Vec with EnableAsync(-groups), each group sent again as
//     soon as it is received, as the trainer's rollout drives it.
//
// Every setup does exactly the same physics, so CPU time differences are
// the setup's own cost. Run from the repository root:
//
//	go run bench/vecprof/main.go [-only async] [-rounds 3] [-steps 100]
//
// -only runs the setups it lists, comma-separated (e.g. one for `perf
// record`). Wall figures depend on the
// machine's load; run `uptime` beside it.
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/lago-rl/lago/engine/clevr"
	"github.com/lago-rl/lago/engine/env"
)

const id = "CLEVR-Robot-v0"

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sleeps is the number of times the process's threads gave up their CPU
// (voluntary context switches: a futex wait, a blocking syscall).
func sleeps() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Nvcsw
}

var (
	numEnvs = flag.Int("envs", 16, "number of envs")
	steps   = flag.Int("steps", 100, "steps per env")
	workers = flag.Int("workers", 2, "goroutines / Vec workers")
	groups  = flag.Int("groups", 2, "async groups")
	rounds  = flag.Int("rounds", 3, "alternating rounds")
	only    = flag.String("only", "", "run only these setups (comma-separated)")
)

// actions[t][i] is env i's action at step t.
var actions [][]float32

// timed counts the wall time spent inside an env's Step and Reset, so that
// busy / (workers × wall) is the share of the workers' time spent on env
// work: the rest is the setup's idling (waits, hand-offs). Preemption by
// other jobs inflates busy and wall alike, which keeps the share
// comparable between setups on a loaded machine.
type timed struct {
	env.Env
	busy *atomic.Int64
}

func (t timed) Step(a, obs []float32) env.Transition {
	t0 := time.Now()
	tr := t.Env.Step(a, obs)
	t.busy.Add(int64(time.Since(t0)))
	return tr
}

func (t timed) Reset(obs []float32) {
	t0 := time.Now()
	t.Env.Reset(obs)
	t.busy.Add(int64(time.Since(t0)))
}

var busy atomic.Int64

func makeEnvs() []env.Env {
	envs := make([]env.Env, *numEnvs)
	for i := range envs {
		e, err := env.Make(id)
		if err != nil {
			panic(err)
		}
		envs[i] = timed{e, &busy}
	}
	return envs
}

// stepper runs env i's episodes as Vec does: reset on termination or at
// the time limit.
type stepper struct {
	e       env.Env
	obs     []float32
	elapsed int
	limit   int
}

func newSteppers(envs []env.Env) []*stepper {
	s := make([]*stepper, len(envs))
	for i, e := range envs {
		e.Seed(uint64(1 + i))
		s[i] = &stepper{e: e, obs: make([]float32, e.ObservationSpace().Dim()), limit: e.Spec().MaxEpisodeSteps}
		e.Reset(s[i].obs)
	}
	return s
}

func (s *stepper) step(a []float32) {
	tr := s.e.Step(a, s.obs)
	s.elapsed++
	if tr.Terminated || s.elapsed >= s.limit {
		s.e.Reset(s.obs)
		s.elapsed = 0
	}
}

func bareSeq(envs []env.Env) {
	st := newSteppers(envs)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(st) {
					return
				}
				for t := range *steps {
					st[i].step(actions[t][i : i+1])
				}
			}
		}()
	}
	wg.Wait()
}

func bareRR(envs []env.Env) {
	st := newSteppers(envs)
	var wg sync.WaitGroup
	n := len(st)
	for w := range *workers {
		lo, hi := w*n / *workers, (w+1)*n / *workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range *steps {
				for i := lo; i < hi; i++ {
					st[i].step(actions[t][i : i+1])
				}
			}
		}()
	}
	wg.Wait()
}

// bareBarrier is bareRR with a barrier after every step: blocking (the
// goroutines sleep until the last one arrives, as lockstep's do) or
// spinning (they poll a counter and never sleep).
func bareBarrier(envs []env.Env, spin bool) {
	st := newSteppers(envs)
	var wg sync.WaitGroup
	n, w := len(st), *workers
	var arrived atomic.Int64
	var mu sync.Mutex
	cond := sync.NewCond(&mu)
	for k := range w {
		lo, hi := k*n/w, (k+1)*n/w
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range *steps {
				for i := lo; i < hi; i++ {
					st[i].step(actions[t][i : i+1])
				}
				target := int64((t + 1) * w)
				if spin {
					arrived.Add(1)
					for arrived.Load() < target {
					}
					continue
				}
				mu.Lock()
				if arrived.Add(1) == target {
					cond.Broadcast()
				}
				for arrived.Load() < target {
					cond.Wait()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func vec(envs []env.Env, async bool) {
	v, err := env.NewVecFrom(envs, *workers, 1)
	if err != nil {
		panic(err)
	}
	defer v.Close()
	v.Reset()
	if !async {
		for t := range *steps {
			v.Step(actions[t])
		}
		return
	}
	if err := v.EnableAsync(*groups); err != nil {
		panic(err)
	}
	sent := make([]int, v.NumGroups()) // steps sent per group
	for g := range v.NumGroups() {
		lo, hi := v.Group(g)
		v.Send(g, actions[0][lo:hi])
		sent[g] = 1
	}
	for done := 0; done < v.NumGroups(); {
		for g := range v.NumGroups() {
			if sent[g] > *steps {
				continue
			}
			v.Recv(g)
			if sent[g] == *steps {
				sent[g]++
				done++
				continue
			}
			lo, hi := v.Group(g)
			v.Send(g, actions[sent[g]][lo:hi])
			sent[g]++
		}
	}
}

func main() {
	flag.Parse()
	rng := rand.New(rand.NewPCG(7, 7))
	actions = make([][]float32, *steps)
	for t := range actions {
		actions[t] = make([]float32, *numEnvs)
		for i := range actions[t] {
			actions[t][i] = float32(rng.IntN(40))
		}
	}
	setups := []struct {
		name string
		run  func([]env.Env)
	}{
		{"bare-seq", bareSeq},
		{"bare-rr", bareRR},
		{"rr-block", func(e []env.Env) { bareBarrier(e, false) }},
		{"rr-spin", func(e []env.Env) { bareBarrier(e, true) }},
		{"lockstep", func(e []env.Env) { vec(e, false) }},
		{"async", func(e []env.Env) { vec(e, true) }},
	}
	type best struct {
		wall, cpu time.Duration
		util      float64
		sleeps    []float64 // per round, per 100 env steps
	}
	res := map[string]best{}
	cpuRatios := map[string][]float64{} // per round: bare-seq's CPU time / the setup's
	var seqCPU time.Duration
	for r := 0; r < *rounds; r++ {
		for _, s := range setups {
			if *only != "" && !slices.Contains(strings.Split(*only, ","), s.name) {
				continue
			}
			envs := makeEnvs()
			busy.Store(0)
			c0, t0, z0 := cpuTime(), time.Now(), sleeps()
			s.run(envs)
			w, c := time.Since(t0), cpuTime()-c0
			z := float64(sleeps()-z0) / float64(*numEnvs**steps) * 100
			u := float64(busy.Load()) / (float64(*workers) * float64(w))
			b, ok := res[s.name]
			if !ok || w < b.wall {
				b.wall = w
			}
			if !ok || c < b.cpu {
				b.cpu = c
			}
			b.util = max(b.util, u)
			b.sleeps = append(b.sleeps, z)
			if s.name == "bare-seq" {
				seqCPU = c
			}
			if seqCPU > 0 {
				cpuRatios[s.name] = append(cpuRatios[s.name], seqCPU.Seconds()/c.Seconds())
			}
			res[s.name] = b
			fmt.Fprintf(os.Stderr, "round %d %-9s wall %v cpu %v busy %.3f sleeps/100 steps %.1f\n", r, s.name, w.Round(time.Millisecond), c.Round(time.Millisecond), u, z)
		}
	}
	n := float64(*numEnvs * *steps)
	ref := res["bare-seq"]
	fmt.Printf("%d envs × %d steps, %d workers, best of %d rounds\n", *numEnvs, *steps, *workers, *rounds)
	fmt.Printf("%-9s %10s %10s %12s %12s %8s %s\n", "setup", "wall/s", "steps/cpu-s", "wall ratio", "cpu ratio", "busy", "cpu ratio in-round: median [min max]")
	for _, s := range setups {
		b, ok := res[s.name]
		if !ok {
			continue
		}
		fmt.Printf("%-9s %10.0f %10.0f %12.3f %12.3f %8.3f\n", s.name, n/b.wall.Seconds(), n/b.cpu.Seconds(),
			ref.wall.Seconds()/b.wall.Seconds(), ref.cpu.Seconds()/b.cpu.Seconds(), b.util)
		if r := cpuRatios[s.name]; len(r) > 0 {
			sort.Float64s(r)
			fmt.Printf("%66s %.3f [%.3f %.3f]\n", "", r[len(r)/2], r[0], r[len(r)-1])
		}
		sort.Float64s(b.sleeps)
		fmt.Printf("%66s thread sleeps per 100 env steps: median %.1f\n", "", b.sleeps[len(b.sleeps)/2])
	}
}
