//go:build ollama

package lm_test

// Parity of lago's in-process forward with a real Ollama: `make test-ollama`
// starts the pinned server and sets LAGO_OLLAMA_HOST (HOST:PORT). A model is
// trained here for a few hundred steps (so its logits are not flat), exported
// as F32 and F16, pushed, and the top-20 log-probabilities and prompt token
// counts of a few hundred prompts are compared.

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/lm"
	"github.com/lago-rl/lago/engine/lm/train"
)

// parityTolerance is the bound on max |Δ logprob| per file type, for the
// scorer's default engine (EngineF16FA: Q, K, V in f16 and llama.cpp's CPU
// flash-attention step with its f16 V accumulator, as the pinned CPU
// build's default runner computes).
// Before that rounding, lago's plain float32 forward measured (287 prompts ×
// top-20, the model trained here at lr 1e-2, so its logits are far from
// flat) F32 max 1.26e-2, median 3.8e-4; F16 max 1.16e-2, median 6.2e-4.
// The bounds are the issue's: 1e-3 for F32, 2e-2 for F16 (an F16 file's
// weights are rounded too, and llama.cpp's F16 matmuls round their inputs
// to f16, which lago does not emulate). Figures: bench/results/lm-engine.md.
var parityTolerance = map[lm.FileType]float64{lm.F32: 1e-3, lm.F16: 2e-2}

func TestOllamaParity(t *testing.T) {
	host := os.Getenv("LAGO_OLLAMA_HOST")
	if host == "" {
		t.Fatal("LAGO_OLLAMA_HOST must name a running server: run `make test-ollama`")
	}
	u, err := url.Parse("http://" + host)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pairs, err := train.LetterAfter(3000, 4, 9, 7)
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "pairs.jsonl")
	f, err := os.Create(data)
	if err != nil {
		t.Fatal(err)
	}
	enc := json.NewEncoder(f)
	for _, p := range pairs {
		enc.Encode(p)
	}
	f.Close()
	c := train.Default()
	c.Data, c.Steps, c.WarmupSteps, c.BatchSize, c.FFN, c.Context, c.LearningRate, c.EvalEvery = data, 300, 30, 64, 128, 64, 1e-2, 100
	tr, err := train.New(c, train.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := tr.Run(context.Background(), train.Options{Dir: filepath.Join(dir, "run")})
	tr.Free()
	if err != nil {
		t.Fatal(err)
	}
	prompts := make([]string, 0, 300)
	for _, p := range pairs[:280] {
		prompts = append(prompts, p.Prompt)
	}
	// Out-of-vocabulary text, digits, doubled spaces, a newline, UTF-8 and
	// literal special tokens exercise the tokenizer's other rules.
	prompts = append(prompts, "hello world", "list: 42 17. after 4", "  double  spaces  ", "list:\nA B", "après C", "<s>A</s>B", "<unk> A")
	for _, ft := range []lm.FileType{lm.F32, lm.F16} {
		path := filepath.Join(dir, "parity-"+string(ft)+".gguf")
		im, err := lm.Import(res.Model, torch.Float32, torch.CPU)
		if err != nil {
			t.Fatal(err)
		}
		err = lm.Export(path, im.Model, im.Vocab, "lago-parity", ft)
		im.Model.Free()
		if err != nil {
			t.Fatal(err)
		}
		name := "lago-parity-" + string(ft)
		if err := lm.Push(context.Background(), u, path, name, lm.PushOptions{}, nil); err != nil {
			t.Fatal(err)
		}
		// Every engine is logged, for the record; the default one (f16fa)
		// must be within the bound.
		engines := []string{lm.EngineF16FA, lm.EngineF16KV, lm.EngineF32}
		var scs []*lm.Scorer
		for _, engine := range engines {
			sc, err := lm.OpenScorer(path, lm.ScorerOptions{Device: "cpu", Engine: engine})
			if err != nil {
				t.Fatal(err)
			}
			defer sc.Close()
			scs = append(scs, sc)
		}
		rs, err := lm.CheckScorers(context.Background(), u, name, scs, prompts, nil)
		if err != nil {
			t.Fatal(err)
		}
		for j, r := range rs {
			t.Logf("%s, engine %s: %d prompts, %d log-probabilities: max |Δ| %.3g, median %.3g (worst %q on %q); token counts differ on %d; unmatched %d",
				ft, engines[j], r.Prompts, r.Compared, r.MaxDiff, r.Median, r.WorstToken, r.WorstPrompt, r.TokenCountMismatches, r.Unmatched)
		}
		if r := rs[0]; r.TokenCountMismatches > 0 || r.Unmatched > 0 || r.MaxDiff > parityTolerance[ft] {
			t.Errorf("%s: parity fails (tolerance %g)", ft, parityTolerance[ft])
		}
	}
}
