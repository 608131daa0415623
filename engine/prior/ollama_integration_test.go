//go:build ollama

package prior

// Integration tests against a real Ollama serving lago's tiny model:
// `make test-ollama` starts the server and sets LAGO_OLLAMA_HOST (HOST:PORT),
// LAGO_OLLAMA_MODEL and LAGO_OLLAMA_BIN. The model's answers mean nothing;
// these tests prove the real path: load, prompt, log-probabilities, parsing,
// digest keys, caching, concurrency, and a server restart mid-run.

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/lm/gguf"
)

func realOllama(t *testing.T) (host, model string) {
	t.Helper()
	host, model = os.Getenv("LAGO_OLLAMA_HOST"), os.Getenv("LAGO_OLLAMA_MODEL")
	if host == "" || model == "" {
		t.Fatal("LAGO_OLLAMA_HOST and LAGO_OLLAMA_MODEL must name a running server and model: run `make test-ollama`")
	}
	return host, model
}

func connect(t *testing.T, host, model string) *Ollama {
	t.Helper()
	c := testOllamaConfig(host, model, 30*time.Second)
	c.Seed = 1
	o, err := NewOllama(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestRealScoreIsADistributionAndRepeatable(t *testing.T) {
	host, model := realOllama(t)
	o := connect(t, host, model)
	if o.Mode() != ModeLogprobs {
		t.Fatalf("Ollama %s with %s: mode %v, want logprobs", host, model, o.Mode())
	}
	if len(o.Digest()) < 32 {
		t.Fatalf("digest %q", o.Digest())
	}
	q := clevrQuestion("red ball at (0.1, 0.3), blue ball at (-0.2, 0.1). Instruction: push the red ball to the left of the blue ball.")
	a, err := o.Score(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	b, err := o.Score(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Entry.Probs) != 40 || a.Calls < 2 || a.Calls > 3 {
		t.Fatalf("%d probabilities in %d calls; want 40 in 2..3 (1 + factor_topk)", len(a.Entry.Probs), a.Calls)
	}
	sum := 0.0
	for i, p := range a.Entry.Probs {
		sum += float64(p)
		if p != b.Entry.Probs[i] {
			t.Fatalf("repeated scoring differs at %d: %v vs %v", i, p, b.Entry.Probs[i])
		}
	}
	if math.Abs(sum-1) > 1e-4 {
		t.Fatalf("probabilities sum to %v", sum)
	}
	t.Logf("mode %v, soft errors %v, p(red,left)=%.4f", a.Entry.Mode, a.Soft, a.Entry.Probs[0])
}

func TestRealServiceCachesAcrossProcessesAndRuns(t *testing.T) {
	host, model := realOllama(t)
	dir := t.TempDir()
	var qs []Question
	for i := 0; i < 30; i++ {
		qs = append(qs, clevrQuestion(fmt.Sprintf("scene %d: red ball at (0.%d, 0.1). Instruction: push the red ball to the front of the cyan ball.", i, i)))
	}
	run := func() (calls float64, hits int) {
		cache, err := OpenCache(dir, 100)
		if err != nil {
			t.Fatal(err)
		}
		sc := ServiceConfigFrom(config.Default())
		sc.Parallel = 4
		s, err := NewService(connect(t, host, model), cache, "clevr-v1", sc)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { s.Close(); cache.Close() }()
		var keys []Key
		for _, q := range qs {
			k, _, ok := s.Lookup(q)
			if ok {
				hits++
			}
			keys = append(keys, k)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := s.Wait(ctx, keys); err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if _, ok := s.Get(k); !ok {
				t.Fatalf("state %v unanswered after Wait: %v", k, s.Metrics())
			}
		}
		m := s.Metrics()
		return m["prior_llm_calls"], hits
	}
	firstCalls, firstHits := run()
	secondCalls, secondHits := run() // a new service and cache instance: another run, another process
	t.Logf("first run: %v LLM calls, %d hits; second: %v calls, %d hits", firstCalls, firstHits, secondCalls, secondHits)
	if firstHits != 0 || firstCalls < 60 {
		t.Fatalf("first run: %d hits, %v calls", firstHits, firstCalls)
	}
	if secondHits != len(qs) || secondCalls != 0 {
		t.Fatalf("second run: %d of %d hits, %v calls; want every answer from the cache", secondHits, len(qs), secondCalls)
	}
}

// TestRealServerRestartMidRun runs a second private server, kills it while
// the service is asking, and brings it back: lookups never block, failures
// are counted, and answers resume under the same digest.
func TestRealServerRestartMidRun(t *testing.T) {
	_, model := realOllama(t)
	serve, err := filepath.Abs("../../tools/ollama/serve.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gg := filepath.Join(dir, "tiny.gguf")
	f, err := os.Create(gg)
	if err != nil {
		t.Fatal(err)
	}
	if err := gguf.WriteTinyLlama(f, nil, 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	env := append(os.Environ(), "LAGO_OLLAMA_DIR="+filepath.Join(dir, "server"))
	sh := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(serve, args...)
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("serve.sh %s: %v", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out))
	}
	host := sh("start")
	t.Cleanup(func() { sh("stop") })
	sh("create", model, gg)
	o := connect(t, host, model)
	cache, err := OpenCache("", 100)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewService(o, cache, "clevr-v1", ServiceConfig{Parallel: 1, QueueSize: 4096, BreakerFailures: 2, BreakerBackoff: 200 * time.Millisecond, BreakerMaxBackoff: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := func(i int) Question { return clevrQuestion(fmt.Sprintf("restart scene %d", i)) }
	s.Lookup(q(0))
	waitAll(t, s, q(0))
	if _, ok := s.Get(s.KeyOf(q(0))); !ok {
		t.Fatal("no answer before the restart")
	}
	sh("stop")
	for i := 1; i <= 5; i++ {
		if _, _, ok := s.Lookup(q(i)); ok {
			t.Fatal("a hit for a state never scored")
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for !s.BreakerOpen() {
		if time.Now().After(deadline) {
			t.Fatalf("breaker never opened with the server down: %v", s.Metrics())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if m := s.Metrics(); m["prior_errors_unreachable"] < 2 {
		t.Fatalf("failures not counted as unreachable: %v", m)
	}
	port := host[strings.LastIndex(host, ":")+1:]
	env = append(env, "LAGO_OLLAMA_PORT="+port)
	sh("start")
	sh("create", model, gg)
	deadline = time.Now().Add(60 * time.Second)
	for {
		if _, _, ok := s.Lookup(q(99)); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer within 60 s of the server's return: %v", s.Metrics())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRealSkillPriorOnMetaWorld: a real Ollama answers metaworld-v1's "which
// skill now?" for push with log-probabilities over its four skills. (lago's
// lm: engine is not compared here: for the tiny random model the label
// tokens rank 12th-20th, some only in one spelling (" B" but not "B"), so
// Ollama's top 20 hold part of each label's mass while lm: sums all of it;
// measured 0.19/0.14/0.34/0.33 against 0.26/0.20/0.29/0.25.)
func TestRealSkillPriorOnMetaWorld(t *testing.T) {
	host, model := realOllama(t)
	e := metaWorldState(t, "MetaWorld-push-v3")
	cfg := config.Default()
	cfg.EnvID = "MetaWorld-push-v3"
	cfg.Prior = "ollama:" + model
	cfg.OllamaHost = host
	cfg.OllamaTimeout = 30
	cfg.PriorCacheDir = filepath.Join(t.TempDir(), "cache")
	w, _, calls := skillPrior(t, cfg, e)
	if len(w) != 4 || calls != 1 {
		t.Fatalf("%d weights in %v calls; want push's 4 skills in 1", len(w), calls)
	}
	sum := 0.0
	for _, x := range w {
		if x <= 0 {
			t.Fatalf("weights %v: a skill without mass", w)
		}
		sum += x
	}
	if math.Abs(sum-1) > 1e-4 {
		t.Fatalf("weights %v sum to %v", w, sum)
	}
	t.Logf("Ollama's weights over push's skills: %.4f", w)
}
