package prior

import (
	"context"
	"io"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/env"
	_ "github.com/lago-rl/lago/engine/envs" // MetaWorld-<task>-v3
	"github.com/lago-rl/lago/engine/lm"
	"github.com/lago-rl/lago/engine/lm/gguf"
	"github.com/lago-rl/lago/engine/lm/tokenizer"
	"github.com/lago-rl/lago/engine/runfile"
)

// metaWorldState is a Meta-World env reset with seed 1, closed at the test's end.
func metaWorldState(t *testing.T, id string) env.Env {
	t.Helper()
	e, err := env.Make(id)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := e.(interface{ Close() }); ok {
		t.Cleanup(c.Close)
	}
	e.Seed(1)
	e.Reset(make([]float32, e.ObservationSpace().Dim()))
	return e
}

// TestMetaWorldPromptBytes pins metaworld-v1's prompt for push's first
// state byte for byte: the version is in every cache key, so neither the
// template's wording nor engine/metaworld's text view may change under it.
func TestMetaWorldPromptBytes(t *testing.T) {
	e := metaWorldState(t, "MetaWorld-push-v3")
	q, err := QuestionFor(e)
	if err != nil {
		t.Fatal(err)
	}
	if q.Template.Version != "metaworld-v1" {
		t.Fatalf("template %q for %s, want metaworld-v1", q.Template.Version, e.Spec().ID)
	}
	want := "A robot arm with a two-finger gripper works on a table, one skill at a time. " +
		"Positions are in metres; the gripper's opening is 1.0 when open and about 0.3 when closed.\n" +
		"Task: Push the puck to the goal.\n" +
		"Gripper (x right, y forward, z up, metres): (0.00, 0.60, 0.20), open 1.0\n" +
		"Puck: (0.08, 0.62, 0.02)\n" +
		"Goal: (0.00, 0.84, 0.02)\n\n" +
		"Which skill should the robot use now to complete the task?\n" +
		"A. move above the puck\n" +
		"B. lower the open gripper around the puck\n" +
		"C. close the gripper on the puck\n" +
		"D. push the puck to the goal\n" +
		"Answer with the letter of one option.\nAnswer:"
	if got := q.Prompt(0, ""); got != want {
		t.Errorf("metaworld-v1 prompt changed (bump the version if meant):\n%q\nwant\n%q", got, want)
	}
	if n := q.NumActions(); n != e.(env.Skilled).NumSkills() {
		t.Errorf("%d options for %d skills", n, e.(env.Skilled).NumSkills())
	}
	if _, err := TemplateByVersion("metaworld-v1"); err != nil {
		t.Errorf("metaworld-v1 is not a known version (prior_template): %v", err)
	}
	// Asked of an env without skills, the question has no answer among
	// the options.
	if _, err := QuestionWith(plainEnv{}, MetaWorld); err == nil || !strings.Contains(err.Error(), "declares no skills") {
		t.Errorf("metaworld-v1 on an env without skills: %v, want an error saying so", err)
	}
}

// skillPrior builds the config's prior and returns env e's weights over
// its skills, waiting for the service's answer, the state's key and the
// model calls made for it.
func skillPrior(t *testing.T, cfg config.Config, e env.Env) ([]float64, Key, float64) {
	t.Helper()
	p, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	out := make([]float32, e.(env.Skilled).NumSkills())
	k, ok, err := p.Lookup(e, out)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := p.Wait(ctx, []Key{k}); err != nil {
			t.Fatal(err)
		}
		if !p.Get(k, out) {
			t.Fatal("no prior after Wait")
		}
	}
	w := make([]float64, len(out))
	for i, x := range out {
		w[i] = float64(x)
	}
	return w, k, p.Metrics()["prior_llm_calls"]
}

func softmax(s []float64) []float64 {
	p := make([]float64, len(s))
	z := 0.0
	for i, x := range s {
		p[i] = math.Exp(x)
		z += p[i]
	}
	for i := range p {
		p[i] /= z
	}
	return p
}

func closeTo(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d weights, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > tol {
			t.Fatalf("%s: weights %v, want %v", what, got, want)
		}
	}
}

