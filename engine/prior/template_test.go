package prior

import (
	"context"
	"strings"
	"testing"

	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/env"
)

// TestClevrV1PromptBytes pins clevr-v1's prompt byte for byte: its version
// is in every cache key, so its text may never change under it.
func TestClevrV1PromptBytes(t *testing.T) {
	q := clevrQuestion("Task: Push the red ball to the left of the blue ball.\nBalls (x right, y forward, metres): red (0.3, -0.1)")
	want0 := "A robot pushes one of five balls on a table in one of eight directions, one push at a time.\n" +
		"Task: Push the red ball to the left of the blue ball.\nBalls (x right, y forward, metres): red (0.3, -0.1)\n\n" +
		"Which ball should the robot push next to follow the instruction?\n" +
		"A. red\nB. blue\nC. green\nD. purple\nE. cyan\n" +
		"Answer with the letter of one option.\nAnswer:"
	if got := q.Prompt(0, ""); got != want0 {
		t.Errorf("clevr-v1 ball prompt changed:\n%q\nwant\n%q", got, want0)
	}
	if got := q.Prompt(1, "blue"); !strings.Contains(got, "\n\nThe robot pushes the blue ball. In which direction should it push?\nA. left\n") {
		t.Errorf("clevr-v1 direction prompt changed:\n%q", got)
	}
}

// sceneEnv is a stand-in with CLEVR-Robot's instruction and positions.
type sceneEnv struct {
	env.Env
	pos   [5][2]float64
	instr string
}

func (s sceneEnv) Spec() env.Spec            { return env.Spec{ID: "CLEVR-Robot-v0"} }
func (s sceneEnv) Instruction() string       { return s.instr }
func (s sceneEnv) Positions() [5][2]float64  { return s.pos }
func (s sceneEnv) TextView() string          { return "coarse view" }
func (s sceneEnv) ActionNames() []string     { return nil }
func (s sceneEnv) ActionFactors() [][]string { return clevrQuestion("").Factors }

type plainEnv struct{ env.Env }

func (plainEnv) Spec() env.Spec        { return env.Spec{ID: "Plain-v0"} }
func (plainEnv) TextView() string      { return "plain" }
func (plainEnv) ActionNames() []string { return []string{"a", "b"} }

func TestClevrCompact(t *testing.T) {
	e := sceneEnv{
		pos:   [5][2]float64{{0.301, -0.119}, {-0.2, 0.44}, {-0.009, 0.0099}, {-0.46, -0.18}, {0.52, 0.6}},
		instr: "Push the red ball to the left of the blue ball",
	}
	q, err := QuestionWith(e, ClevrCompact)
	if err != nil {
		t.Fatal(err)
	}
	wantText := "Task: Push the red ball to the left of the blue ball.\nred 0.30 -0.12 blue -0.20 0.44 green 0.00 0.00 purple -0.46 -0.18 cyan 0.52 0.60"
	if q.Text != wantText {
		t.Errorf("text\n%q\nwant\n%q", q.Text, wantText)
	}
	want0 := wantText + "\n\nBall?\nA. red\nB. blue\nC. green\nD. purple\nE. cyan\nAnswer:"
	if got := q.Prompt(0, ""); got != want0 {
		t.Errorf("ball prompt\n%q\nwant\n%q", got, want0)
	}
	p1 := q.Prompt(1, "red")
	if !strings.Contains(p1, "\n\nPush red. Direction?\nA. left\n") || !strings.HasSuffix(p1, "\nAnswer:") {
		t.Errorf("direction prompt %q", p1)
	}
	for k, p := range []string{want0, p1} {
		if n := len(strings.Fields(p)); n > 64 {
			t.Errorf("question %d is %d words, the compact template's budget is 64", k, n)
		}
	}
	if _, err := QuestionWith(plainEnv{}, ClevrCompact); err == nil || !strings.Contains(err.Error(), "Plain-v0") {
		t.Errorf("an env without positions: err %v, want one naming the env", err)
	}
	if q, err := QuestionFor(e); err != nil || q.Text != "coarse view" || q.Template.Version != "clevr-v1" {
		t.Errorf("QuestionFor must keep the env's template and view: %q %v", q.Text, err)
	}
}

