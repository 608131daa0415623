package train

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/lm"
)

// BenchmarkTrainStep measures training throughput of the default shape
// (Default(): 2 layers, dim 64, 4 heads on 2 KV heads, SwiGLU 192) on
// sequences of 64 tokens over a 600-token vocabulary, batch 32, loss on
// the last 4 positions — the setting of the shared CPU budget reference.
// tokens/s counts input tokens. Like Run, it stays on one OS thread with
// one libtorch thread (the default torch_threads).
func BenchmarkTrainStep(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	torch.SetNumThreads(1)
	c := Default()
	c.Steps = 1 << 30
	const vocab, T = 600, 64
	m, err := lm.New(c.Shape(vocab), 1, torch.Float32, torch.CPU)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	seqs := &Corpus{}
	for range 256 {
		for range T + 1 {
			seqs.tokens = append(seqs.tokens, int32(3+r.IntN(vocab-3)))
		}
		seqs.ends = append(seqs.ends, len(seqs.tokens))
		seqs.answer = append(seqs.answer, T+1-4)
	}
	t := &Trainer{cfg: c, model: m, train: seqs, device: torch.CPU, epochs: map[int][]int{}}
	defer t.Free()
	if t.opt, err = torch.NewAdamW(m.Parameters(), m.Decayed(), torch.AdamOptions{LR: 1e-3, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1}); err != nil {
		b.Fatal(err)
	}
	if t.rope, err = lm.NewRope(m.Shape, T, torch.Float32, torch.CPU); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	tokens := 0
	for range b.N {
		_, _, n, err := t.Step()
		if err != nil {
			b.Fatal(err)
		}
		tokens += n
	}
	b.ReportMetric(float64(tokens)/time.Since(start).Seconds(), "tokens/s")
	b.ReportMetric(float64(m.Shape.ParamCount()), "weights")
}
