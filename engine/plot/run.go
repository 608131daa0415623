package plot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/BurntSushi/toml"
)

// File names inside a run directory.
const (
	MetricsFile = "metrics.jsonl"
	ConfigFile  = "config.toml"
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

	cfgPath := filepath.Join(dir, ConfigFile)
	var cfg runConfig
	_, err := toml.DecodeFile(cfgPath, &cfg)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Metrics alone are still worth plotting; keep the fallback label.
	case err != nil:
		return Run{}, fmt.Errorf("%s: %w", cfgPath, err)
	default:
		if cfg.ExpName != "" {
			run.Label = cfg.ExpName
		}
		run.Seed = cfg.Seed
	}

	metricsPath := filepath.Join(dir, MetricsFile)
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

// parseMetrics decodes JSON Lines data; name is used in error messages only.
func parseMetrics(name string, data []byte) ([]map[string]float64, error) {
	lines := bytes.Split(data, []byte("\n"))
	last := len(lines) - 1
	for last >= 0 && len(bytes.TrimSpace(lines[last])) == 0 {
		last--
	}

	var rows []map[string]float64
	for i, line := range lines[:last+1] {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		row, err := parseLine(line)
		if err != nil {
			if i == last {
				break // a write cut short by a killed run
			}
			return nil, fmt.Errorf("%s:%d: %w", name, i+1, err)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// parseLine decodes one JSON object, keeping its numeric fields. Strings,
// booleans and nulls are dropped rather than rejected so that new or
// non-numeric fields never break loading.
func parseLine(line []byte) (map[string]float64, error) {
	var raw map[string]any
	if err := json.Unmarshal(line, &raw); err != nil {
		return nil, err
	}
	if raw == nil { // the literal null decodes without error
		return nil, errors.New("not a JSON object")
	}
	row := make(map[string]float64, len(raw))
	for k, v := range raw {
		if f, ok := v.(float64); ok {
			row[k] = f
		}
	}
	return row, nil
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
