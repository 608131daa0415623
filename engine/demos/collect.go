package demos

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"

	"github.com/lago-rl/lago/engine/env"
	"github.com/lago-rl/lago/engine/runfile"
)

// BestRule says which actions count as rated best by the expert.
type BestRule string

const (
	// BestArgmax: the expert's action alone (an expert that only names its
	// choice cannot say more).
	BestArgmax BestRule = "argmax"
	// BestSuccess: the expert's action and, when it succeeds at once,
	// every action that succeeds at once too, found by stepping each one on a
	// copy of the state. For experts that rate every immediately succeeding
	// action equally and take the first (CLEVR-Robot's), this is the set of
	// actions they rate best. Needs discrete actions and an env with success.
	BestSuccess BestRule = "success"
)

// Config is what a collection did; the manifest records it.
type Config struct {
	EnvID    string `json:"env_id"`
	Episodes int    `json:"episodes"`
	// Seed: episode i seeds the env with Seed+i and draws its ε and
	// exploration from a generator seeded by (Seed, i), so an episode does
	// not depend on the others, nor on the number of workers.
	Seed uint64 `json:"seed"`
	// Each episode's ε is drawn uniformly from [EpsilonMin, EpsilonMax];
	// at each step it takes a uniformly random action with probability ε,
	// else the expert's, so states off the expert's path are covered too.
	EpsilonMin float64  `json:"epsilon_min"`
	EpsilonMax float64  `json:"epsilon_max"`
	Best       BestRule `json:"best"`
	// MaxSteps caps an episode; 0 means the env's time limit.
	MaxSteps int `json:"max_steps"`
	// Workers collect episodes in parallel; the output does not depend on
	// them, so the manifest leaves them out.
	Workers int `json:"-"`
}

func (c Config) check() error {
	switch {
	case c.EnvID == "":
		return errors.New("demos: no env id")
	case c.Episodes < 1:
		return fmt.Errorf("demos: %d episodes; collect at least 1", c.Episodes)
	case !(c.EpsilonMin >= 0 && c.EpsilonMin <= c.EpsilonMax && c.EpsilonMax <= 1):
		return fmt.Errorf("demos: ε range [%v, %v]; want 0 ≤ min ≤ max ≤ 1", c.EpsilonMin, c.EpsilonMax)
	case c.Best != BestArgmax && c.Best != BestSuccess:
		return fmt.Errorf("demos: best-set rule %q; allowed: %s, %s", c.Best, BestArgmax, BestSuccess)
	case c.MaxSteps < 0:
		return fmt.Errorf("demos: max steps %d < 0", c.MaxSteps)
	}
	return nil
}

// Progress is reported after each finished episode, in episode order.
type Progress struct {
	Episodes, Total, Steps, Successes int
}

// Collect runs cfg's episodes and writes the demonstrations directory dir
// (created if needed): episodes.jsonl, then manifest.json, each atomically,
// so a directory with a manifest is complete. A dir that already has a
// manifest is refused. progress may be nil.
func Collect(ctx context.Context, cfg Config, lagoVersion, dir string, progress func(Progress)) (Manifest, error) {
	if err := cfg.check(); err != nil {
		return Manifest{}, err
	}
	if _, err := os.Stat(filepath.Join(dir, ManifestFile)); err == nil {
		return Manifest{}, fmt.Errorf("demos: %s already holds demonstrations (%s); choose another directory", dir, ManifestFile)
	}
	workers := max(cfg.Workers, 1)
	ws := make([]*worker, workers)
	for i := range ws {
		w, err := newWorker(cfg)
		if err != nil {
			return Manifest{}, err
		}
		ws[i] = w
	}
	m := Manifest{Format: Format, FormatVersion: FormatVersion, LagoVersion: lagoVersion, Config: cfg,
		Discrete: ws[0].discrete}
	if cfg.MaxSteps == 0 {
		m.Config.MaxSteps = ws[0].e.Spec().MaxEpisodeSteps
	}
	if f, ok := ws[0].e.(env.FactoredActions); ok {
		m.Factors = f.ActionFactors()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Manifest{}, fmt.Errorf("demos: %w", err)
	}
	err := runfile.WriteAtomic(filepath.Join(dir, EpisodesFile), 0o644, func(out io.Writer) error {
		bw := bufio.NewWriterSize(out, 1<<20)
		err := run(ctx, m.Config, ws, func(ep Episode) error {
			line, err := json.Marshal(ep)
			if err != nil {
				return err
			}
			bw.Write(line)
			if err := bw.WriteByte('\n'); err != nil {
				return err
			}
			m.Counts.add(ep)
			if progress != nil {
				progress(Progress{m.Counts.Episodes, cfg.Episodes, m.Counts.Steps, m.Counts.Successes})
			}
			return nil
		})
		if err != nil {
			return err
		}
		return bw.Flush()
	})
	if err != nil {
		return Manifest{}, fmt.Errorf("demos: writing %s: %w", filepath.Join(dir, EpisodesFile), err)
	}
	js, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Manifest{}, err
	}
	if err := runfile.WriteFileAtomic(filepath.Join(dir, ManifestFile), append(js, '\n')); err != nil {
		return Manifest{}, fmt.Errorf("demos: %w", err)
	}
	return m, nil
}

