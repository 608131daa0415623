package stage1

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/lago-rl/lago/engine/lm"
)

// shippedDir is the guidance model the repository ships (make demo's prior).
var shippedDir = filepath.Join("..", "..", "models", "clevr-guidance-s")

// The shipped model is the file its manifest names (SHA-256), was made by
// the stage1.toml beside it, loads, and scores the manifest's known state
// as it did when it was made: the same top action, the same log-probability
// within 1e-4 nats on the engine that measured it (other CPUs' kernels
// round differently in the last bits), within 2e-2 on another lago engine
// (f16 K/V rounding, the bound lago lm check allows against Ollama). A
// wrong file, tokenizer or layout is off by O(1) nats.
func TestShippedModelScoresItsKnownState(t *testing.T) {
	m, err := ReadModelManifest(shippedDir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(shippedDir, m.File)
	sum, err := FileSHA256(path)
	if err != nil {
		t.Fatal(err)
	}
	if sum != m.SHA256 {
		t.Fatalf("%s has sha256 %s, its manifest says %s (is it a Git LFS pointer, or was it replaced without make model-update?)", path, sum, m.SHA256)
	}
	cfg, err := Load(filepath.Join(shippedDir, "stage1.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg != m.Config {
		t.Errorf("the manifest's config is not stage1.toml's:\n%+v\n%+v", m.Config, cfg)
	}
	s, err := lm.OpenScorer(path, lm.ScorerOptions{Device: "cpu"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	top, lp, err := ScoreKnown(context.Background(), s, m.Known)
	if err != nil {
		t.Fatal(err)
	}
	tol := 1e-4
	if engine := ScorerEngine(s); engine != m.Scorer {
		tol = 2e-2
		t.Logf("scoring with %s; the manifest's figures are %s's: tolerance %g", engine, m.Scorer, tol)
	}
	if top != m.Known.TopAction || math.Abs(lp-m.Known.TopLogprob) > tol {
		t.Errorf("known state: top action %d, log-probability %.6f; the manifest says %d, %.6f", top, lp, m.Known.TopAction, m.Known.TopLogprob)
	}
}
