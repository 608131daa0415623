package run

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

	"github.com/lago-rl/lago/engine/lm/gguf"
	"github.com/lago-rl/lago/engine/runfile"
)

// TestLaGOTrainsOnMetaWorld: prior = scripted:0.9 on a continuous env with
// skills trains, and logs the regulariser's figures every iteration.
func TestLaGOTrainsOnMetaWorld(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	cfg := tinyConfig()
	cfg.EnvID = "MetaWorld-reach-v3"
	cfg.TotalTimesteps = 2 * 16 * 3 // three iterations
	cfg.NormObs, cfg.NormReward = true, true
	cfg.Prior, cfg.Beta = "scripted:0.9", 0.01
	sum, err := Train(context.Background(), cfg, Options{Dir: dir, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Iterations != 3 {
		t.Fatalf("summary %+v", sum)
	}
	f, err := os.Open(filepath.Join(dir, runfile.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		lines++
		for _, k := range []string{"lago_kl", "lago_beta", "lago_coverage", "lago_agreement"} {
			x, ok := m[k].(float64)
			if !ok || math.IsNaN(x) || math.IsInf(x, 0) {
				t.Fatalf("iteration %v: %s = %v, want a finite number (line %s)", m["iteration"], k, m[k], sc.Text())
			}
		}
		if m["lago_coverage"] != 1.0 || m["lago_beta"] != 0.01 {
			t.Fatalf("coverage %v, β %v; want 1 (a scripted prior is known at lookup) and 0.01", m["lago_coverage"], m["lago_beta"])
		}
	}
	if lines != 3 {
		t.Fatalf("%d metrics lines, want 3", lines)
	}
}

// TestLMSkillPriorTrainsOnMetaWorld: a language-model prior over push's
// skills (lago's tiny GGUF, asked "which skill now?" through the
// asynchronous service) trains: every sample is covered once the update has
// waited for its answer, and the KL to the mixture is finite.
func TestLMSkillPriorTrainsOnMetaWorld(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "tiny.gguf")
	if err := runfile.WriteAtomic(model, 0o644, func(w io.Writer) error { return gguf.WriteTinyLlama(w, nil, 1) }); err != nil {
		t.Fatal(err)
	}
	cfg := tinyConfig()
	cfg.EnvID = "MetaWorld-push-v3"
	cfg.TotalTimesteps = 2 * 16 * 2 // two iterations
	cfg.NormObs, cfg.NormReward = true, true
	cfg.Prior, cfg.Beta = "lm:"+model, 0.01
	cfg.PriorCacheDir = filepath.Join(dir, "cache")
	cfg.PriorWait = 60 // every sample's answer, however loaded the machine
	sum, err := Train(context.Background(), cfg, Options{Dir: filepath.Join(dir, "run"), Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Iterations != 2 {
		t.Fatalf("summary %+v", sum)
	}
	f, err := os.Open(filepath.Join(dir, "run", runfile.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		kl, _ := m["lago_kl"].(float64)
		cov, _ := m["lago_coverage"].(float64)
		calls, _ := m["prior_llm_calls"].(float64)
		if math.IsNaN(kl) || math.IsInf(kl, 0) || kl <= 0 || cov != 1 {
			t.Fatalf("iteration %v: lago_kl %v, coverage %v; want a finite positive KL over every sample (line %s)", m["iteration"], m["lago_kl"], m["lago_coverage"], sc.Text())
		}
		if m["iteration"] == 1.0 && calls < 1 {
			t.Fatalf("iteration 1 made %v model calls; the tiny model was not asked", calls)
		}
		t.Logf("iteration %v: lago_kl %.2f, coverage %.2f, model calls %v", m["iteration"], kl, cov, calls)
	}
}
