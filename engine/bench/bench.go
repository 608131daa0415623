// Package bench is lago's throughput suite (`lago bench`): the PPO update
// on the shapes of each shipped config, side by side with a CleanRL-style
// PyTorch reference (bench/reference/ppo_update.py) when python3 has torch;
// rollouts against env-only stepping and one env per core; a short real
// training run against its env-only rate; and the prior backends.
//
// Every measurement warms up first (one update, one rollout, a few hundred
// env steps) and is then timed for Options.Duration; seeds are fixed, so
// runs on the same machine are comparable. Figures are noisy on a shared
// machine: ratios are taken between measurements run back to back.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lago-rl/lago/bindings/torch"
	_ "github.com/lago-rl/lago/engine/clevr" // registers CLEVR-Robot-v0, the rollout and prior rows' env
	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/env"
	"github.com/lago-rl/lago/engine/lago"
	"github.com/lago-rl/lago/engine/ppo"
	"github.com/lago-rl/lago/engine/prior"
)

// Options configure a suite run.
type Options struct {
	ConfigDir string         // the shipped configs (configs/)
	Filter    *regexp.Regexp // runs only the measurements whose name matches; nil: all
	Duration  time.Duration  // timed per measurement, after warm-up
	// Rounds repeats each update measurement (lago at each thread count,
	// then the reference) this many times, alternating the two sides, and
	// keeps each side's best: on a shared machine the best of a few
	// back-to-back rounds is the least disturbed. The env, rollout and
	// training rows alternate their variants (per-core, lockstep, async)
	// the same way. < 1 means 1.
	Rounds    int
	Reference bool   // also run the PyTorch reference for the update rows
	Python    string // python with torch; "" tries python3, then /usr/bin/python3
	Script    string // the reference script (bench/reference/ppo_update.py)
	// OllamaHost and OllamaModel add an Ollama prior row when both are set.
	OllamaHost, OllamaModel string
	// Progress, when set, is told each measurement as it starts.
	Progress func(i, n int, name string)
}

// Row is one measurement.
type Row struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	// Threads is the libtorch thread count of Value (the best of
	// PerThreads), for update rows.
	Threads    int                `json:"threads,omitempty"`
	PerThreads map[string]float64 `json:"per_threads,omitempty"`
	// Versus names the row Value is compared with, Ratio = Value / its value.
	Versus string  `json:"versus,omitempty"`
	Ratio  float64 `json:"ratio,omitempty"`
	// Reference is the PyTorch reference's samples/s at its best thread
	// count RefThreads (update rows with -reference).
	Reference  float64 `json:"reference,omitempty"`
	RefThreads int     `json:"reference_threads,omitempty"`
	RefRatio   float64 `json:"lago_over_reference,omitempty"`
	// Throughput rows (env, rollout, train): the rate per CPU-second the
	// process used (all threads), CPURatio = PerCPU / the Versus row's, the
	// Value's ratio to env/clevr/per-core (raw mj_step × workers) and the
	// 1-minute load average when Value was measured.
	PerCPU   float64 `json:"per_cpu_second,omitempty"`
	CPURatio float64 `json:"cpu_ratio,omitempty"`
	PerCore  float64 `json:"vs_per_core,omitempty"`
	Load     float64 `json:"load1,omitempty"`
	// CPU and RefCPU are each side's process CPU time (user + system, every
	// thread's) per sample, the least over thread counts and rounds: a
	// loaded machine disturbs it less than wall time. RefCPURatio = RefCPU / CPU.
	CPU         float64 `json:"cpu_ns_per_sample,omitempty"`
	RefCPU      float64 `json:"reference_cpu_ns_per_sample,omitempty"`
	RefCPURatio float64 `json:"reference_cpu_over_lago,omitempty"`
	Note        string  `json:"note,omitempty"`
}

// Report is a suite run: the machine, the versions and the rows.
type Report struct {
	Host      string    `json:"host"`
	Date      time.Time `json:"date"`
	CPU       string    `json:"cpu"`
	CPUs      int       `json:"cpus"`
	Device    string    `json:"device"`
	Torch     string    `json:"libtorch"`
	GoVersion string    `json:"go"`
	Duration  float64   `json:"duration_s"`
	// ReferenceTorch is the reference's torch version; ReferenceSkipped
	// says why it did not run when -reference was asked.
	ReferenceTorch   string `json:"reference_torch,omitempty"`
	ReferenceSkipped string `json:"reference_skipped,omitempty"`
	Rows             []Row  `json:"rows"`
}

