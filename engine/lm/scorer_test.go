package lm

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/lm/tokenizer"
)

// scorerModel writes a random model whose vocabulary holds the labels and
// the prompt words, and opens it for scoring.
func scorerModel(t *testing.T, batch int) (*Scorer, [][]float32, Shape) {
	return scorerModelWith(t, ScorerOptions{Device: "cpu", Batch: batch})
}

// scorerModelWith is scorerModel with the scorer's options.
func scorerModelWith(t *testing.T, opt ScorerOptions) (*Scorer, [][]float32, Shape) {
	t.Helper()
	v := tokenizer.Build([]string{"Which ball should the robot push next? A. red B. blue C. green D. cyan E. purple Answer:",
		"The robot pushes the red ball. In which direction? A B C D E F G H Answer:"})
	s := Shape{Vocab: v.Len(), Dim: 32, Layers: 2, Heads: 4, KVHeads: 2, FFN: 64, Context: 64, RopeBase: 10000, NormEps: 1e-5}
	w := randomWeights(s, 7, 0.2)
	m, err := FromWeights(s, w, torch.Float32, torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := Export(path, m, v, "scorer-test", F32); err != nil {
		t.Fatal(err)
	}
	m.Free()
	sc, err := OpenScorer(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sc.Close)
	return sc, w, s
}

var scorerPrompts = []string{
	"Which ball should the robot push next? A. red B. blue Answer:",
	"A",
	"The robot pushes the red ball. In which direction? A B C D E F G H Answer:",
	"green cyan purple",
	"Which ball?",
}

// TestScorerMatchesReference: batched, padded, sorted scoring with the
// plain float32 engine gives the last-position log-softmax of the float64
// reference forward.
func TestScorerMatchesReference(t *testing.T) {
	for _, batch := range []int{1, 2, 64} {
		sc, w, s := scorerModelWith(t, ScorerOptions{Device: "cpu", Batch: batch, Engine: EngineF32})
		rows, err := sc.NextLogprobs(context.Background(), scorerPrompts)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range scorerPrompts {
			ids := sc.vocab.Encode(p)
			ref := referenceLogits(s, w, ids)
			last := ref[len(ids)-1]
			mx := math.Inf(-1)
			for _, x := range last {
				mx = math.Max(mx, x)
			}
			var z float64
			for _, x := range last {
				z += math.Exp(x - mx)
			}
			for v, x := range last {
				if d := math.Abs(float64(rows[i][v]) - (x - mx - math.Log(z))); d > 2e-5 {
					t.Fatalf("batch %d prompt %d token %d: |Δ logprob| = %g", batch, i, v, d)
				}
			}
		}
	}
}

// TestEngines: the f16 engines move the log-probabilities off the float32
// engine's by about f16's relative precision (2⁻¹¹), not more, and off each
// other (f16fa's V accumulator is f16 too); each names its own cache keys,
// f16fa is the default, and an unknown engine is an error naming the
// known ones.
func TestEngines(t *testing.T) {
	rows := map[string][][]float32{}
	for _, e := range []string{EngineF32, EngineF16KV, ""} {
		sc, _, _ := scorerModelWith(t, ScorerOptions{Device: "cpu", Engine: e})
		r, err := sc.NextLogprobs(context.Background(), scorerPrompts)
		if err != nil {
			t.Fatal(err)
		}
		if e == "" {
			e = EngineF16FA
		}
		rows[e] = r
		if want := "lago-lm-" + e + ":sha256:"; !strings.HasPrefix(sc.Digest(), want) {
			t.Errorf("engine %s: digest %q, want the prefix %q", e, sc.Digest(), want)
		}
	}
	for _, pair := range [][2]string{{EngineF32, EngineF16KV}, {EngineF16KV, EngineF16FA}, {EngineF32, EngineF16FA}} {
		a, b := rows[pair[0]], rows[pair[1]]
		var most float64
		for i := range a {
			for v := range a[i] {
				most = math.Max(most, math.Abs(float64(a[i][v]-b[i][v])))
			}
		}
		if most < 1e-6 || most > 1e-2 {
			t.Errorf("max |Δ logprob| between %s and %s = %g, want in [1e-6, 1e-2]", pair[0], pair[1], most)
		}
	}
	if _, err := ParseEngine("f16"); err == nil || !strings.Contains(err.Error(), "f16fa, f16kv, f32") {
		t.Errorf("ParseEngine(f16): %v", err)
	}
}

// fakeQuestion renders prompts like engine/prior's Question.Prompt.
func fakeQuestion(state int) Query {
	balls := []string{"red", "blue", "green", "cyan", "purple"}
	return Query{
		Factors: [][]string{balls, {"1", "2", "3", "4", "5", "6", "7", "8"}},
		Prompt: func(k int, chosen string) string {
			if k == 0 {
				return fmt.Sprintf("Which ball should the robot push next? %s Answer:", strings.Repeat("A. red ", 1+state%3))
			}
			return "The robot pushes the " + chosen + " ball. In which direction? A B C D E F G H Answer:"
		},
	}
}

func TestScoreBatchFactored(t *testing.T) {
	sc, _, _ := scorerModel(t, 8)
	qs := make([]Query, 10)
	for i := range qs {
		qs[i] = fakeQuestion(i)
	}
	batch, err := sc.ScoreBatch(context.Background(), qs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range batch {
		var sum float64
		for _, p := range r.Probs {
			sum += p
		}
		if len(r.Probs) != 40 || math.Abs(sum-1) > 1e-9 || r.Calls < 2 || r.Calls > 1+FactorTopK {
			t.Errorf("state %d: %d probs summing to %g, %d calls", i, len(r.Probs), sum, r.Calls)
		}
	}
	// Concurrent Score calls (the prior service's workers) give the same
	// answers as the batch.
	var wg sync.WaitGroup
	got := make([]Scored, len(qs))
	errs := make([]error, len(qs))
	for i := range qs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = sc.Score(context.Background(), qs[i])
		}()
	}
	wg.Wait()
	for i := range qs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		for j := range got[i].Probs {
			if math.Abs(got[i].Probs[j]-batch[i].Probs[j]) > 1e-6 {
				t.Fatalf("state %d action %d: Score %g, ScoreBatch %g", i, j, got[i].Probs[j], batch[i].Probs[j])
			}
		}
	}
	if !strings.HasPrefix(sc.Digest(), "lago-lm-f16fa:sha256:") {
		t.Errorf("digest %q", sc.Digest())
	}
}

