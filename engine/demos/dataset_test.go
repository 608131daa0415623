package demos

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/env"
	"github.com/lago-rl/lago/engine/prior"
)

func readPairs(t *testing.T, path string) []Pair {
	t.Helper()
	var out []Pair
	if err := ReadLines(path, func(_ int, p Pair) error { out = append(out, p); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func buildDataset(t *testing.T, tmpl string) (string, DatasetManifest) {
	t.Helper()
	demos, _ := sharedDemos(t)
	out := filepath.Join(t.TempDir(), "data-"+tmpl)
	m, err := BuildDataset(demos, out, DatasetConfig{Template: tmpl, HeldoutFraction: 0.3, Seed: 3}, "test")
	if err != nil {
		t.Fatal(err)
	}
	return out, m
}

// oracleOllama stands in for Ollama's HTTP API: it answers each prompt with
// the label a table gives (else "A") at probability 0.99, and records the
// prompts it was sent.
type oracleOllama struct {
	addr    string
	mu      sync.Mutex
	answers map[string]string
	prompts []string
}

func newOracleOllama(t *testing.T, answers map[string]string) *oracleOllama {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &oracleOllama{addr: ln.Addr().String(), answers: answers}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/version", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"version":"0.17.4"}`) })
	mux.HandleFunc("/api/tags", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"models":[{"name":"oracle:latest","model":"oracle:latest","digest":"sha256:0123"}]}`)
	})
	mux.HandleFunc("/api/generate", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Prompt string `json:"prompt"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		o.mu.Lock()
		o.prompts = append(o.prompts, req.Prompt)
		ans, ok := o.answers[req.Prompt]
		o.mu.Unlock()
		if !ok {
			ans = " A"
		}
		top := []map[string]any{{"token": ans, "logprob": math.Log(0.99)}, {"token": " the", "logprob": math.Log(0.005)}}
		json.NewEncoder(w).Encode(map[string]any{"model": "oracle", "response": ans, "done": true,
			"logprobs": []map[string]any{{"token": ans, "logprob": math.Log(0.99), "top_logprobs": top}}})
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return o
}

func (o *oracleOllama) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	p := o.prompts
	o.prompts = nil
	return p
}

// TestDatasetPromptsAreWhatOllamaIsSent restores every demonstrated state,
// lets the ollama: scorer (prior.Ollama.Score, as the LLM prior calls it)
// ask a stand-in server about it, and checks that the requests it sent are
// byte for byte the dataset's prompts for that state, in order.
func TestDatasetPromptsAreWhatOllamaIsSent(t *testing.T) {
	demos, _ := sharedDemos(t)
	data, m := buildDataset(t, "clevr-v1")
	pairs := append(readPairs(t, filepath.Join(data, TrainFile)), readPairs(t, filepath.Join(data, HeldoutFile))...)
	if len(pairs) != m.Counts.TrainPairs+m.Counts.HeldoutPairs || len(pairs) != 2*m.DemosCounts.Steps {
		t.Fatalf("%d pairs; manifest %+v", len(pairs), m.Counts)
	}
	// A text can repeat within an episode (a push that barely moves a
	// ball) with another expert answer; such prompts are ambiguous.
	answers, ambiguous := map[string]string{}, map[string]bool{}
	for _, p := range pairs {
		if a, ok := answers[p.Prompt]; ok && a != p.Answer {
			ambiguous[p.Prompt] = true
		}
		answers[p.Prompt] = p.Answer
	}
	srv := newOracleOllama(t, nil)
	oc := prior.OllamaConfigFrom(config.Default(), "oracle")
	oc.Host, oc.Timeout = srv.addr, 5*time.Second
	o, err := prior.NewOllama(context.Background(), oc)
	if err != nil {
		t.Fatal(err)
	}
	srv.take() // the probe
	e, _ := env.Make(clevrID)
	checked := 0
	_, err = Read(demos, func(ep Episode) error {
		for _, s := range ep.Steps {
			if err := e.UnmarshalBinary(s.State); err != nil {
				return err
			}
			q, err := prior.QuestionFor(e)
			if err != nil {
				return err
			}
			want, _ := PairsFor(q, int(s.Expert[0]))
			srv.mu.Lock()
			srv.answers = map[string]string{want[0].Prompt: want[0].Answer, want[1].Prompt: want[1].Answer}
			srv.mu.Unlock()
			if _, err := o.Score(context.Background(), q); err != nil {
				return err
			}
			sent := srv.take()
			if len(sent) != 2 || sent[0] != want[0].Prompt || sent[1] != want[1].Prompt {
				t.Fatalf("episode %d step %d: the scorer sent %q, the dataset's prompts are %q", ep.Index, s.T, sent, want)
			}
			for _, w := range want {
				if _, ok := answers[w.Prompt]; !ok || !ambiguous[w.Prompt] && answers[w.Prompt] != w.Answer {
					t.Fatalf("episode %d step %d: pair %+v is not in the dataset", ep.Index, s.T, w)
				}
				checked++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked != len(pairs) {
		t.Errorf("checked %d of the dataset's %d pairs", checked, len(pairs))
	}

	// With the dataset's answers as the model, agreement is perfect on the
	// held-out states whose prompts are not ambiguous.
	dm, states, err := ReadDataset(data)
	if err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	srv.answers = answers
	srv.mu.Unlock()
	tmpl, _ := prior.TemplateByVersion(dm.Config.Template)
	var clear []State
	for _, st := range states {
		q := prior.Question{Text: st.Text, Factors: dm.Factors, Template: tmpl}
		ps, _ := PairsFor(q, st.Expert)
		if !ambiguous[ps[0].Prompt] && !ambiguous[ps[1].Prompt] {
			clear = append(clear, st)
		}
	}
	if len(clear) < len(states)/2 {
		t.Fatalf("only %d of %d held-out states are unambiguous", len(clear), len(states))
	}
	r, err := Agreement(context.Background(), o, dm, clear)
	if err != nil {
		t.Fatal(err)
	}
	if r.States != len(clear) || r.Agreement != 1 || r.Exact != 1 || r.FirstFactor != 1 {
		t.Errorf("the oracle's agreement %+v, want 1 on %d states", r, len(clear))
	}
}

// alwaysA answers label A (the red ball, then right) to everything.
type alwaysA struct{}

func (alwaysA) ScoreLabels(_ context.Context, _ string, n int) ([]float64, error) {
	p := make([]float64, n)
	p[0] = 1
	return p, nil
}

func TestAgreementCountsTheBestSet(t *testing.T) {
	data, _ := buildDataset(t, "clevr-v1")
	m, states, err := ReadDataset(data)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Agreement(context.Background(), alwaysA{}, m, states)
	if err != nil {
		t.Fatal(err)
	}
	var agree, exact, first int
	for _, s := range states {
		if slices.Contains(s.Best, 0) {
			agree++
		}
		if s.Expert == 0 {
			exact++
		}
		if slices.ContainsFunc(s.Best, func(b int) bool { return b < 8 }) {
			first++
		}
	}
	n := float64(len(states))
	if r.Agreement != float64(agree)/n || r.Exact != float64(exact)/n || r.FirstFactor != float64(first)/n {
		t.Errorf("agreement %+v; counted by hand %d, %d, %d of %d", r, agree, exact, first, len(states))
	}
}

// tableScorer answers the first factor with first and the second with
// second[chosen option's index], as a joint p1(a)·p2(b|a) factorises.
type tableScorer struct {
	first  []float64
	second [][]float64
	opts   []string
}

func (s tableScorer) ScoreLabels(_ context.Context, prompt string, n int) ([]float64, error) {
	for i, o := range s.opts {
		if strings.Contains(prompt, "Push "+o+".") {
			return s.second[i], nil
		}
	}
	return s.first, nil
}

// A batched scorer's joint distribution gives TopAction's answer, also when
// only some rows were scored (the others uniform) and when a row's own
// argmax is not the joint argmax.
func TestTopOfJointIsTopAction(t *testing.T) {
	tmpl, err := prior.TemplateByVersion("clevr-compact-v1")
	if err != nil {
		t.Fatal(err)
	}
	balls := []string{"red", "blue", "green"}
	q := prior.Question{Text: "red 0 0", Factors: [][]string{balls, {"left", "right"}}, Template: tmpl}
	for _, c := range []struct {
		first  []float64
		second [][]float64
		scored []bool
		want   int
	}{
		{[]float64{0.5, 0.3, 0.2}, [][]float64{{0.6, 0.4}, {0.0, 1.0}, {0.5, 0.5}}, []bool{true, true, false}, 0},
		{[]float64{0.2, 0.7, 0.1}, [][]float64{{1, 0}, {0.3, 0.7}, {0.5, 0.5}}, []bool{false, true, false}, 3},
		{[]float64{0.1, 0.1, 0.8}, [][]float64{{1, 0}, {1, 0}, {0.5, 0.5}}, []bool{true, true, true}, 4},
	} {
		s := tableScorer{first: c.first, second: c.second, opts: balls}
		top, err := TopAction(context.Background(), s, q)
		if err != nil || top != c.want {
			t.Fatalf("TopAction %d (%v); want %d", top, err, c.want)
		}
		joint := make([]float64, 6)
		for a := range 3 {
			for b := range 2 {
				joint[a*2+b] = c.first[a] / 2
				if c.scored[a] {
					joint[a*2+b] = c.first[a] * c.second[a][b]
				}
			}
		}
		if got, err := TopOfJoint(joint, 2); err != nil || got != c.want {
			t.Errorf("TopOfJoint(%v) = %d (%v); want %d", joint, got, err, c.want)
		}
	}
	if _, err := TopOfJoint(make([]float64, 5), 2); err == nil {
		t.Error("5 actions are not rows of 2")
	}
}

func TestAgreementOfTopsIsAgreement(t *testing.T) {
	data, _ := buildDataset(t, "clevr-v1")
	m, states, err := ReadDataset(data)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Agreement(context.Background(), alwaysA{}, m, states)
	if err != nil {
		t.Fatal(err)
	}
	got, err := AgreementOfTops(m, states, make([]int, len(states)))
	if err != nil || got != want {
		t.Errorf("AgreementOfTops %+v (%v); Agreement %+v", got, err, want)
	}
	if _, err := AgreementOfTops(m, states, nil); err == nil {
		t.Error("no tops for the states")
	}
}

func TestDatasetSplitsByEpisode(t *testing.T) {
	data, m := buildDataset(t, "clevr-v1")
	held, _ := heldoutEpisodes(m.DemosCounts.Episodes, 0.3, 3)
	_, states, err := ReadDataset(data)
	if err != nil {
		t.Fatal(err)
	}
	perEpisode := map[int]int{}
	for _, s := range states {
		if !held[s.Episode] {
			t.Errorf("held-out state of episode %d, which is not held out", s.Episode)
		}
		perEpisode[s.Episode]++
	}
	steps := 0
	Read(m.Demos, func(ep Episode) error {
		if held[ep.Index] {
			if perEpisode[ep.Index] != len(ep.Steps) {
				t.Errorf("episode %d: %d of its %d states held out", ep.Index, perEpisode[ep.Index], len(ep.Steps))
			}
		} else {
			steps += len(ep.Steps)
		}
		return nil
	})
	if len(held) != 3 || m.Counts.HeldoutEpisodes != 3 || m.Counts.TrainEpisodes != 7 || m.Counts.TrainPairs != 2*steps {
		t.Errorf("held %v, counts %+v, train steps %d", held, m.Counts, steps)
	}
	for _, c := range []struct {
		n    int
		frac float64
		want int
	}{{2, 0.01, 1}, {2, 0.99, 1}, {10, 0.2, 2}, {1000, 0.2, 200}} {
		h, err := heldoutEpisodes(c.n, c.frac, 1)
		if err != nil || len(h) != c.want {
			t.Errorf("heldoutEpisodes(%d, %v): %d held out, want %d (%v)", c.n, c.frac, len(h), c.want, err)
		}
	}
	if _, err := heldoutEpisodes(1, 0.5, 1); err == nil {
		t.Error("one episode cannot be split")
	}
}

// A data ladder: datasets that differ only in TrainEpisodes hold out the
// same states and train on prefixes of one another.
func TestDatasetTrainEpisodesKeepsTheHeldOutSet(t *testing.T) {
	full, fm := buildDataset(t, "clevr-compact-v1")
	part := filepath.Join(t.TempDir(), "part")
	pm, err := BuildDataset(fm.Demos, part, DatasetConfig{Template: "clevr-compact-v1", HeldoutFraction: 0.3, Seed: 3, TrainEpisodes: 2}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if pm.Counts.TrainEpisodes != 2 || pm.Counts.HeldoutEpisodes != fm.Counts.HeldoutEpisodes || pm.Counts.HeldoutStates != fm.Counts.HeldoutStates {
		t.Errorf("counts %+v; full %+v", pm.Counts, fm.Counts)
	}
	sameHeldout(t, full, part, "between the full dataset and the 2-episode one")
	fp, pp := readPairs(t, filepath.Join(full, TrainFile)), readPairs(t, filepath.Join(part, TrainFile))
	if len(pp) == 0 || len(pp) >= len(fp) || !slices.Equal(pp, fp[:len(pp)]) || len(pp) != pm.Counts.TrainPairs {
		t.Errorf("2-episode train pairs (%d) are not a proper prefix of the full ones (%d)", len(pp), len(fp))
	}
	if _, err := BuildDataset(fm.Demos, t.TempDir(), DatasetConfig{Template: "clevr-compact-v1", HeldoutFraction: 0.3, TrainEpisodes: -1}, "test"); err == nil || !strings.Contains(err.Error(), "-1 training episodes") {
		t.Errorf("negative TrainEpisodes: %v", err)
	}
}

func TestCompactDataset(t *testing.T) {
	demos, _ := sharedDemos(t)
	data, m := buildDataset(t, "clevr-compact-v1")
	pairs := readPairs(t, filepath.Join(data, TrainFile))
	e, _ := env.Make(clevrID)
	i := 0
	Read(demos, func(ep Episode) error {
		if m.Counts.TrainEpisodes == 0 || i >= len(pairs) {
			return nil
		}
		held, _ := heldoutEpisodes(m.DemosCounts.Episodes, 0.3, 3)
		if held[ep.Index] {
			return nil
		}
		for _, s := range ep.Steps {
			e.UnmarshalBinary(s.State)
			q, err := prior.QuestionWith(e, prior.ClevrCompact)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := PairsFor(q, int(s.Expert[0]))
			for _, w := range want {
				if pairs[i] != w {
					t.Fatalf("pair %d: %+v, want %+v", i, pairs[i], w)
				}
				if n := len(strings.Fields(w.Prompt)); n > 64 {
					t.Errorf("compact prompt of %d words: %q", n, w.Prompt)
				}
				i++
			}
		}
		return nil
	})
	if i != len(pairs) {
		t.Errorf("checked %d of %d pairs", i, len(pairs))
	}
}

func TestReadDatasetErrors(t *testing.T) {
	data, _ := buildDataset(t, "clevr-v1")
	p := filepath.Join(data, ManifestFile)
	b, _ := os.ReadFile(p)
	os.WriteFile(p, []byte(strings.Replace(string(b), `"format_version": 1`, `"format_version": 7`, 1)), 0o644)
	if _, _, err := ReadDataset(data); err == nil || !strings.Contains(err.Error(), "format version 7") || !strings.Contains(err.Error(), p) {
		t.Errorf("newer dataset version: %v", err)
	}
	os.WriteFile(p, b, 0o644)
	sp := filepath.Join(data, HeldoutStatesFile)
	os.WriteFile(sp, []byte(`{"episode":1,"t":0,"text":"x","expert":3,"best":[4]}`+"\n"), 0o644)
	if _, _, err := ReadDataset(data); err == nil || !strings.Contains(err.Error(), HeldoutStatesFile+" line 1") {
		t.Errorf("a state whose best set lacks the expert's action: %v", err)
	}
	if _, err := BuildDataset(filepath.Dir(data), t.TempDir(), DatasetConfig{Template: "clevr-v9", HeldoutFraction: 0.2}, "test"); err == nil || !strings.Contains(err.Error(), "unknown template version") {
		t.Errorf("unknown template: %v", err)
	}
}

func TestTextCeiling(t *testing.T) {
	st := func(text string, expert int, best ...int) State {
		return State{Text: text, Expert: expert, Best: append([]int{expert}, best...)}
	}
	cases := []struct {
		name   string
		states []State
		want   Ceiling
	}{
		{"every text alone: 1", []State{st("a", 1), st("b", 2)}, Ceiling{States: 2, DistinctTexts: 2, Majority: 1, Optimum: 1}},
		{"one text, two answers: the majority", []State{st("a", 1), st("a", 1), st("a", 2)},
			Ceiling{States: 3, DistinctTexts: 1, RepeatedStates: 3, Majority: 2.0 / 3, Optimum: 2.0 / 3}},
		{"a shared best action beats the majority", []State{st("a", 1), st("a", 1), st("a", 2, 3), st("a", 4, 3), st("a", 5, 3)},
			Ceiling{States: 5, DistinctTexts: 1, RepeatedStates: 5, Majority: 0.4, Optimum: 0.6}},
		{"majority ties go to the smaller action", []State{st("a", 7), st("a", 2, 7)},
			Ceiling{States: 2, DistinctTexts: 1, RepeatedStates: 2, Majority: 0.5, Optimum: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := TextCeiling(c.states)
			if math.Abs(got.Majority-c.want.Majority) > 1e-12 || math.Abs(got.Optimum-c.want.Optimum) > 1e-12 {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
			got.Majority, got.Optimum, c.want.Majority, c.want.Optimum = 0, 0, 0, 0
			if got != c.want {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestDatasetAugment(t *testing.T) {
	plain, pm := buildDataset(t, "clevr-rel-v1")
	build := func() (string, DatasetManifest) {
		out := filepath.Join(t.TempDir(), "aug")
		m, err := BuildDataset(pm.Demos, out, DatasetConfig{Template: "clevr-rel-v1", HeldoutFraction: 0.3, Seed: 3, Augment: 2}, "test")
		if err != nil {
			t.Fatal(err)
		}
		return out, m
	}
	aug, am := build()
	again, _ := build()
	if am.Counts.AugmentedStates != 2*(pm.Counts.TrainPairs/2) || am.Counts.TrainPairs != 3*pm.Counts.TrainPairs {
		t.Errorf("augment 2: counts %+v; without: %+v", am.Counts, pm.Counts)
	}
	sameHeldout(t, plain, aug, "with augment 2: the held-out side must not be augmented")
	a, b := readPairs(t, filepath.Join(aug, TrainFile)), readPairs(t, filepath.Join(again, TrainFile))
	if !slices.Equal(a, b) {
		t.Error("two builds of one config differ")
	}
	p := readPairs(t, filepath.Join(plain, TrainFile))
	if len(a) != 3*len(p) {
		t.Fatalf("%d augmented pairs for %d plain ones", len(a), len(p))
	}
	balls := pm.Factors[0]
	for s := range len(p) / 2 {
		// Each state: its own two pairs, then two views of two pairs each.
		group := a[6*s : 6*s+6]
		if !slices.Equal(group[:2], p[2*s:2*s+2]) {
			t.Fatalf("state %d: the original pairs are not first", s)
		}
		for v := range 3 {
			ball, dir := group[2*v], group[2*v+1]
			if v > 0 && ball.Prompt == group[0].Prompt {
				t.Errorf("state %d view %d: the same text as the original", s, v)
			}
			// The direction question names the ball the ball answer picks.
			named := balls[strings.Index(prior.Labels, strings.TrimSpace(ball.Answer))]
			if !strings.Contains(dir.Prompt, "Push "+named+". Direction?") {
				t.Errorf("state %d view %d: ball answer %q (%s), direction prompt %q", s, v, ball.Answer, named, dir.Prompt)
			}
		}
	}
	// Another augment seed: other views, the same originals and held-out side.
	other := filepath.Join(t.TempDir(), "aug-seed")
	if _, err := BuildDataset(pm.Demos, other, DatasetConfig{Template: "clevr-rel-v1", HeldoutFraction: 0.3, Seed: 3, Augment: 2, AugmentSeed: 9}, "test"); err != nil {
		t.Fatal(err)
	}
	o := readPairs(t, filepath.Join(other, TrainFile))
	same := 0
	for s := range len(p) / 2 {
		if !slices.Equal(o[6*s:6*s+2], p[2*s:2*s+2]) {
			t.Fatalf("augment seed 9, state %d: the original pairs changed", s)
		}
		if o[6*s+2] == a[6*s+2] {
			same++
		}
	}
	if same > len(p)/2/10 {
		t.Errorf("augment seed 9 drew the same first view as seed 0 in %d of %d states", same, len(p)/2)
	}
	sameHeldout(t, aug, other, "with another augment seed")
	if _, err := BuildDataset(pm.Demos, t.TempDir(), DatasetConfig{Template: "clevr-rel-v1", HeldoutFraction: 0.3, Augment: -1}, "test"); err == nil || !strings.Contains(err.Error(), "augment -1") {
		t.Errorf("negative Augment: %v", err)
	}
}

// sameHeldout fails the test unless datasets a and b hold the same,
// non-empty held-out files.
func sameHeldout(t *testing.T, a, b, why string) {
	t.Helper()
	for _, f := range []string{HeldoutFile, HeldoutStatesFile} {
		x, _ := os.ReadFile(filepath.Join(a, f))
		y, _ := os.ReadFile(filepath.Join(b, f))
		if len(x) == 0 || string(x) != string(y) {
			t.Errorf("%s differs %s", f, why)
		}
	}
}
