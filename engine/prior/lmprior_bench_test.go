package prior

import (
	"context"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/env"
	"github.com/lago-rl/lago/engine/lm"
	"github.com/lago-rl/lago/engine/lm/tokenizer"
)

// clevrQuestions returns n distinct CLEVR-Robot states' questions under
// template version tmpl: episodes of random pushes, one state a step.
func clevrQuestions(tb testing.TB, n int, tmpl string) []Question {
	tb.Helper()
	t, err := TemplateByVersion(tmpl)
	if err != nil {
		tb.Fatal(err)
	}
	cfg := config.Default()
	cfg.EnvID = "CLEVR-Robot-v0"
	e, err := env.Make(cfg.Env())
	if err != nil {
		tb.Fatal(err)
	}
	obs := make([]float32, e.ObservationSpace().Dim())
	r := rand.New(rand.NewPCG(5, 5))
	var qs []Question
	for ep := uint64(0); len(qs) < n; ep++ {
		e.Seed(ep)
		e.Reset(obs)
		for step := 0; step < 20 && len(qs) < n; step++ {
			q, err := QuestionWith(e, t)
			if err != nil {
				tb.Fatal(err)
			}
			qs = append(qs, q)
			if e.Step([]float32{float32(r.IntN(e.ActionSpace().N))}, obs).Terminated {
				break
			}
		}
	}
	return qs
}

// benchLMModel writes a random-weight llama of about 1M weights (4 layers,
// dim 128, 4 heads on 2 KV heads, SwiGLU 384) whose vocabulary is built
// from the questions' prompts, as `lago lm train` builds one, and returns
// its path.
func benchLMModel(tb testing.TB, qs []Question) string {
	tb.Helper()
	var texts []string
	for _, q := range qs {
		texts = append(texts, q.Prompt(0, ""))
		for _, o := range q.Factors[0] {
			texts = append(texts, q.Prompt(1, o))
		}
	}
	v := tokenizer.Build(texts)
	s := lm.Shape{Vocab: v.Len(), Dim: 128, Layers: 4, Heads: 4, KVHeads: 2, FFN: 384, Context: 512, RopeBase: 10000, NormEps: 1e-5}
	m, err := lm.New(s, 1, torch.Float32, torch.CPU)
	if err != nil {
		tb.Fatal(err)
	}
	defer m.Free()
	path := filepath.Join(tb.TempDir(), "m.gguf")
	if err := lm.Export(path, m, v, "bench", lm.F32); err != nil {
		tb.Fatal(err)
	}
	return path
}

// benchStates is how many distinct states a states/s benchmark scores.
const benchStates = 512

// BenchmarkLMPriorStates measures the lm: backend's states/s, with the
// f16fa and f16kv engines, on distinct CLEVR states, both factors (ball and direction questions) scored, with
// the service's lmParallel concurrent callers, as a training run's prior
// service drives it: go test -run '^$' -bench LMPriorStates ./engine/prior
func BenchmarkLMPriorStates(b *testing.B) {
	for _, tmpl := range []string{clevrCompactVersion, "clevr-v1"} {
		for _, engine := range []string{lm.EngineF16FA, lm.EngineF16KV} {
			b.Run(tmpl+"/"+engine, func(b *testing.B) {
				qs := clevrQuestions(b, benchStates, tmpl)
				s, err := lm.OpenScorer(benchLMModel(b, qs), lm.ScorerOptions{Device: "cpu", Engine: engine})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				var tokens int
				for _, q := range qs {
					tokens += len(s.Vocab().Encode(q.Prompt(0, "")))
				}
				benchStatesPerSecond(b, qs, lmParallel, lmScorer{s})
				b.ReportMetric(float64(tokens)/float64(len(qs)), "tokens/prompt")
			})
		}
	}
}

// BenchmarkOllamaPriorStates is BenchmarkLMPriorStates through the
// ollama: backend against the same model, pushed to the server
// LAGO_OLLAMA_HOST names (HOST:PORT; tools/ollama/serve.sh starts one),
// with the ollama_parallel default of concurrent callers.
func BenchmarkOllamaPriorStates(b *testing.B) {
	host := os.Getenv("LAGO_OLLAMA_HOST")
	if host == "" {
		b.Skip("needs LAGO_OLLAMA_HOST=HOST:PORT of a running Ollama (tools/ollama/serve.sh start)")
	}
	u, err := url.Parse("http://" + host)
	if err != nil {
		b.Fatal(err)
	}
	for _, tmpl := range []string{clevrCompactVersion, "clevr-v1"} {
		b.Run(tmpl, func(b *testing.B) {
			qs := clevrQuestions(b, benchStates, tmpl)
			name := "lago-bench-" + tmpl
			if err := lm.Push(context.Background(), u, benchLMModel(b, qs), name, lm.PushOptions{}, nil); err != nil {
				b.Fatal(err)
			}
			cfg := config.Default()
			oc := OllamaConfigFrom(cfg, name)
			oc.Host = host
			o, err := NewOllama(context.Background(), oc)
			if err != nil {
				b.Fatal(err)
			}
			benchStatesPerSecond(b, qs, cfg.OllamaParallel, o)
		})
	}
}

// benchStatesPerSecond scores qs with workers concurrent callers, b.N
// times, and reports states/s and CPU time per state.
func benchStatesPerSecond(b *testing.B, qs []Question, workers int, sc interface {
	Score(context.Context, Question) (Result, error)
}) {
	b.ResetTimer()
	cpu0 := cpuTimes(b)
	start := time.Now()
	var calls int
	for range b.N {
		work := make(chan Question)
		var mu sync.Mutex
		var wg sync.WaitGroup
		var firstErr error
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for q := range work {
					r, err := sc.Score(context.Background(), q)
					mu.Lock()
					calls += r.Calls
					if err != nil && firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}()
		}
		for _, q := range qs {
			work <- q
		}
		close(work)
		wg.Wait()
		if firstErr != nil {
			b.Fatal(firstErr)
		}
	}
	sec := time.Since(start).Seconds()
	cpu1 := cpuTimes(b)
	n := float64(b.N * len(qs))
	b.ReportMetric(n/sec, "states/s")
	b.ReportMetric(float64(calls)/n, "calls/state")
	b.ReportMetric((cpu1[0]-cpu0[0])*1e3/n, "user-ms/state")
	b.ReportMetric((cpu1[1]-cpu0[1])*1e3/n, "sys-ms/state")
}

// cpuTimes is the process's user and system CPU seconds so far: unlike the
// wall time, they hardly depend on what else the shared machine runs.
func cpuTimes(tb testing.TB) [2]float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	sec := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return [2]float64{sec(ru.Utime), sec(ru.Stime)}
}
