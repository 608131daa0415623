package scenetext

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lago-rl/lago/engine/clevr"
	"github.com/lago-rl/lago/engine/lm/tokenizer"
	"github.com/lago-rl/lago/engine/prior"
)

func testConfig(scenes int, seed uint64) Config {
	return Config{EnvID: "CLEVR-Robot-v0", Scenes: scenes, HeldoutScenes: max(1, scenes/10), Seed: seed, Template: "clevr-rel-v1"}
}

func TestDirection(t *testing.T) {
	for _, tt := range []struct {
		off  [2]int
		want string
	}{
		{[2]int{10, 0}, "right"}, {[2]int{10, 4}, "right"}, {[2]int{10, 6}, "forward-right"},
		{[2]int{10, 10}, "forward-right"}, {[2]int{4, 10}, "forward"}, {[2]int{0, 10}, "forward"},
		{[2]int{-10, 10}, "forward-left"}, {[2]int{-10, 2}, "left"}, {[2]int{-10, -2}, "left"},
		{[2]int{-10, -10}, "backward-left"}, {[2]int{0, -10}, "backward"}, {[2]int{10, -10}, "backward-right"},
		{[2]int{56, -42}, "backward-right"}, {[2]int{56, -20}, "right"},
	} {
		if got := clevr.DirNames[Direction(tt.off)]; got != tt.want {
			t.Errorf("Direction(%v) = %s, want %s", tt.off, got, tt.want)
		}
	}
}

func TestIsRelation(t *testing.T) {
	for _, tt := range []struct {
		off  [2]int
		rel  clevr.Relation
		want bool
	}{
		{[2]int{-2, 0}, clevr.Left, true}, {[2]int{0, 8}, clevr.Left, false}, {[2]int{4, 0}, clevr.Right, true},
		{[2]int{-4, 0}, clevr.Right, false}, {[2]int{0, 2}, clevr.Front, true}, {[2]int{6, -2}, clevr.Front, false},
		{[2]int{0, -2}, clevr.Behind, true}, {[2]int{0, 0}, clevr.Behind, false},
	} {
		if got := IsRelation(tt.off, tt.rel); got != tt.want {
			t.Errorf("IsRelation(%v, %v) = %v, want %v", tt.off, tt.rel, got, tt.want)
		}
	}
}

var offsetLine = regexp.MustCompile(`\n(\w+) from (\w+): (\d+) (left|right) (\d+) (forward|backward)\.$`)

// TestSceneAnswersMatchTheView checks the computed answers against what the
// prompt itself says: the named direction against the view's offset line,
// the moved ball against the instruction, and each kind's options.
func TestSceneAnswersMatchTheView(t *testing.T) {
	g, err := NewGenerator(testConfig(50, 3))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for i := range 50 {
		view, pairs, err := g.Scene(i)
		if err != nil {
			t.Fatal(err)
		}
		if len(pairs) != len(Kinds) {
			t.Fatalf("scene %d: %d pairs, want %d", i, len(pairs), len(Kinds))
		}
		for k, p := range pairs {
			if p.Kind != Kinds[k] || !strings.HasPrefix(p.Prompt, view+"\n\n") || !strings.HasSuffix(p.Prompt, "\nAnswer:") {
				t.Fatalf("scene %d pair %d (%s) is not the view, a question and Answer:\n%s", i, k, p.Kind, p.Prompt)
			}
			if len(p.Answer) != 2 || p.Answer[0] != ' ' || !strings.Contains(p.Prompt, "\n"+p.Answer[1:]+". ") {
				t.Fatalf("scene %d pair %d: answer %q is not one of the prompt's options:\n%s", i, k, p.Answer, p.Prompt)
			}
		}
		m := offsetLine.FindStringSubmatch(view)
		if m == nil {
			t.Fatalf("scene %d: no offset line in the view:\n%s", i, view)
		}
		dx, _ := strconv.Atoi(m[3])
		dy, _ := strconv.Atoi(m[5])
		if m[4] == "left" {
			dx = -dx
		}
		if m[6] == "backward" {
			dy = -dy
		}
		want := fmt.Sprintf("%s from %s. Direction?", m[1], m[2])
		named := pairs[0]
		if !strings.Contains(named.Prompt, "\n\n"+want+"\n") {
			t.Fatalf("scene %d: the named question does not ask %q:\n%s", i, want, named.Prompt)
		}
		if got, w := named.Answer, " "+prior.Labels[Direction([2]int{dx, dy}):][:1]; got != w {
			t.Errorf("scene %d: named direction %s, the view's offset (%d, %d) says %s", i, got, dx, dy, w)
		}
		moves := pairs[4]
		ball := clevr.Colours[moves.Answer[1]-'A']
		if !strings.Contains(strings.SplitN(view, "\n", 2)[0], ball) {
			t.Errorf("scene %d: moved ball %s is not in the instruction %q", i, ball, strings.SplitN(view, "\n", 2)[0])
		}
	}
}

