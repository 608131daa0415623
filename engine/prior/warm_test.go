package prior

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/env"
	"github.com/lago-rl/lago/engine/policy"
)

// walk is a tiny describable env for the prior's drivers: a position on a
// line of 8 cells, three actions, an expert that walks right.
type walk struct {
	pos int
	rng *rand.Rand
}

func (w *walk) Spec() env.Spec { return env.Spec{ID: "Walk-test", MaxEpisodeSteps: 20} }
func (w *walk) ObservationSpace() env.Space {
	return env.Box([]float32{0}, []float32{7})
}
func (w *walk) ActionSpace() env.Space { return env.Discrete(3) }
func (w *walk) Seed(s uint64)          { w.rng = rand.New(rand.NewPCG(s, 0)) }
func (w *walk) Reset(obs []float32) {
	w.pos = w.rng.IntN(8)
	obs[0] = float32(w.pos)
}
func (w *walk) Step(a []float32, obs []float32) env.Transition {
	w.pos = min(7, max(0, w.pos+int(a[0])-1))
	obs[0] = float32(w.pos)
	return env.Transition{}
}
func (w *walk) MarshalBinary() ([]byte, error) { return []byte{byte(w.pos)}, nil }
func (w *walk) UnmarshalBinary(b []byte) error { w.pos = int(b[0]); return nil }
func (w *walk) TextView() string               { return fmt.Sprintf("position %d of 8", w.pos) }
func (w *walk) ActionNames() []string          { return []string{"left", "stay", "right"} }
func (w *walk) ExpertAction(a []float32)       { a[0] = 2 }

// fakePriorConfig is a config whose prior is the fake server's model, with
// its cache in a temporary directory.
func fakePriorConfig(t *testing.T, f *fakeOllama) config.Config {
	cfg := config.Default()
	cfg.Prior, cfg.OllamaHost, cfg.EnvID = "ollama:tiny", f.addr, "Walk-test"
	cfg.PriorCacheDir = t.TempDir()
	return cfg
}

func TestExplain(t *testing.T) {
	w := &walk{}
	w.Seed(1)
	w.Reset(make([]float32, 1))
	// A scripted prior answers from the expert.
	p, err := New(context.Background(), config.Config{Prior: "scripted:0.9"})
	if err != nil {
		t.Fatal(err)
	}
	x, err := Explain(context.Background(), p, w)
	if err != nil || x.Prior != "scripted:0.9" || x.Probs[2] < 0.9 || x.TextView == "" || x.Calls != 0 {
		t.Fatalf("scripted: %+v, %v", x, err)
	}
	// An LLM prior shows its prompt, asks the model and caches the answer.
	f := newFakeOllama(t)
	cfg := fakePriorConfig(t, f)
	p, err = New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	x, err = Explain(context.Background(), p, w)
	if err != nil {
		t.Fatal(err)
	}
	if x.Calls != 1 || x.Mode != "logprobs" || len(x.Prompts) != 1 || !strings.Contains(x.Prompts[0], "C. right") || x.Probs[2] < 0.5 {
		t.Fatalf("ollama: %+v", x)
	}
	if _, ok, _ := p.Lookup(w, make([]float32, 3)); !ok {
		t.Fatal("the explained state is not in the cache")
	}
	if _, err := Explain(context.Background(), nil, w); err == nil || !strings.Contains(err.Error(), "config key prior") {
		t.Fatalf("prior none: %v", err)
	}
}