// run collects the episodes over the workers and hands them to emit in
// episode order.
func run(ctx context.Context, cfg Config, ws []*worker, emit func(Episode) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan int)
	type result struct {
		ep  Episode
		err error
	}
	results := make(chan result, len(ws))
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				ep, err := w.episode(cfg, i)
				select {
				case results <- result{ep, err}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for i := range cfg.Episodes {
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()

	pending := map[int]Episode{}
	next := 0
	for next < cfg.Episodes {
		var r result
		var ok bool
		select {
		case r, ok = <-results:
		case <-ctx.Done():
			return ctx.Err()
		}
		if !ok {
			return ctx.Err()
		}
		if r.err != nil {
			return r.err
		}
		pending[r.ep.Index] = r.ep
		for {
			ep, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			if err := emit(ep); err != nil {
				return err
			}
			next++
		}
	}
	return nil
}

// worker owns an env (and a probe copy for the best set) and plays episodes.
type worker struct {
	e, probe       env.Env
	expert         env.Expert
	space          env.Space
	discrete       bool
	obs, probeObs  []float32
	act, expertAct []float32
	maxSteps       int
	best           BestRule
}

func newWorker(cfg Config) (*worker, error) {
	e, err := env.Make(cfg.EnvID)
	if err != nil {
		return nil, fmt.Errorf("demos: %w", err)
	}
	x, ok := e.(env.Expert)
	if !ok {
		return nil, fmt.Errorf("demos: %s has no scripted expert (env.Expert), so it cannot give demonstrations", cfg.EnvID)
	}
	sp := e.ActionSpace()
	w := &worker{e: e, expert: x, space: sp, discrete: sp.Kind == env.DiscreteKind, best: cfg.Best,
		obs: make([]float32, e.ObservationSpace().Dim()), act: make([]float32, sp.Dim()), expertAct: make([]float32, sp.Dim())}
	w.maxSteps = cfg.MaxSteps
	if w.maxSteps == 0 {
		w.maxSteps = e.Spec().MaxEpisodeSteps
	}
	if w.maxSteps == 0 {
		return nil, fmt.Errorf("demos: %s has no time limit; give a maximum number of steps per episode", cfg.EnvID)
	}
	if cfg.Best == BestSuccess {
		if !w.discrete || !e.Spec().HasSuccess {
			return nil, fmt.Errorf("demos: best-set rule %q needs discrete actions and an env that reports success; %s has %s actions (success reported: %v); use %q",
				BestSuccess, cfg.EnvID, sp, e.Spec().HasSuccess, BestArgmax)
		}
		if w.probe, err = env.Make(cfg.EnvID); err != nil {
			return nil, fmt.Errorf("demos: %w", err)
		}
		w.probeObs = make([]float32, len(w.obs))
	}
	return w, nil
}

// instructor is an env with a natural-language instruction (CLEVR-Robot).
type instructor interface{ Instruction() string }

// episode plays episode i of cfg.
func (w *worker) episode(cfg Config, i int) (Episode, error) {
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(i)))
	ep := Episode{Index: i, EnvSeed: cfg.Seed + uint64(i)}
	ep.Epsilon = cfg.EpsilonMin + (cfg.EpsilonMax-cfg.EpsilonMin)*rng.Float64()
	w.e.Seed(ep.EnvSeed)
	w.e.Reset(w.obs)
	for t := range w.maxSteps {
		state, err := w.e.MarshalBinary()
		if err != nil {
			return ep, fmt.Errorf("demos: %s episode %d step %d: marshalling the state: %w", cfg.EnvID, i, t, err)
		}
		s := Step{T: t, State: state}
		if d, ok := w.e.(env.Describer); ok {
			s.Text = d.TextView()
		}
		if in, ok := w.e.(instructor); ok {
			s.Instruction = in.Instruction()
		}
		w.expert.ExpertAction(w.expertAct)
		s.Expert = append([]float32(nil), w.expertAct...)
		if w.discrete {
			if s.Best, err = w.bestSet(state, int(w.expertAct[0])); err != nil {
				return ep, fmt.Errorf("demos: %s episode %d step %d: %w", cfg.EnvID, i, t, err)
			}
		}
		if rng.Float64() < ep.Epsilon {
			w.space.Sample(rng, w.act)
			s.Explored = true
		} else {
			copy(w.act, w.expertAct)
		}
		s.Taken = append([]float32(nil), w.act...)
		tr := w.e.Step(w.act, w.obs)
		s.Reward = tr.Reward
		ep.Return += tr.Reward
		ep.Steps = append(ep.Steps, s)
		if tr.Success {
			ep.Success = true
		}
		if tr.Terminated {
			ep.Terminated = true
			break
		}
	}
	ep.Truncated = !ep.Terminated
	return ep, nil
}

// bestSet is the set of actions the expert rates best in the state (see
// BestRule), the expert's own first.
func (w *worker) bestSet(state []byte, expert int) ([]int, error) {
	best := []int{expert}
	if w.best != BestSuccess {
		return best, nil
	}
	try := func(a int) (bool, error) {
		if err := w.probe.UnmarshalBinary(state); err != nil {
			return false, fmt.Errorf("restoring the state on the probe env: %w", err)
		}
		w.act[0] = float32(a)
		return w.probe.Step(w.act, w.probeObs).Success, nil
	}
	ok, err := try(expert)
	if err != nil || !ok {
		return best, err
	}
	for a := range w.space.N {
		if a == expert {
			continue
		}
		ok, err := try(a)
		if err != nil {
			return nil, err
		}
		if ok {
			best = append(best, a)
		}
	}
	return best, nil
}
