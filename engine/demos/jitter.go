package demos

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/lago-rl/lago/engine/env"
	"github.com/lago-rl/lago/engine/prior"
)

// Jitterable is an env whose text views render continuous coordinates of
// its state (CLEVR-Robot: the balls' centres) that a probe may redraw.
type Jitterable interface {
	// Coords appends the rendered coordinates to dst.
	Coords(dst []float64) []float64
	// ValidCoords reports whether coordinates c make a state the env can
	// be in; SetCoords moves the state to c, keeping the rest of it.
	ValidCoords(c []float64) bool
	SetCoords(c []float64)
}

// JitterConfig sets the jittered text ceiling's sampler.
type JitterConfig struct {
	// Draws is the number of states drawn per held-out state, each asked
	// to the expert; Sweeps the Metropolis sweeps over the coordinates
	// before each draw; Step the half-width of a proposal, in the
	// coordinates' unit (about the text's grid cell, so that a chain
	// crosses its cell in a few moves).
	Draws  int
	Sweeps int
	Step   float64
	Seed   uint64
	// Workers score states in parallel (default: one per CPU); the result
	// does not depend on them.
	Workers int
}

func (c JitterConfig) check() error {
	switch {
	case c.Draws < 1:
		return fmt.Errorf("demos: jitter draws %d; draw at least 1 state per held-out state", c.Draws)
	case c.Sweeps < 1:
		return fmt.Errorf("demos: jitter sweeps %d; at least 1", c.Sweeps)
	case !(c.Step >= 0) || math.IsInf(c.Step, 0):
		return fmt.Errorf("demos: jitter step %v; a finite step ≥ 0 (about the text's grid cell)", c.Step)
	}
	return nil
}

// JitteredCeiling estimates what a model of the text can reach where texts
// never repeat, so that TextCeiling's bound is loose (issue 13): for each
// held-out state it draws other states that read as exactly the same text
// (each rendered coordinate moved within what the text allows, uniformly,
// by a Metropolis chain started at the state), asks the expert in each, and
// predicts the draws' majority action. That predictor reads nothing but the
// text, the task and the state's velocities (which the draws keep and the
// text does not show), so its agreement is close to a lower bound on the
// best any model of the text can reach; more draws make the majority
// closer to the best text-only guess.
type JitteredCeiling struct {
	States int     `json:"states"`
	Draws  int     `json:"draws"`
	Sweeps int     `json:"sweeps"`
	Step   float64 `json:"step"`
	Seed   uint64  `json:"seed"`
	// Agreement is the majority action's agreement (Agrees) with the
	// state's best set, StdErr its binomial standard error over States.
	Agreement float64 `json:"agreement"`
	StdErr    float64 `json:"std_err"`
	// DrawAgreement is the fraction of single draws whose expert action is
	// among the state's best; Acceptance the fraction of proposed moves
	// that kept the text (and a valid state).
	DrawAgreement float64 `json:"draw_agreement"`
	Acceptance    float64 `json:"acceptance"`
	// OffStarts counts the states that lie outside the env's valid set
	// (ValidCoords: a ball pressed into a wall or another deeper than a
	// resting one); their chains start there and move into it.
	OffStarts int `json:"off_starts"`
}

