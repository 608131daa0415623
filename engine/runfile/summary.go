package runfile

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Summary is summary.json, written when a run completes.
type Summary struct {
	ExpName    string `json:"exp_name"`
	EnvID      string `json:"env_id"`
	Seed       int64  `json:"seed"`
	GlobalStep int64  `json:"global_step"`
	Iterations int    `json:"iterations"`
	// FinalReturn and FinalSuccess average the last FinalEpisodes episodes,
	// at most EpisodeWindow of them (recorded as episode_window).
	FinalReturn   float64 `json:"final_return"`
	FinalSuccess  float64 `json:"final_success"`
	FinalEpisodes int     `json:"final_episodes"`
	EpisodeWindow int     `json:"episode_window"`
	// FinalSuccessByLevel and FinalEpisodesByLevel split those same final
	// episodes by their task level (envs with levels, such as CLEVR-Robot:
	// each level's success rate and episode count); absent for envs
	// without levels and in summaries written before lago recorded them.
	FinalSuccessByLevel  map[string]float64 `json:"final_success_by_level,omitempty"`
	FinalEpisodesByLevel map[string]int     `json:"final_episodes_by_level,omitempty"`
	// PriorCoverage is the mean over iterations of lago_coverage, the share
	// of samples the prior answered for; absent without a prior.
	PriorCoverage *float64 `json:"prior_coverage,omitempty"`
	WallSeconds   float64  `json:"wall_s"` // of the last process that trained the run
}

// WriteSummary writes dir's summary.json atomically.
func WriteSummary(dir string, s Summary) error {
	js, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("runfile: summary of %s: %w", dir, err)
	}
	return WriteFileAtomic(filepath.Join(dir, SummaryFile), append(js, '\n'))
}

// ReadSummary reads dir's summary.json.
func ReadSummary(dir string) (Summary, error) {
	var s Summary
	path := filepath.Join(dir, SummaryFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("runfile: %s: %w", path, err)
	}
	return s, nil
}
