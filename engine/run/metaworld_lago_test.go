package run

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

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