func TestWarmFillsTheCache(t *testing.T) {
	f := newFakeOllama(t)
	cfg := fakePriorConfig(t, f)
	p, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	envs := []env.Env{&walk{}, &walk{}}
	v, err := env.NewVecFrom(envs, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	v.Reset()
	right := func(v *env.Vec, a []float32) error {
		for i := range a {
			a[i] = 2
		}
		return nil
	}
	progress := 0
	r, err := Warm(context.Background(), p, v, WarmOptions{Steps: 40, Wait: 10 * time.Second,
		Policies: []policy.Policy{right}, Progress: func(WarmProgress) { progress++ }})
	if err != nil {
		t.Fatal(err)
	}
	// Walking right from anywhere visits at most the 8 positions.
	if !r.Drained || r.Entries < 1 || r.Entries > 8 || r.Usage.Lookups != 40 || progress != 20 || r.CachePath == "" {
		t.Fatalf("warm: %+v, %d progress calls", r, progress)
	}
	scripted, _ := New(context.Background(), config.Config{Prior: "uniform"})
	if _, err := Warm(context.Background(), scripted, v, WarmOptions{Steps: 1, Policies: []policy.Policy{right}}); err == nil ||
		!strings.Contains(err.Error(), "needs no cache") {
		t.Fatalf("warming a uniform prior: %v", err)
	}
}

// loggedWalk is walk recording every action it is given, and walkNoExpert
// is walk without its expert: the envs of WarmEnv's test.
type loggedWalk struct {
	walk
	log *[]int
}

func (w *loggedWalk) Step(a []float32, obs []float32) env.Transition {
	*w.log = append(*w.log, int(a[0]))
	return w.walk.Step(a, obs)
}

type walkNoExpert struct{ env.Env }

func (w walkNoExpert) TextView() string      { return w.Env.(env.Describer).TextView() }
func (w walkNoExpert) ActionNames() []string { return w.Env.(env.Describer).ActionNames() }

var warmEnvActions []int

func init() {
	env.Register("Walk-log-test", func() env.Env { return &loggedWalk{log: &warmEnvActions} })
	env.Register("Walk-noexpert-test", func() env.Env { return walkNoExpert{&walk{}} })
	env.Register("Walk-test", func() env.Env { return &walk{} })
}

func TestWarmEnvRollsRandomThenExpert(t *testing.T) {
	f := newFakeOllama(t)
	cfg := fakePriorConfig(t, f)
	cfg.EnvID, cfg.NumEnvs, cfg.NumWorkers = "Walk-log-test", 2, 1
	p, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	warmEnvActions = nil
	// Blocks of 50 Vec steps (100 env steps): random, then the expert.
	r, err := WarmEnv(context.Background(), p, cfg, 3, WarmOptions{Steps: 200, Wait: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Drained || r.Usage.Lookups != 200 || r.Entries < 1 || r.Entries > 8 {
		t.Fatalf("warm: %+v", r)
	}
	if len(warmEnvActions) != 200 {
		t.Fatalf("%d actions, want 200", len(warmEnvActions))
	}
	random, expert := warmEnvActions[:100], warmEnvActions[100:]
	if !slices.ContainsFunc(random, func(a int) bool { return a != 2 }) {
		t.Errorf("the first block is all right steps: not the random policy")
	}
	if slices.ContainsFunc(expert, func(a int) bool { return a != 2 }) {
		t.Errorf("the second block has %v: not the expert's right steps", expert)
	}

	// No expert: the random policy alone; and the policies are WarmEnv's.
	cfg.EnvID = "Walk-noexpert-test"
	if r, err := WarmEnv(context.Background(), p, cfg, 3, WarmOptions{Steps: 20, Wait: 10 * time.Second}); err != nil || r.Usage.Lookups != 200+20 {
		t.Fatalf("warm without an expert: %+v, %v", r, err)
	}
	own := WarmOptions{Steps: 20, Policies: []policy.Policy{policy.Random(1)}}
	if _, err := WarmEnv(context.Background(), p, cfg, 3, own); err == nil || !strings.Contains(err.Error(), "prior: WarmEnv rolls the built-in policies") {
		t.Fatalf("WarmEnv with policies: %v", err)
	}
}

func TestExplanationTop(t *testing.T) {
	x := Explanation{Probs: []float32{0.1, 0.4, 0.1, 0.4}}
	cases := []struct {
		n    int
		want []int
	}{
		{0, []int{}}, {-1, []int{}}, {1, []int{1}}, {3, []int{1, 3, 0}}, {9, []int{1, 3, 0, 2}},
	}
	for _, c := range cases {
		if got := x.Top(c.n); !slices.Equal(got, c.want) {
			t.Errorf("Top(%d) = %v, want %v (most likely first, ties in action order)", c.n, got, c.want)
		}
	}
}

func TestExplainFirstState(t *testing.T) {
	cfg := config.Default()
	cfg.EnvID, cfg.Prior = "Walk-test", "scripted:0.9"
	// The env is seeded, then reset: the text view is walk's first state.
	w := &walk{}
	w.Seed(5)
	w.Reset(make([]float32, 1))
	x, err := ExplainFirstState(context.Background(), cfg, 5)
	if err != nil || x.TextView != w.TextView() || x.Prior != "scripted:0.9" || x.Probs[2] < 0.9 {
		t.Fatalf("scripted at seed 5: %+v, %v; want the text %q and the expert's action most likely", x, err, w.TextView())
	}
	cfg.Prior = "none"
	if _, err := ExplainFirstState(context.Background(), cfg, 5); err == nil || !strings.Contains(err.Error(), "config key prior") {
		t.Fatalf("prior none: %v", err)
	}
	cfg.EnvID = "NoSuchEnv-v0"
	if _, err := ExplainFirstState(context.Background(), cfg, 5); err == nil || !strings.Contains(err.Error(), "NoSuchEnv-v0") {
		t.Fatalf("unknown env: %v", err)
	}
}