// measurement is one named entry of the suite.
type measurement struct {
	name string
	run  func(ctx context.Context, s *suite) ([]Row, error)
}

type suite struct {
	opt    Options
	python string // "" when the reference is off or missing
	rep    *Report
	// envRow names the env-only row of a config and vec_mode
	// ("clevr-lago.toml/async"); rates holds the throughput rows by name,
	// for ratios.
	envRow map[string]string
	rates  map[string]rate
}

// updateShapes are the update rows: a shipped config and whether it trains
// with its prior (LaGO's KL term).
var updateShapes = []struct {
	name, file string
	prior      bool
}{
	{"cartpole", "cartpole.toml", false},
	{"pendulum", "pendulum.toml", false},
	{"clevr-lago", "clevr-lago.toml", true},
}

func measurements() []measurement {
	var ms []measurement
	for _, u := range updateShapes {
		ms = append(ms, measurement{"update/" + u.name, func(ctx context.Context, s *suite) ([]Row, error) {
			return s.update(ctx, u.name, u.file, u.prior)
		}})
	}
	ms = append(ms,
		measurement{"env/clevr", func(ctx context.Context, s *suite) ([]Row, error) { return s.envRates(ctx, "clevr-lago.toml") }},
		measurement{"rollout/clevr", func(ctx context.Context, s *suite) ([]Row, error) { return s.rollout(ctx, "clevr-lago.toml") }},
		measurement{"train/clevr-lago-vanilla", func(ctx context.Context, s *suite) ([]Row, error) { return s.train(ctx, "clevr-lago.toml") }},
		measurement{"prior/scripted", func(ctx context.Context, s *suite) ([]Row, error) { return s.prior(ctx, "scripted:0.9", "") }},
		measurement{"prior/ollama", func(ctx context.Context, s *suite) ([]Row, error) {
			if s.opt.OllamaHost == "" || s.opt.OllamaModel == "" {
				return []Row{{Name: "prior/ollama", Note: "skipped: no -ollama-host and -ollama-model"}}, nil
			}
			return s.prior(ctx, "ollama:"+s.opt.OllamaModel, s.opt.OllamaHost)
		}},
	)
	return ms
}

// Names lists the suite's measurements, in order (for -filter).
func Names() []string {
	var out []string
	for _, m := range measurements() {
		out = append(out, m.name)
	}
	return out
}

// Run runs the suite. Its torch calls run on the calling goroutine, which
// it locks to its thread.
func Run(ctx context.Context, opt Options) (*Report, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if opt.Duration <= 0 {
		return nil, errors.New("bench: duration must be positive")
	}
	host, _ := os.Hostname()
	rep := &Report{
		Host: host, Date: time.Now().UTC(), CPU: cpuModel(), CPUs: runtime.NumCPU(),
		Torch: torch.Version(), GoVersion: runtime.Version(), Duration: opt.Duration.Seconds(),
	}
	rep.Device, _ = torch.DeviceName(torch.CPU)
	s := &suite{opt: opt, rep: rep, envRow: map[string]string{}, rates: map[string]rate{}}
	if opt.Reference {
		py, ver, why := findPython(opt.Python)
		if why != "" {
			rep.ReferenceSkipped = why
		} else {
			s.python, rep.ReferenceTorch = py, ver
		}
	}
	var selected []measurement
	for _, m := range measurements() {
		if opt.Filter == nil || opt.Filter.MatchString(m.name) {
			selected = append(selected, m)
		}
	}
	if len(selected) == 0 {
		return nil, fmt.Errorf("bench: -filter %q matches none of %s", opt.Filter, strings.Join(Names(), ", "))
	}
	for i, m := range selected {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if opt.Progress != nil {
			opt.Progress(i+1, len(selected), m.name)
		}
		rows, err := m.run(ctx, s)
		if err != nil {
			return rep, fmt.Errorf("bench %s: %w", m.name, err)
		}
		rep.Rows = append(rep.Rows, rows...)
	}
	return rep, nil
}

func (s *suite) config(file string) (config.Config, error) {
	cfg, err := config.Load(filepath.Join(s.opt.ConfigDir, file))
	if err != nil {
		return cfg, err
	}
	cfg.Device = "cpu"
	return cfg, nil
}