func readAll(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, f := range []string{TrainFile, HeldoutFile, ManifestFile} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		out[f] = b
	}
	return out
}

func TestBuildIsDeterministicBySeed(t *testing.T) {
	tmp := t.TempDir()
	build := func(name string, seed uint64) map[string][]byte {
		if _, err := Build(testConfig(20, seed), filepath.Join(tmp, name), "test", nil); err != nil {
			t.Fatal(err)
		}
		return readAll(t, filepath.Join(tmp, name))
	}
	a, b, c := build("a", 5), build("b", 5), build("c", 6)
	for f := range a {
		if !bytes.Equal(a[f], b[f]) {
			t.Errorf("%s differs between two builds with seed 5", f)
		}
	}
	if bytes.Equal(a[TrainFile], c[TrainFile]) {
		t.Error("seeds 5 and 6 wrote the same train.jsonl")
	}
	if lines := bytes.Count(a[TrainFile], []byte("\n")); lines != 18*len(Kinds) {
		t.Errorf("train.jsonl has %d lines, want %d (18 scenes × %d kinds)", lines, 18*len(Kinds), len(Kinds))
	}
	if _, err := Build(testConfig(20, 5), filepath.Join(tmp, "a"), "test", nil); err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Errorf("a second build into the same directory: %v, want an 'already holds' error", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.EnvID = "CartPole-v1" }, "want CLEVR-Robot-v0"},
		{func(c *Config) { c.Scenes = 1 }, "at least 2"},
		{func(c *Config) { c.HeldoutScenes = 20 }, "held-out scenes"},
		{func(c *Config) { c.Template = "clevr-v1" }, "no view of its own"},
		{func(c *Config) { c.Template = "nope" }, "unknown template"},
	} {
		cfg := testConfig(20, 1)
		tt.edit(&cfg)
		if _, err := NewGenerator(cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: error %v, want one containing %q", cfg, err, tt.want)
		}
	}
}

// TestGuidancePromptsTokenizeWithTheCorpusVocabulary builds the vocabulary
// `lago lm train` builds over a corpus (tokenizer.Build over its prompts and
// answers) and encodes the guidance dataset's prompts — both questions of
// clevr-rel-v1, every ball, every answer — of scenes the corpus did not
// draw: none may fall back to byte tokens or <unk>, so a model pretrained on
// the corpus reads the fine-tuning data with whole tokens it has trained.
func TestGuidancePromptsTokenizeWithTheCorpusVocabulary(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "corpus")
	if _, err := Build(testConfig(1000, 1), dir, "test", nil); err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, f := range []string{TrainFile, HeldoutFile} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var p Pair
			if err := json.Unmarshal([]byte(line), &p); err != nil {
				t.Fatal(err)
			}
			texts = append(texts, p.Prompt, p.Answer)
		}
	}
	v := tokenizer.Build(texts)
	// pieces encodes text with vocabulary u, as a prompt or (cont) as the
	// answer continuing one, and returns the tokens' strings.
	pieces := func(u *tokenizer.Vocab, text string, cont bool) []string {
		uu := *u
		if cont {
			uu.AddBOS, uu.AddSpacePrefix = false, false
		}
		var out []string
		for _, id := range uu.Encode(text) {
			out = append(out, u.Tokens[id])
		}
		return out
	}
	// check wants no byte or <unk> token, and every word piece whole: the
	// same pieces as a vocabulary built from the text itself.
	check := func(what, text string, cont bool) {
		got := pieces(v, text, cont)
		for _, tok := range got {
			if id, _ := v.ID(tok); v.Types[id] != tokenizer.TypeNormal && id != v.BOS {
				t.Fatalf("%s: token %q (type %d) is not a word piece of the corpus:\n%s", what, tok, v.Types[id], text)
			}
		}
		if want := pieces(tokenizer.Build([]string{text}), text, cont); !slices.Equal(got, want) {
			t.Fatalf("%s: the corpus vocabulary splits a word:\n got %q\nwant %q", what, got, want)
		}
	}
	e, err := clevr.New(clevr.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	obs := make([]float32, e.ObservationSpace().Dim())
	for i := range 200 {
		e.Seed(1_000_000 + uint64(i))
		e.Reset(obs)
		q, err := prior.QuestionWith(e, prior.ClevrRelative)
		if err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("scene %d ball question", i), q.Prompt(0, ""), false)
		for _, ball := range q.Factors[0] {
			check(fmt.Sprintf("scene %d direction question for %s", i, ball), q.Prompt(1, ball), false)
		}
	}
	for i := range clevr.NumDirs {
		check("answer", " "+prior.Labels[i:i+1], true)
	}
}
