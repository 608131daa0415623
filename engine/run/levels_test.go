package run

import (
	"encoding/json"
	"testing"

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