// threadCounts are the libtorch thread counts an update is measured at.
func threadCounts() []int {
	if n := runtime.NumCPU(); n > 1 {
		return []int{1, n}
	}
	return []int{1}
}

// update times the PPO update on a config's shapes at each thread count.
func (s *suite) update(ctx context.Context, name, file string, withPrior bool) ([]Row, error) {
	cfg, err := s.config(file)
	if err != nil {
		return nil, err
	}
	if !withPrior {
		cfg.Prior = "none"
	}
	row := Row{Name: "update/" + name, Unit: "samples/s", PerThreads: map[string]float64{}}
	var obsDim, outDim int
	rounds := max(1, s.opt.Rounds)
	for r := 0; r < rounds; r++ {
		for _, th := range threadCounts() {
			cfg.TorchThreads = th
			rate, cpu, o, a, note, err := s.updateRate(ctx, cfg)
			if err != nil {
				return nil, err
			}
			obsDim, outDim, row.Note = o, a, note
			if row.CPU == 0 || cpu < row.CPU {
				row.CPU = cpu
			}
			k := fmt.Sprint(th)
			row.PerThreads[k] = max(row.PerThreads[k], rate)
			if rate > row.Value {
				row.Value, row.Threads = rate, th
			}
		}
		if s.python != "" {
			ref, refThreads, refCPU, err := s.reference(ctx, name, cfg, obsDim, outDim, withPrior)
			if err != nil {
				return nil, err
			}
			if ref > row.Reference {
				row.Reference, row.RefThreads = ref, refThreads
			}
			if refCPU > 0 && (row.RefCPU == 0 || refCPU < row.RefCPU) {
				row.RefCPU = refCPU
			}
		}
	}
	if row.Reference > 0 {
		row.RefRatio = row.Value / row.Reference
	}
	if row.RefCPU > 0 && row.CPU > 0 {
		row.RefCPURatio = row.RefCPU / row.CPU
	}
	if rounds > 1 {
		row.Note += fmt.Sprintf("; best of %d alternating rounds", rounds)
	}
	cfg.TorchThreads = 0
	row.Note += fmt.Sprintf("; torch_threads 0 picks %d", ppo.Threads(cfg, obsDim, outDim))
	return []Row{row}, nil
}

// updateRate times the update: samples/s, and CPU-ns per sample.
func (s *suite) updateRate(ctx context.Context, cfg config.Config) (rate, cpuPerSample float64, obsDim, outDim int, note string, err error) {
	var reg ppo.Regularizer
	closeReg := func() error { return nil }
	if cfg.Prior != "none" {
		// The prior must answer every state before the update, so that the
		// KL term covers the whole minibatch as it does once the cache is warm.
		cfg.PriorWait = 1e6
		if reg, closeReg, err = lago.FromConfig(ctx, cfg); err != nil {
			return 0, 0, 0, 0, "", err
		}
	}
	defer closeReg()
	t, err := ppo.New(cfg, reg)
	if err != nil {
		return 0, 0, 0, 0, "", err
	}
	defer t.Close()
	if err := t.Rollout(ctx); err != nil {
		return 0, 0, 0, 0, "", err
	}
	if _, err := t.Update(ctx); err != nil { // warm-up
		return 0, 0, 0, 0, "", err
	}
	n, start, cpu0 := 0, time.Now(), processCPU()
	for time.Since(start) < s.opt.Duration {
		if _, err := t.Update(ctx); err != nil {
			return 0, 0, 0, 0, "", err
		}
		n++
	}
	samples := float64(n * t.BatchSize * cfg.UpdateEpochs)
	rate = samples / time.Since(start).Seconds()
	cpuPerSample = float64(processCPU()-cpu0) / samples
	obsDim, outDim = t.Vec.ObsDim, t.Vec.ActSpace.N
	if t.Vec.ActSpace.Kind == env.BoxKind {
		outDim = t.Vec.ActSpace.Dim()
	}
	note = fmt.Sprintf("hidden %v, batch %d, minibatch %d, %d epochs", cfg.HiddenSizes, t.BatchSize, t.MinibatchSize, cfg.UpdateEpochs)
	if reg != nil {
		note += ", with LaGO's KL (" + cfg.Prior + fmt.Sprintf(", β %g)", cfg.Beta)
	}
	if t.Fused() {
		note += ", fused"
	}
	return rate, cpuPerSample, obsDim, outDim, note, nil
}

