package plot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/BurntSushi/toml"

	"github.com/lago-rl/lago/engine/runfile"
)

// StepKey is the metric used as the x coordinate of every series.
const StepKey = "global_step"

// Point is one observation of a metric.
type Point struct {
	Step  float64 // env steps taken when the value was logged
	Value float64
}

// Run is the logged history of one training run.
type Run struct {
	Dir   string // directory the run was loaded from
	Label string // experiment name; runs with equal labels are seeds of one experiment
	Seed  int64
	// Metrics holds one map per logged iteration, in file order. Only
	// numeric fields are kept; a key is absent when the iteration did not
	// log it (episodic_return, for one, is absent until an episode ends).
	Metrics []map[string]float64
}

// runConfig is the part of config.toml this package needs; other keys are
// ignored so the trainer's config can grow without breaking plotting.
type runConfig struct {
	ExpName string `toml:"exp_name"`
	Seed    int64  `toml:"seed"`
}

// LoadRun reads the run stored in dir.
//
// The label is exp_name from config.toml, or the directory's base name when
// the config or that key is missing. A final line of metrics.jsonl that does
// not parse is skipped, because a run killed while writing leaves one
// behind; any other malformed line is an error naming the file and line.
func LoadRun(dir string) (Run, error) {
	run := Run{Dir: dir, Label: filepath.Base(filepath.Clean(dir))}

	cfgPath := filepath.Join(dir, runfile.ConfigFile)
	var cfg runConfig
	_, err := toml.DecodeFile(cfgPath, &cfg)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Metrics alone are still worth plotting; keep the fallback label.
	case err != nil:
		return Run{}, fmt.Errorf("plot: %s: %w", cfgPath, err)
	default:
		if cfg.ExpName != "" {
			run.Label = cfg.ExpName
		}
		run.Seed = cfg.Seed
	}

	metricsPath := filepath.Join(dir, runfile.MetricsFile)
	data, err := os.ReadFile(metricsPath)
	if err != nil {
		return Run{}, err
	}
	run.Metrics, err = parseMetrics(metricsPath, data)
	if err != nil {
		return Run{}, err
	}
	return run, nil
}

// parseMetrics decodes metrics.jsonl data (runfile.ParseMetrics) into one
// map of numeric figures per line; name is used in error messages only.
func parseMetrics(name string, data []byte) ([]map[string]float64, error) {
	log, err := runfile.ParseMetrics(name, data)
	if err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}
	rows := make([]map[string]float64, len(log.Lines))
	for i, m := range log.Lines {
		rows[i] = m.Values()
	}
	return rows, nil
}

// Series returns the values of metric against global_step, in file order,
// skipping iterations that did not log the metric or the step.
func (r Run) Series(metric string) []Point {
	var pts []Point
	for _, m := range r.Metrics {
		v, ok := m[metric]
		if !ok {
			continue
		}
		step, ok := m[StepKey]
		if !ok {
			continue
		}
		pts = append(pts, Point{Step: step, Value: v})
	}
	return pts
}
