package plot

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lago-rl/lago/engine/runfile"
)

// writeRun creates dir with the given config.toml (skipped when empty) and
// metrics.jsonl contents, and returns dir.
func writeRun(t *testing.T, dir, config, metrics string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if config != "" {
		if err := os.WriteFile(filepath.Join(dir, runfile.ConfigFile), []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, runfile.MetricsFile), []byte(metrics), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// config returns a config.toml with the keys LoadRun reads among others
// it must ignore.
func config(expName string, seed int) string {
	return fmt.Sprintf("exp_name = %q\nseed = %d\nlearning_rate = 2.5e-4\n\n[env]\nid = \"CartPole-v1\"\n", expName, seed)
}

const (
	line1 = `{"global_step":128,"iteration":1,"sps":900.5,"episodes":0,"policy_loss":0.1,"note":"warmup","done":false}`
	line2 = `{"global_step":256,"iteration":2,"episodic_return":12.5,"episodic_length":12,"episodes":3,"policy_loss":0.05}`
	line3 = `{"global_step":384,"iteration":3,"episodic_return":null,"episodes":3}`
)

func TestLoadRun(t *testing.T) {
	tests := []struct {
		name      string
		config    string
		metrics   string
		wantLabel string // "" means the run directory's base name
		wantSeed  int64
		wantRows  int
		wantErr   string // substring; "" means no error
	}{
		{
			name:      "complete",
			config:    config("ppo", 7),
			metrics:   line1 + "\n" + line2 + "\n" + line3 + "\n",
			wantLabel: "ppo", wantSeed: 7, wantRows: 3,
		},
		{
			name:      "blank lines and CRLF",
			config:    config("ppo", 1),
			metrics:   line1 + "\r\n\r\n" + line2 + "\r\n\n",
			wantLabel: "ppo", wantSeed: 1, wantRows: 2,
		},
		{
			name:      "truncated last line",
			config:    config("ppo", 2),
			metrics:   line1 + "\n" + line2 + "\n" + line3[:20],
			wantLabel: "ppo", wantSeed: 2, wantRows: 2,
		},
		{
			name:      "empty file",
			config:    config("ppo", 3),
			wantLabel: "ppo", wantSeed: 3, wantRows: 0,
		},
		{
			name:     "no config falls back to dir name",
			metrics:  line1 + "\n",
			wantRows: 1,
		},
		{
			name:     "config without exp_name",
			config:   "seed = 4\n",
			metrics:  line1 + "\n",
			wantSeed: 4, wantRows: 1,
		},
		{
			name:    "corrupt middle line",
			config:  config("ppo", 1),
			metrics: line1 + "\n" + line2[:30] + "\n" + line3 + "\n",
			wantErr: runfile.MetricsFile + ":2:",
		},
		{
			name:    "non-object middle line",
			config:  config("ppo", 1),
			metrics: line1 + "\nnull\n" + line3 + "\n",
			wantErr: runfile.MetricsFile + ":2: not a JSON object",
		},
		{
			name:    "malformed config",
			config:  "exp_name = \n",
			metrics: line1 + "\n",
			wantErr: runfile.ConfigFile,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeRun(t, filepath.Join(t.TempDir(), "run-dir"), tt.config, tt.metrics)
			run, err := LoadRun(dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadRun error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantLabel := tt.wantLabel
			if wantLabel == "" {
				wantLabel = "run-dir"
			}
			if run.Dir != dir || run.Label != wantLabel || run.Seed != tt.wantSeed || len(run.Metrics) != tt.wantRows {
				t.Errorf("got Dir %q Label %q Seed %d with %d rows, want %q %q %d with %d",
					run.Dir, run.Label, run.Seed, len(run.Metrics), dir, wantLabel, tt.wantSeed, tt.wantRows)
			}
		})
	}
}

func TestLoadRunMissingMetrics(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, runfile.ConfigFile), []byte(config("ppo", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadRun(dir)
	if err == nil || !strings.Contains(err.Error(), runfile.MetricsFile) {
		t.Fatalf("LoadRun error = %v, want one naming %s", err, runfile.MetricsFile)
	}
}

func TestLoadRunFields(t *testing.T) {
	dir := writeRun(t, t.TempDir(), config("ppo", 1), line1+"\n"+line2+"\n"+line3+"\n")
	run, err := LoadRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	first := run.Metrics[0]
	if first["sps"] != 900.5 || first["global_step"] != 128 {
		t.Errorf("numeric fields not kept: %v", first)
	}
	for _, key := range []string{"note", "done", "episodic_return"} {
		if _, ok := first[key]; ok {
			t.Errorf("row 1 has %q; non-numeric and absent fields must be dropped", key)
		}
	}
	if _, ok := run.Metrics[2]["episodic_return"]; ok {
		t.Error("a null episodic_return must read as absent")
	}
}

func TestSeries(t *testing.T) {
	run := Run{Metrics: []map[string]float64{
		{"global_step": 100, "episodic_return": 1},
		{"global_step": 200},                       // no episode finished
		{"episodic_return": 5},                     // no step to place it at
		{"global_step": 300, "episodic_return": 3}, //
	}}
	tests := []struct {
		metric string
		want   []Point
	}{
		{"episodic_return", []Point{{100, 1}, {300, 3}}},
		{"global_step", []Point{{100, 100}, {200, 200}, {300, 300}}},
		{"episodic_success", nil},
	}
	for _, tt := range tests {
		got := run.Series(tt.metric)
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("Series(%q) = %v, want %v", tt.metric, got, tt.want)
		}
	}
}
