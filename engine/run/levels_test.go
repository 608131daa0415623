package run

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/lago-rl/lago/engine/ppo"
	"github.com/lago-rl/lago/engine/runfile"
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

// summary.json splits the final episodes by level: the same episodes as
// final_success, so the levels' counts add up to final_episodes and their
// rates, weighted by those counts, to final_success.
func TestSummaryFinalSuccessByLevel(t *testing.T) {
	cfg := tinyConfig()
	cfg.EnvID = "CLEVR-Robot-v0"
	cfg.NumEnvs = 4
	cfg.NumSteps = 32
	cfg.NumMinibatches = 4
	cfg.TotalTimesteps = 4 * 32 * 2
	if err := cfg.Set("task_level=mixed"); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "run")
	sum, err := Train(context.Background(), cfg, Options{Dir: dir, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.FinalEpisodesByLevel) < 2 {
		t.Fatalf("final episodes of %d levels, want two or more for the test to mean something: %v", len(sum.FinalEpisodesByLevel), sum.FinalEpisodesByLevel)
	}
	t.Logf("final %d episodes, success %v; by level %v over %v", sum.FinalEpisodes, sum.FinalSuccess, sum.FinalSuccessByLevel, sum.FinalEpisodesByLevel)
	n, weighted := 0, 0.0
	for l, k := range sum.FinalEpisodesByLevel {
		switch l {
		case "relation", "easy", "hard", "rephrase":
		default:
			t.Errorf("level %q", l)
		}
		s, ok := sum.FinalSuccessByLevel[l]
		if !ok || s < 0 || s > 1 {
			t.Errorf("level %s: success %v (present %v)", l, s, ok)
		}
		n += k
		weighted += s * float64(k)
	}
	if len(sum.FinalSuccessByLevel) != len(sum.FinalEpisodesByLevel) || n != sum.FinalEpisodes ||
		math.Abs(weighted/float64(n)-sum.FinalSuccess) > 1e-12 {
		t.Errorf("by level %v over %v episodes, want %d episodes with overall success %v",
			sum.FinalSuccessByLevel, sum.FinalEpisodesByLevel, sum.FinalEpisodes, sum.FinalSuccess)
	}
	// The run's last checkpoint holds the same episodes (lago compare reads
	// them for summaries written before these figures).
	eps, step, err := ppo.CheckpointEpisodes(filepath.Join(dir, runfile.CheckpointFile))
	if err != nil || step != sum.GlobalStep {
		t.Fatalf("checkpoint episodes: step %d of %d, %v", step, sum.GlobalStep, err)
	}
	succ, counts := ppo.SuccessByLevel(eps[max(len(eps)-runfile.EpisodeWindow, 0):])
	if !reflect.DeepEqual(succ, sum.FinalSuccessByLevel) || !reflect.DeepEqual(counts, sum.FinalEpisodesByLevel) {
		t.Errorf("checkpoint episodes by level %v over %v, summary %v over %v", succ, counts, sum.FinalSuccessByLevel, sum.FinalEpisodesByLevel)
	}
	back, err := runfile.ReadSummary(dir)
	if err != nil || !reflect.DeepEqual(back.FinalSuccessByLevel, sum.FinalSuccessByLevel) || !reflect.DeepEqual(back.FinalEpisodesByLevel, sum.FinalEpisodesByLevel) {
		t.Errorf("summary.json reads back as %+v (%v), want %+v", back, err, sum)
	}
}