// JitteredTextCeiling computes the JitteredCeiling of a dataset's held-out
// states, restoring each from the dataset's demonstrations. progress, when
// not nil, is called with the number of states done (from one goroutine).
func JitteredTextCeiling(ctx context.Context, m DatasetManifest, states []State, cfg JitterConfig, progress func(done int)) (JitteredCeiling, error) {
	if err := cfg.check(); err != nil {
		return JitteredCeiling{}, err
	}
	if len(states) == 0 {
		return JitteredCeiling{}, fmt.Errorf("demos: no held-out states to bound")
	}
	tmpl, err := prior.TemplateByVersion(m.Config.Template)
	if err != nil {
		return JitteredCeiling{}, err
	}
	// The recorded states of the held-out steps, from the demonstrations.
	type key struct{ ep, t int }
	index := make(map[key]int, len(states))
	for i, s := range states {
		index[key{s.Episode, s.T}] = i
	}
	recorded := make([]Step, len(states))
	if _, err := Read(m.Demos, func(ep Episode) error {
		for _, s := range ep.Steps {
			if i, ok := index[key{ep.Index, s.T}]; ok {
				recorded[i] = s
			}
		}
		return nil
	}); err != nil {
		return JitteredCeiling{}, fmt.Errorf("demos: the dataset's demonstrations (%s): %w", m.Demos, err)
	}
	for i, s := range states {
		if recorded[i].State == nil { // every recorded step has its state
			return JitteredCeiling{}, fmt.Errorf("demos: held-out episode %d step %d is not in %s; the dataset was built from other demonstrations", s.Episode, s.T, m.Demos)
		}
	}

	workers := cfg.Workers
	if workers < 1 {
		workers = runtime.NumCPU()
	}
	workers = min(workers, len(states))
	envs := make([]env.Env, 0, workers)
	defer func() {
		for _, e := range envs {
			if c, ok := e.(interface{ Close() }); ok { // else the env's cleanup frees it
				c.Close()
			}
		}
	}()
	for range workers {
		e, err := env.Make(m.DemosConfig.EnvID)
		if err != nil {
			return JitteredCeiling{}, fmt.Errorf("demos: %w", err)
		}
		envs = append(envs, e)
		_, okJ := e.(Jitterable)
		_, okX := e.(env.Expert)
		if !okJ || !okX {
			return JitteredCeiling{}, fmt.Errorf("demos: %s cannot redraw its states' coordinates or has no expert; a jittered ceiling needs both", m.DemosConfig.EnvID)
		}
	}

	out := make([]jitterOutcome, len(states))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan int)
	done := make(chan struct{}, len(states)) // closed once every worker has returned
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for _, e := range envs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			action := make([]float32, 1)
			for i := range jobs {
				s := states[i]
				o, err := jitterState(e, e.(Jitterable), e.(env.Expert), tmpl, recorded[i], s, cfg, action)
				if err != nil {
					errs <- fmt.Errorf("demos: held-out episode %d step %d: %w", s.Episode, s.T, err)
					cancel()
					return
				}
				out[i] = o
				done <- struct{}{}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for i := range states {
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(done) }()
	n := 0
	for range done {
		n++
		if progress != nil {
			progress(n)
		}
	}
	select {
	case err := <-errs:
		return JitteredCeiling{}, err
	default:
	}
	if err := ctx.Err(); err != nil && n < len(states) {
		return JitteredCeiling{}, err
	}

	r := JitteredCeiling{States: len(states), Draws: cfg.Draws, Sweeps: cfg.Sweeps, Step: cfg.Step, Seed: cfg.Seed}
	var agree, drawsAgree, accepted, proposed int
	for _, o := range out {
		if o.agree {
			agree++
		}
		if o.offStart {
			r.OffStarts++
		}
		drawsAgree += o.drawsAgree
		accepted += o.accepted
		proposed += o.proposed
	}
	ns := float64(r.States)
	r.Agreement = float64(agree) / ns
	r.StdErr = math.Sqrt(r.Agreement * (1 - r.Agreement) / ns)
	r.DrawAgreement = float64(drawsAgree) / (ns * float64(cfg.Draws))
	if proposed > 0 {
		r.Acceptance = float64(accepted) / float64(proposed)
	}
	return r, nil
}

type jitterOutcome struct {
	agree, offStart      bool
	drawsAgree, accepted int
	proposed             int
}

// jitterState runs one held-out state's chain and vote. The chain's
// generator depends only on the seed and the state, so the result does not
// depend on which worker runs it.
func jitterState(e env.Env, j Jitterable, x env.Expert, tmpl prior.Template, step Step, s State, cfg JitterConfig, action []float32) (jitterOutcome, error) {
	q, err := questionAt(e, tmpl, step)
	if err != nil {
		return jitterOutcome{}, err
	}
	text := q.Text
	if text != s.Text {
		return jitterOutcome{}, fmt.Errorf("the restored state reads %q, the dataset recorded %q: they come from another version of %s or its template", text, s.Text, e.Spec().ID)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(s.Episode)<<20|uint64(s.T))) // T < 2^20 steps
	c := j.Coords(nil)
	votes := map[int]int{}
	o := jitterOutcome{offStart: !j.ValidCoords(c)}
	for range cfg.Draws {
		for range cfg.Sweeps {
			for i := range c {
				old := c[i]
				c[i] = old + cfg.Step*(2*rng.Float64()-1)
				o.proposed++
				if j.ValidCoords(c) {
					j.SetCoords(c)
					t, err := viewText(e, tmpl)
					if err != nil {
						return o, err
					}
					if t == text {
						o.accepted++
						continue
					}
					c[i] = old
					j.SetCoords(c) // the chain's state, valid or the start
					continue
				}
				c[i] = old
			}
		}
		x.ExpertAction(action)
		a := int(action[0])
		votes[a]++
		if Agrees(a, s.Best) {
			o.drawsAgree++
		}
	}
	o.agree = Agrees(pickMax(votes), s.Best)
	return o, nil
}

// viewText is the template's text of e's current state.
func viewText(e env.Env, tmpl prior.Template) (string, error) {
	q, err := prior.QuestionWith(e, tmpl)
	return q.Text, err
}
