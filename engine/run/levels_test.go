package run

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/lago-rl/lago/engine/ppo"
)

func TestMetricsLineSuccessPerLevel(t *testing.T) {
	m := ppo.Metrics{Episodes: []ppo.Episode{
		{Success: true, Level: "easy"}, {Success: false, Level: "easy"},
		{Success: true, Level: "hard"}, {Success: false, Level: "relation"},
	}, Regularizer: map[string]float64{"lago_beta": 0.1}}
	js, err := json.Marshal(metricsLine(m, 1))
	if err != nil {
		t.Fatal(err)
	}
	var line map[string]any
	if err := json.Unmarshal(js, &line); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"episodic_success": 0.5, "episodic_success_easy": 0.5, "episodic_success_hard": 1, "episodic_success_relation": 0, "lago_beta": 0.1}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %v (line %v)", k, line[k], v, line)
		}
	}
	if _, ok := m.Regularizer["episodic_success_easy"]; ok {
		t.Error("the per-level figures were written into the regulariser's own map")
	}
}

// Held-out phrasings are for evaluation: training on them is refused with
// an error naming the key, before the run directory is made.
func TestTrainRefusesHeldOutPhrasing(t *testing.T) {
	cfg := tinyConfig()
	cfg.EnvID = "CLEVR-Robot-v0"
	if err := cfg.Set("phrasing=heldout"); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "run")
	_, err := Train(context.Background(), cfg, Options{Dir: dir, Log: zerolog.Nop()})
	if err == nil || !strings.Contains(err.Error(), "config key phrasing") || !strings.Contains(err.Error(), "lago eval -set phrasing=heldout") {
		t.Fatalf("training with phrasing=heldout: %v", err)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Error("a refused run made its directory")
	}
}
