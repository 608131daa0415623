package lm

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/lm/tokenizer"
)

// BenchmarkScore measures in-process scoring of 64-token prompts with the
// default training shape (2 layers, dim 64, 4 heads on 2 KV heads, SwiGLU
// 192), 256 prompts per forward pass: prompts/s is what the lm: backend
// can score on this machine (no gradient, last position only), on one OS
// thread with one libtorch thread, as the scorer's batcher runs.
func BenchmarkScore(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	torch.SetNumThreads(1)
	r := rand.New(rand.NewPCG(2, 2))
	words := make([]string, 500)
	for i := range words {
		var sb strings.Builder
		for range 3 + r.IntN(4) {
			sb.WriteByte(byte('a' + r.IntN(26)))
		}
		words[i] = sb.String()
	}
	v := tokenizer.Build([]string{strings.Join(words, " ")})
	s := Shape{Vocab: v.Len(), Dim: 64, Layers: 2, Heads: 4, KVHeads: 2, FFN: 192, Context: 128, RopeBase: 10000, NormEps: 1e-5}
	m, err := New(s, 1, torch.Float32, torch.CPU)
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "m.gguf")
	if err := Export(path, m, v, "bench", F32); err != nil {
		b.Fatal(err)
	}
	m.Free()
	sc, err := OpenScorer(path, ScorerOptions{Device: "cpu", Batch: 256})
	if err != nil {
		b.Fatal(err)
	}
	defer sc.Close()
	prompts := make([]string, 256)
	for i := range prompts {
		ws := make([]string, 63) // + BOS = 64 tokens
		for j := range ws {
			ws[j] = words[r.IntN(len(words))]
		}
		prompts[i] = strings.Join(ws, " ")
	}
	if n := len(v.Encode(prompts[0])); n != 64 {
		b.Fatalf("prompt of %d tokens, want 64", n)
	}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := sc.NextLogprobs(context.Background(), prompts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(prompts))/time.Since(start).Seconds(), "prompts/s")
	b.ReportMetric(float64(s.ParamCount()), "weights")
}
