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
	_ "github.com/lago-rl/lago/engine/envs"
	"github.com/lago-rl/lago/engine/lm/gguf"
	"github.com/lago-rl/lago/engine/runfile"
)

// TestLMPriorScoresInProcessAndCaches: an lm:PATH.gguf prior answers a
// CLEVR state's factored question with a distribution over the 40 actions,
// through the asynchronous service, and a second prior over the same cache
// answers from it without scoring (its keys name lago's engine and the
// file's digest).
func TestLMPriorScoresInProcessAndCaches(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "tiny.gguf")
	if err := runfile.WriteAtomic(model, 0o644, func(w io.Writer) error { return gguf.WriteTinyLlama(w, nil, 1) }); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.EnvID = "CLEVR-Robot-v0"
	cfg.Prior = "lm:" + model
	cfg.PriorCacheDir = filepath.Join(dir, "cache")
	e, err := env.Make(cfg.Env())
	if err != nil {
		t.Fatal(err)
	}
	e.Seed(3)
	e.Reset(make([]float32, e.ObservationSpace().Dim()))
	n := e.ActionSpace().N

	score := func() (Key, []float32, map[string]float64) {
		p, err := New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if !strings.HasPrefix(p.Name(), "lm:") {
			t.Fatalf("name %q", p.Name())
		}
		out := make([]float32, n)
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
		return k, out, p.Metrics()
	}
	k1, p1, m1 := score()
	sum := 0.0
	for _, p := range p1 {
		if p < 0 || math.IsNaN(float64(p)) {
			t.Fatalf("probability %v", p)
		}
		sum += float64(p)
	}
	if math.Abs(sum-1) > 1e-4 {
		t.Fatalf("probabilities sum to %v", sum)
	}
	if m1["prior_llm_calls"] < 1 {
		t.Fatalf("first prior made no model calls: %v", m1)
	}
	k2, p2, m2 := score()
	if k1 != k2 || m2["prior_llm_calls"] != 0 {
		t.Fatalf("second prior: key %v vs %v, calls %v; want the same key answered from the cache", k2, k1, m2["prior_llm_calls"])
	}
	for i := range p1 {
		if p1[i] != p2[i] {
			t.Fatalf("cached answer differs at %d: %v vs %v", i, p2[i], p1[i])
		}
	}

	cfg.Prior = "lm:" + filepath.Join(dir, "missing.gguf")
	if p, err := New(context.Background(), cfg); p != nil || err == nil || !strings.Contains(err.Error(), "config key prior") {
		t.Fatalf("missing file: %v, %v; want an error naming the key", p, err)
	}
}