// prefixQuestion renders prompts like engine/prior's: the state's view
// first, then the factor's question, so both factors' prompts share the view.
func prefixQuestion(state int) Query {
	balls := []string{"red", "blue", "green", "cyan", "purple"}
	view := "Which ball " + strings.Repeat("red blue ", state%4) + strings.Repeat("green ", state%3) + "?"
	return Query{
		Factors: [][]string{balls, {"A", "B", "C", "D", "E", "F", "G", "H"}},
		Prompt: func(k int, chosen string) string {
			if k == 0 {
				return view + " A. red B. blue C. green D. cyan E. purple Answer:"
			}
			return view + " The robot pushes the " + chosen + " ball. In which direction? A B C D E F G H Answer:"
		},
	}
}

// wholePrompts scores q the plain way: every prompt a full forward.
func wholePrompts(t *testing.T, sc *Scorer, q Query) []float64 {
	t.Helper()
	rows, err := sc.NextLogprobs(context.Background(), []string{q.Prompt(0, "")})
	if err != nil {
		t.Fatal(err)
	}
	first := sc.labelDistribution(rows[0], len(q.Factors[0]))
	inner := len(q.Factors[1])
	joint := make([]float64, len(first)*inner)
	for a, p := range first {
		for b := range inner {
			joint[a*inner+b] = p / float64(inner)
		}
	}
	for _, a := range topIndices(first, sc.topK, FactorCoverage) {
		rows, err := sc.NextLogprobs(context.Background(), []string{q.Prompt(1, q.Factors[0][a])})
		if err != nil {
			t.Fatal(err)
		}
		for b, p := range sc.labelDistribution(rows[0], inner) {
			joint[a*inner+b] = first[a] * p
		}
	}
	return joint
}

// TestScoreBatchReusesSharedPrefix: scoring second-factor prompts as
// continuations of the first prompt's cached keys and values (different
// shared lengths, padding in both passes, several batch sizes) gives what
// scoring every prompt whole gives.
func TestScoreBatchReusesSharedPrefix(t *testing.T) {
	for _, batch := range []int{1, 3, 64} {
		sc, _, _ := scorerModel(t, batch)
		qs := make([]Query, 12)
		for i := range qs {
			qs[i] = prefixQuestion(i)
		}
		got, err := sc.ScoreBatch(context.Background(), qs)
		if err != nil {
			t.Fatal(err)
		}
		for i, q := range qs {
			if shared := commonPrefix(sc.vocab.Encode(q.Prompt(0, "")), sc.vocab.Encode(q.Prompt(1, "red"))); shared < 3 {
				t.Fatalf("state %d: prompts share %d tokens; the test needs a shared view", i, shared)
			}
			want := wholePrompts(t, sc, q)
			for j := range want {
				if math.Abs(got[i].Probs[j]-want[j]) > 1e-5 {
					t.Fatalf("batch %d state %d action %d: ScoreBatch %g, whole prompts %g", batch, i, j, got[i].Probs[j], want[j])
				}
			}
		}
	}
}

func TestTopLogprobsAndErrors(t *testing.T) {
	sc, _, _ := scorerModel(t, 4)
	top, err := sc.TopLogprobs(context.Background(), scorerPrompts[:1], 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(top[0]) != 20 || top[0][0].Logprob < top[0][19].Logprob {
		t.Fatalf("top 20: %v", top[0])
	}
	for _, tl := range top[0] {
		if strings.Contains(tl.Token, tokenizer.SpaceMark) {
			t.Errorf("token %q keeps the ▁ mark; Ollama returns a space", tl.Token)
		}
	}
	long := strings.Repeat("red ", 80)
	if _, err := sc.NextLogprobs(context.Background(), []string{long}); err == nil || !strings.Contains(err.Error(), "more than the model's context") {
		t.Errorf("long prompt: %v", err)
	}
}

// The zero ScorerOptions run where "auto" would: on CPU without CUDA. A zero
// torch.Device is CUDA device 0, which made a zero options value fail on
// CPU-only machines.
func TestZeroScorerOptionsAreAuto(t *testing.T) {
	sc, _, _ := scorerModelWith(t, ScorerOptions{})
	want := torch.CPU
	if torch.CUDAAvailable() {
		want = torch.CUDA(0)
	}
	if sc.device != want {
		t.Errorf("zero options: device %v, want %v", sc.device, want)
	}
	if _, err := OpenScorer(filepath.Join(t.TempDir(), "none.gguf"), ScorerOptions{Device: "gpu"}); err == nil ||
		!strings.Contains(err.Error(), `lm: torch: unknown device "gpu"`) {
		t.Errorf("device gpu: error %v, want it named", err)
	}
}