// processCPU is the process's user + system CPU time so far (0 where
// getrusage fails: then no CPU figure is reported).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reference runs the PyTorch script on the same shapes.
// It returns the best samples/s, its thread count, and the least CPU-ns
// per sample.
func (s *suite) reference(ctx context.Context, shape string, cfg config.Config, obsDim, outDim int, withPrior bool) (float64, int, float64, error) {
	spec := map[string]any{
		"obs_dim": obsDim, "hidden": cfg.HiddenSizes, "num_envs": cfg.NumEnvs, "num_steps": cfg.NumSteps,
		"num_minibatches": cfg.NumMinibatches, "update_epochs": cfg.UpdateEpochs, "beta": 0.0,
	}
	e, err := env.Make(cfg.EnvID)
	if err != nil {
		return 0, 0, 0, err
	}
	if e.ActionSpace().Kind == env.DiscreteKind {
		spec["n"], spec["act_dim"] = outDim, 0
	} else {
		spec["n"], spec["act_dim"] = 0, outDim
	}
	if c, ok := e.(interface{ Close() }); ok {
		c.Close()
	}
	if withPrior {
		spec["beta"] = cfg.Beta
	}
	js, _ := json.Marshal(spec)
	var threads []string
	for _, t := range threadCounts() {
		threads = append(threads, fmt.Sprint(t))
	}
	cmd := exec.CommandContext(ctx, s.python, s.opt.Script, "-shape", shape, "-spec", string(js),
		"-threads", strings.Join(threads, ","), "-duration", fmt.Sprint(s.opt.Duration.Seconds()))
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return 0, 0, 0, fmt.Errorf("reference %s: %v: %s", s.opt.Script, err, strings.TrimSpace(string(ee.Stderr)))
		}
		return 0, 0, 0, fmt.Errorf("reference %s: %w", s.opt.Script, err)
	}
	var r struct {
		Rate    float64 `json:"samples_per_s"`
		Threads int     `json:"threads"`
		CPU     float64 `json:"cpu_ns_per_sample"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return 0, 0, 0, fmt.Errorf("reference %s printed %q: %w", s.opt.Script, out, err)
	}
	return r.Rate, r.Threads, r.CPU, nil
}

// findPython returns a python with torch and its torch version, or why
// there is none.
func findPython(want string) (py, version, why string) {
	candidates := []string{"python3", "/usr/bin/python3"}
	if want != "" {
		candidates = []string{want}
	}
	var tried []string
	for _, c := range candidates {
		out, err := exec.Command(c, "-c", "import torch; print(torch.__version__)").Output()
		if err == nil {
			return c, strings.TrimSpace(string(out)), ""
		}
		tried = append(tried, c)
	}
	return "", "", fmt.Sprintf("no python with torch (tried %s; on Debian: apt-get install python3-torch)", strings.Join(tried, ", "))
}

// randomActions fills a with uniformly random actions of the space.
func randomActions(rng *rand.Rand, sp env.Space, a []float32) {
	if sp.Kind == env.DiscreteKind {
		for i := range a {
			a[i] = float32(rng.IntN(sp.N))
		}
		return
	}
	sp.Sample(rng, a)
}

// rate is a throughput over wall time and over the CPU time the process
// used meanwhile (all its threads), with the 1-minute load average at its
// end. On a shared machine the wall figure depends on the other jobs; the
// CPU figure much less, but it does not see time spent waiting.
type rate struct{ wall, perCPU, load float64 }

// best keeps the larger wall rate (with its load) and, separately, the
// larger CPU rate: each the least disturbed of the rounds.
func (r rate) best(o rate) rate {
	if o.wall > r.wall {
		r.wall, r.load = o.wall, o.load
	}
	r.perCPU = max(r.perCPU, o.perCPU)
	return r
}

// timeLoop calls step until d has passed or ctx is done and rates the
// env steps it reports.
func timeLoop(ctx context.Context, d time.Duration, step func() (int, error)) (rate, error) {
	n, c0, t0 := 0, cpuTime(), time.Now()
	for time.Since(t0) < d && ctx.Err() == nil {
		k, err := step()
		if err != nil {
			return rate{}, err
		}
		n += k
	}
	return rated(n, time.Since(t0), cpuTime()-c0), ctx.Err()
}

func rated(n int, wall, cpu time.Duration) rate {
	return rate{wall: float64(n) / wall.Seconds(), perCPU: float64(n) / max(cpu.Seconds(), 1e-9), load: load1()}
}

// cpuTime is the CPU time, user and system, the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// load1 is the 1-minute load average (/proc/loadavg), or 0.
func load1() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var l float64
	fmt.Sscan(string(b), &l)
	return l
}

// vecModes are the rollout modes measured, lockstep (the default) first.
var vecModes = []string{"lockstep", "async"}

// modeName is a row name for a vec_mode: the lockstep rows keep their
// first names.
func modeName(base, mode string) string {
	if mode == "lockstep" {
		return base
	}
	return base + "/" + mode
}

// rateRow makes a row of r with its ratios to versus (by wall and by CPU
// time) and to the per-core bound.
func (s *suite) rateRow(name, unit string, r rate, versus, note string) Row {
	row := Row{Name: name, Value: r.wall, Unit: unit, PerCPU: r.perCPU, Load: r.load, Note: note}
	if v, ok := s.rates[versus]; ok && v.wall > 0 {
		row.Versus, row.Ratio, row.CPURatio = versus, r.wall/v.wall, r.perCPU/v.perCPU
	}
	if pc, ok := s.rates["env/clevr/per-core"]; ok && pc.wall > 0 && versus != "env/clevr/per-core" {
		row.PerCore = r.wall / pc.wall
	}
	s.rates[name] = r
	return row
}

// envRates times one env per core stepped with no vector env around it
// (the bound the vector env is compared with: bench/results/clevr-env.md
// measured an env step at 1.0 of raw MuJoCo, so this is raw mj_step ×
// workers) and the config's vector env with random actions (env-only) in
// each vec_mode. Each is measured Options.Rounds times, alternating, and
// keeps its best.
func (s *suite) envRates(ctx context.Context, file string) ([]Row, error) {
	cfg, err := s.config(file)
	if err != nil {
		return nil, err
	}
	workers := runtime.NumCPU()
	var perCore rate
	vec := map[string]rate{}
	for r := 0; r < max(1, s.opt.Rounds); r++ {
		pc, err := s.perCoreRate(ctx, cfg.EnvID, workers)
		if err != nil {
			return nil, err
		}
		perCore = perCore.best(pc)
		for _, mode := range vecModes {
			v, err := s.vecRate(ctx, cfg, mode == "async")
			if err != nil {
				return nil, err
			}
			vec[mode] = vec[mode].best(v)
		}
	}
	rows := []Row{s.rateRow("env/clevr/per-core", "env-steps/s", perCore, "",
		fmt.Sprintf("%d goroutines, one env each, no vector env: ≈ raw mj_step × workers", workers))}
	for _, mode := range vecModes {
		name := modeName("env/clevr/vec", mode)
		s.envRow[file+"/"+mode] = name
		rows = append(rows, s.rateRow(name, "env-steps/s", vec[mode], "env/clevr/per-core",
			fmt.Sprintf("env.Vec %s, %d envs, num_workers %d, random actions", mode, cfg.NumEnvs, cfg.NumWorkers)))
	}
	return rows, nil
}

func (s *suite) vecRate(ctx context.Context, cfg config.Config, async bool) (rate, error) {
	v, err := env.NewVec(cfg.EnvID, cfg.NumEnvs, cfg.NumWorkers, uint64(cfg.Seed))
	if err != nil {
		return rate{}, err
	}
	defer v.Close()
	if async {
		if err := v.EnableAsync(min(2, v.NumEnvs)); err != nil {
			return rate{}, err
		}
		defer v.RecvAll()
	}
	v.Reset()
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 1))
	ad := v.ActDim
	a := make([]float32, v.NumEnvs*ad)
	draw := func(lo, hi int) []float32 {
		for i := lo; i < hi; i++ {
			randomActions(rng, v.ActSpace, a[i*ad:(i+1)*ad])
		}
		return a[lo*ad : hi*ad]
	}
	step := func() (int, error) {
		v.Step(draw(0, v.NumEnvs))
		return v.NumEnvs, nil
	}
	if async {
		// As a rollout drives it: each group is sent again, with new
		// actions, as soon as it is received.
		for g := range v.NumGroups() {
			v.Send(g, draw(v.Group(g)))
		}
		step = func() (int, error) {
			for g := range v.NumGroups() {
				v.Recv(g)
				v.Send(g, draw(v.Group(g)))
			}
			return v.NumEnvs, nil
		}
	}
	for i := 0; i < 20; i++ { // warm-up
		step()
	}
	return timeLoop(ctx, s.opt.Duration, step)
}

func (s *suite) perCoreRate(ctx context.Context, id string, workers int) (rate, error) {
	var wg sync.WaitGroup
	counts := make([]int, workers)
	errs := make([]error, workers)
	startAll := make(chan struct{})
	var start time.Time
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			e, err := env.Make(id)
			if err != nil {
				errs[w] = err
				return
			}
			if c, ok := e.(interface{ Close() }); ok {
				defer c.Close()
			}
			e.Seed(uint64(w + 1))
			rng := rand.New(rand.NewPCG(uint64(w+1), 2))
			obs := make([]float32, e.ObservationSpace().Dim())
			a := make([]float32, e.ActionSpace().Dim())
			e.Reset(obs)
			limit, t := e.Spec().MaxEpisodeSteps, 0
			step := func() {
				randomActions(rng, e.ActionSpace(), a)
				t++
				if tr := e.Step(a, obs); tr.Terminated || (limit > 0 && t >= limit) {
					e.Reset(obs)
					t = 0
				}
			}
			for i := 0; i < 20; i++ {
				step()
			}
			<-startAll
			// At least one step: a goroutine scheduled late on a loaded
			// machine still counts.
			for counts[w] == 0 || time.Since(start) < s.opt.Duration && ctx.Err() == nil {
				step()
				counts[w]++
			}
		}(w)
	}
	time.Sleep(100 * time.Millisecond) // let every worker finish its warm-up
	c0 := cpuTime()
	start = time.Now()
	close(startAll)
	wg.Wait()
	elapsed, cpu := time.Since(start), cpuTime()-c0
	total := 0
	for w, c := range counts {
		if errs[w] != nil {
			return rate{}, errs[w]
		}
		total += c
	}
	return rated(total, elapsed, cpu), ctx.Err()
}

// rollout times the trainer's rollouts (policy inference included) on the
// config's vector env in each vec_mode, best of Options.Rounds
// alternating rounds, against the env-only rate of the same mode.
func (s *suite) rollout(ctx context.Context, file string) ([]Row, error) {
	cfg, err := s.config(file)
	if err != nil {
		return nil, err
	}
	cfg.Prior = "none"
	best := map[string]rate{}
	for r := 0; r < max(1, s.opt.Rounds); r++ {
		for _, mode := range vecModes {
			cfg.VecMode = mode
			got, err := s.rolloutRate(ctx, cfg)
			if err != nil {
				return nil, err
			}
			best[mode] = best[mode].best(got)
		}
	}
	var rows []Row
	for _, mode := range vecModes {
		rows = append(rows, s.rateRow(modeName("rollout/clevr", mode), "env-steps/s", best[mode], s.envRow[file+"/"+mode],
			fmt.Sprintf("trainer rollouts of %d envs × %d steps, vec_mode %s, policy and value inference included", cfg.NumEnvs, cfg.NumSteps, mode)))
	}
	return rows, nil
}

func (s *suite) rolloutRate(ctx context.Context, cfg config.Config) (rate, error) {
	t, err := ppo.New(cfg, nil)
	if err != nil {
		return rate{}, err
	}
	defer t.Close()
	if err := t.Rollout(ctx); err != nil { // warm-up
		return rate{}, err
	}
	return timeLoop(ctx, s.opt.Duration, func() (int, error) { return t.BatchSize, t.Rollout(ctx) })
}

// train times short real runs of the config without its prior (vanilla
// PPO on the same shapes) in each vec_mode, best of Options.Rounds
// alternating rounds, and compares their SPS with the env-only rate of
// the same mode.
func (s *suite) train(ctx context.Context, file string) ([]Row, error) {
	cfg, err := s.config(file)
	if err != nil {
		return nil, err
	}
	cfg.Prior = "none"
	// Enough iterations that a measurement never runs out of them.
	cfg.TotalTimesteps = max(cfg.TotalTimesteps, int64(cfg.NumEnvs*cfg.NumSteps)*10000)
	best := map[string]rate{}
	threads := 0
	for r := 0; r < max(1, s.opt.Rounds); r++ {
		for _, mode := range vecModes {
			cfg.VecMode = mode
			got, th, err := s.trainRate(ctx, cfg)
			if err != nil {
				return nil, err
			}
			best[mode], threads = best[mode].best(got), th
		}
	}
	var rows []Row
	for _, mode := range vecModes {
		rows = append(rows, s.rateRow(modeName("train/clevr-lago-vanilla", mode), "SPS", best[mode], s.envRow[file+"/"+mode],
			fmt.Sprintf("ppo iterations (rollout + update) of %s with prior none, vec_mode %s, torch_threads %d", file, mode, threads)))
	}
	return rows, nil
}

func (s *suite) trainRate(ctx context.Context, cfg config.Config) (rate, int, error) {
	t, err := ppo.New(cfg, nil)
	if err != nil {
		return rate{}, 0, err
	}
	defer t.Close()
	if _, err := t.Iterate(ctx); err != nil { // warm-up
		return rate{}, 0, err
	}
	r, err := timeLoop(ctx, s.opt.Duration, func() (int, error) {
		_, err := t.Iterate(ctx)
		return t.BatchSize, err
	})
	return r, ppo.Threads(cfg, t.Vec.ObsDim, t.Vec.ActSpace.N), err
}

// prior times a prior backend on CLEVR states: states/s and latency p50/p95
// of a first lookup (answered, waiting when the backend is asynchronous),
// then the cost of a lookup it already knows (a cache hit).
func (s *suite) prior(ctx context.Context, spec, host string) ([]Row, error) {
	cfg, err := s.config("clevr-lago.toml")
	if err != nil {
		return nil, err
	}
	cfg.Prior = spec
	if host != "" {
		cfg.OllamaHost = host
		dir, err := os.MkdirTemp("", "lago-bench-prior-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		cfg.PriorCacheDir = dir
	}
	p, err := prior.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	e, err := env.Make(cfg.EnvID)
	if err != nil {
		return nil, err
	}
	if c, ok := e.(interface{ Close() }); ok {
		defer c.Close()
	}
	e.Seed(uint64(cfg.Seed))
	obs := make([]float32, e.ObservationSpace().Dim())
	a := make([]float32, 1)
	out := make([]float32, e.ActionSpace().N)
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 3))
	e.Reset(obs)
	limit := e.Spec().MaxEpisodeSteps
	var lat []time.Duration
	var keys []prior.Key
	start := time.Now()
	for time.Since(start) < s.opt.Duration && ctx.Err() == nil {
		t0 := time.Now()
		k, ok, err := p.Lookup(e, out)
		if err != nil {
			return nil, err
		}
		if !ok {
			if err := p.Wait(ctx, []prior.Key{k}); err != nil {
				return nil, err
			}
			if !p.Get(k, out) {
				return nil, fmt.Errorf("prior %s: state %v not answered after Wait", spec, k)
			}
		}
		lat = append(lat, time.Since(t0))
		keys = append(keys, k)
		randomActions(rng, e.ActionSpace(), a)
		if tr := e.Step(a, obs); tr.Terminated || (limit > 0 && len(lat)%limit == 0) {
			e.Reset(obs)
		}
	}
	elapsed := time.Since(start).Seconds()
	if len(lat) == 0 {
		return nil, ctx.Err()
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(f float64) time.Duration { return lat[min(len(lat)-1, int(f*float64(len(lat))))] }
	// Cache hits: Get of keys already answered.
	hits, t0 := 0, time.Now()
	for time.Since(t0) < s.opt.Duration/4 || hits < len(keys) {
		if !p.Get(keys[hits%len(keys)], out) && host != "" {
			return nil, fmt.Errorf("prior %s: an answered state is not in the cache", spec)
		}
		hits++
	}
	hitNs := float64(time.Since(t0).Nanoseconds()) / float64(hits)
	name := "prior/" + strings.SplitN(spec, ":", 2)[0]
	return []Row{
		{Name: name, Value: float64(len(lat)) / elapsed, Unit: "states/s",
			Note: fmt.Sprintf("%s, %d CLEVR states one at a time (env stepping included): latency p50 %v, p95 %v", spec, len(lat), q(0.5).Round(time.Microsecond), q(0.95).Round(time.Microsecond))},
		{Name: name + "/hit", Value: hitNs, Unit: "ns/lookup", Note: "Get of a state already answered"},
	}, nil
}

// cpuModel is /proc/cpuinfo's first model name, or GOARCH.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				return strings.TrimSpace(v)
			}
		}
	}
	return runtime.GOARCH
}