func TestTemplateByVersion(t *testing.T) {
	for _, v := range []string{"clevr-v1", "clevr-compact-v1", "clevr-rel-v1", "generic-v1"} {
		if tm, err := TemplateByVersion(v); err != nil || tm.Version != v {
			t.Errorf("%s: %v %v", v, tm.Version, err)
		}
	}
	_, err := TemplateByVersion("clevr-v9")
	if err == nil || !strings.Contains(err.Error(), "clevr-compact-v1, clevr-rel-v1, clevr-v1, generic-v1") {
		t.Errorf("unknown version: %v, want an error listing the known ones", err)
	}
}

// TestPriorTemplateKey: prior_template makes the ollama: prior ask with
// that template, under its own cache keys; an unknown one names the key.
func TestPriorTemplateKey(t *testing.T) {
	f := newFakeOllama(t)
	cfg := config.Default()
	cfg.EnvID, cfg.Prior, cfg.OllamaHost, cfg.PriorCacheDir = "CLEVR-Robot-v0", "ollama:tiny", f.addr, t.TempDir()
	e := sceneEnv{pos: [5][2]float64{{0.3, -0.12}}, instr: "Push the red ball to the left of the blue ball"}
	keys := map[string]Key{}
	for _, tmpl := range []string{"", "clevr-compact-v1"} {
		cfg.PriorTemplate = tmpl
		p, err := New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		f.prompts = nil
		f.mu.Unlock()
		out := make([]float32, 40)
		k, _, err := p.Lookup(e, out)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Wait(context.Background(), []Key{k}); err != nil {
			t.Fatal(err)
		}
		p.Close()
		keys[tmpl] = k
		f.mu.Lock()
		first := f.prompts[0]
		f.mu.Unlock()
		want := "A robot pushes"
		if tmpl != "" {
			want = "Task: Push the red ball to the left of the blue ball.\nred 0.30 -0.12 blue 0.00 0.00"
		}
		if !strings.HasPrefix(first, want) {
			t.Errorf("prior_template %q: the first prompt sent is %q", tmpl, first)
		}
	}
	if keys[""] == keys["clevr-compact-v1"] {
		t.Error("the two templates share a cache key")
	}
	cfg.PriorTemplate = "clevr-v9"
	if _, err := New(context.Background(), cfg); err == nil || !strings.HasPrefix(err.Error(), "config key prior_template: ") {
		t.Errorf("unknown template: %v", err)
	}
}

func TestClevrRelative(t *testing.T) {
	e := sceneEnv{
		pos:   [5][2]float64{{0.301, -0.119}, {-0.2, 0.44}, {-0.009, 0.0099}, {-0.46, -0.18}, {0.52, 0.6}},
		instr: "Push the red ball to the left of the blue ball",
	}
	q, err := QuestionWith(e, ClevrRelative)
	if err != nil {
		t.Fatal(err)
	}
	wantText := "Task: Push the red ball to the left of the blue ball.\n" +
		"red 30 right 12 backward, blue 20 left 44 forward, green 0 right 0 forward, purple 46 left 18 backward, cyan 52 right 60 forward.\n" +
		"blue from red: 50 left 56 forward."
	if q.Text != wantText {
		t.Errorf("text\n%q\nwant\n%q", q.Text, wantText)
	}
	if got, want := q.Prompt(0, ""), wantText+"\n\nBall?\nA. red\nB. blue\nC. green\nD. purple\nE. cyan\nAnswer:"; got != want {
		t.Errorf("ball prompt\n%q\nwant\n%q", got, want)
	}
	if _, err := QuestionWith(plainEnv{}, ClevrRelative); err == nil || !strings.Contains(err.Error(), "Plain-v0") {
		t.Errorf("an env without positions: err %v, want one naming the env", err)
	}
	if tm, err := TemplateByVersion("clevr-rel-v1"); err != nil || tm.Version != ClevrRelative.Version {
		t.Errorf("TemplateByVersion(clevr-rel-v1) = %v, %v", tm.Version, err)
	}
}

func TestNamedOrder(t *testing.T) {
	balls := []string{"red", "blue", "green", "purple", "cyan"}
	for _, c := range []struct {
		instr string
		want  []int
	}{
		{"Push the red ball to the left of the blue ball", []int{0, 1}},
		{"Is there a cyan ball behind the Green ball? Then the red one.", []int{4, 2, 0}},
		{"Gather the balls", []int{}},
		{"reddish bluest", []int{}},
	} {
		got := NamedOrder(c.instr, balls)
		if len(got) != len(c.want) {
			t.Errorf("%q: %v, want %v", c.instr, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%q: %v, want %v", c.instr, got, c.want)
				break
			}
		}
	}
}