// TestOllamaSkillWeights: an ollama: prior on Meta-World push asks which
// of its four skills to use, and the mixture weights are the softmax of
// the skill labels' log-probabilities; cache keys differ by template
// version; a one-skill task (reach) is answered without asking.
func TestOllamaSkillWeights(t *testing.T) {
	f := newFakeOllama(t)
	scores := []float64{-2.1, -0.4, -3.3, -1.2}
	f.mu.Lock()
	f.scores = scores
	f.mu.Unlock()
	cfg := config.Default()
	cfg.EnvID = "MetaWorld-push-v3"
	cfg.Prior = "ollama:tiny"
	cfg.OllamaHost = f.addr
	cfg.OllamaTimeout = 5
	cfg.PriorCacheDir = filepath.Join(t.TempDir(), "cache")
	e := metaWorldState(t, cfg.EnvID)

	w, k, calls := skillPrior(t, cfg, e)
	closeTo(t, "ollama:tiny on push", w, softmax(scores), 1e-6)
	if calls != 1 {
		t.Errorf("%v model calls for one state, want 1", calls)
	}
	f.mu.Lock()
	last := f.prompts[len(f.prompts)-1]
	f.mu.Unlock()
	if !strings.HasSuffix(last, "\nA. move above the puck\nB. lower the open gripper around the puck\nC. close the gripper on the puck\nD. push the puck to the goal\nAnswer with the letter of one option.\nAnswer:") {
		t.Errorf("prompt does not offer push's skills:\n%s", last)
	}

	// lago prior show explains the state with the same weights.
	p, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	x, err := Explain(context.Background(), p, e)
	p.Close()
	if err != nil {
		t.Fatal(err)
	}
	xw := make([]float64, len(x.Probs))
	for i, v := range x.Probs {
		xw[i] = float64(v)
	}
	closeTo(t, "Explain", xw, w, 0)
	if len(x.Actions) != 4 || x.Actions[3] != "push the puck to the goal" {
		t.Errorf("Explain names the options %q, want push's skills", x.Actions)
	}

	// The same state under another template is another question: its own
	// key, its own cache entry.
	cfg.PriorTemplate = "generic-v1"
	if _, kg, calls := skillPrior(t, cfg, e); kg == k || calls != 1 {
		t.Fatalf("generic-v1: key equal to metaworld-v1's %v, %v model calls; want another key, asked anew", kg == k, calls)
	}
	// And the first template's answer is in the cache under its key.
	cfg.PriorTemplate = "metaworld-v1"
	w2, k2, calls := skillPrior(t, cfg, e)
	if k2 != k || calls != 0 {
		t.Fatalf("metaworld-v1 again: key equal %v, %v model calls; want the cached answer", k2 == k, calls)
	}
	closeTo(t, "cached", w2, w, 0)

	// lago prior warm fills the cache from Meta-World's states too.
	cfg.NumEnvs, cfg.NumWorkers = 2, 1
	p, err = New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := WarmEnv(context.Background(), p, cfg, 1, WarmOptions{Steps: 40, Wait: time.Minute})
	p.Close()
	if err != nil || !rep.Drained || rep.Usage.Calls < 1 {
		t.Fatalf("warm on push: %+v, %v; want its states scored", rep, err)
	}

	cfg.EnvID = "MetaWorld-reach-v3"
	cfg.PriorTemplate = ""
	if w, _, calls := skillPrior(t, cfg, metaWorldState(t, cfg.EnvID)); len(w) != 1 || w[0] != 1 || calls != 0 {
		t.Fatalf("reach's one skill: weights %v after %v model calls; want [1] without asking", w, calls)
	}
}

// TestLMSkillWeights: an lm:PATH.gguf prior's weights over push's skills
// are the softmax of the skill labels' scores, the log of the summed
// probabilities of the tokens that read as each label, computed here from
// the model's whole next-token distribution.
func TestLMSkillWeights(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "tiny.gguf")
	if err := runfile.WriteAtomic(model, 0o644, func(w io.Writer) error { return gguf.WriteTinyLlama(w, nil, 1) }); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Device = "cpu"
	cfg.EnvID = "MetaWorld-push-v3"
	cfg.Prior = "lm:" + model
	cfg.PriorCacheDir = filepath.Join(dir, "cache")
	e := metaWorldState(t, cfg.EnvID)
	w, _, _ := skillPrior(t, cfg, e)

	q, err := QuestionFor(e)
	if err != nil {
		t.Fatal(err)
	}
	s, err := lm.OpenScorer(model, lm.ScorerOptions{Device: "cpu", Engine: lm.EngineF16KV}) // the lm: prior's engine
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows, err := s.NextLogprobs(context.Background(), []string{q.Prompt(0, "")})
	if err != nil {
		t.Fatal(err)
	}
	v := s.Vocab()
	scores := make([]float64, len(q.Factors[0]))
	for i := range scores {
		p := 0.0
		for id := range v.Len() {
			if v.Types[id] != tokenizer.TypeControl && normalizeToken(v.Piece(id)) == Labels[i:i+1] {
				p += math.Exp(float64(rows[0][id]))
			}
		}
		scores[i] = math.Log(p)
	}
	closeTo(t, "lm:tiny.gguf on push", w, softmax(scores), 1e-5)

	// lago prior show asks lago's engine too (an lm: prior has no Ollama).
	p, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	x, err := Explain(context.Background(), p, e)
	if err != nil {
		t.Fatal(err)
	}
	xw := make([]float64, len(x.Probs))
	for i, v := range x.Probs {
		xw[i] = float64(v)
	}
	closeTo(t, "Explain", xw, w, 1e-6)
	t.Logf("tiny model's weights over push's skills: %.4f", w)
}
