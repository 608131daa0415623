// Package demos collects offline demonstrations from any env with a
// scripted expert (env.Expert) and turns them into the (prompt, answer)
// dataset a guidance model is trained on (issue 13, LaGO's stage 1), with
// held-out agreement and the text ceiling to judge such a model by.
//
// # Demonstrations directory (format "lago-demos", version 1)
//
//	manifest.json   written last: its presence means the directory is complete
//	episodes.jsonl  one Episode per line, in episode order
//
// The manifest holds the format and its version, lago's version, the Config
// (env id, seed, episodes, ε range, best-set rule), and the counts. Each
// Episode line holds its index, env seed, ε, outcome (success, return,
// length, truncation) and its steps; each Step holds the state's text view
// and instruction (where the env has them), the env's marshalled state
// (base64; any view can be rendered again from it), the expert's action, the
// set of actions the expert rates best (discrete actions), the action taken,
// whether it was an exploration draw, and the reward. A reader refuses
// another format, a newer version, unknown fields and counts that disagree
// with the manifest, naming the file and line.
package demos

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Format and FormatVersion identify a demonstrations directory. Bump the
// version on any change of meaning or layout; readers refuse newer ones.
const (
	Format        = "lago-demos"
	FormatVersion = 1
)

// File names in a demonstrations directory.
const (
	ManifestFile = "manifest.json"
	EpisodesFile = "episodes.jsonl"
)

// Step is one state of an episode and what was done in it.
type Step struct {
	T int `json:"t"`
	// Text is the env's text view (env.Describer), Instruction its
	// instruction where it has one; both empty otherwise.
	Text        string `json:"text,omitempty"`
	Instruction string `json:"instruction,omitempty"`
	// State is the env's MarshalBinary (base64 in JSON): restoring it
	// renders any template's view of this very state.
	State []byte `json:"state"`
	// Expert is the expert's action; Best the discrete actions the expert
	// rates best here (see BestRule), Expert's index first; empty for a
	// continuous action space.
	Expert []float32 `json:"expert"`
	Best   []int     `json:"best,omitempty"`
	// Taken is the action stepped: the expert's, or a uniform draw from the
	// action space when Explored.
	Taken    []float32 `json:"taken"`
	Explored bool      `json:"explored"`
	Reward   float64   `json:"reward"`
}

// Episode is one episode and its outcome.
type Episode struct {
	Index int `json:"episode"`
	// EnvSeed seeds the env before the episode's Reset; Epsilon is its
	// exploration probability.
	EnvSeed    uint64  `json:"env_seed"`
	Epsilon    float64 `json:"epsilon"`
	Success    bool    `json:"success"`
	Terminated bool    `json:"terminated"`
	Truncated  bool    `json:"truncated"`
	Return     float64 `json:"return"`
	Steps      []Step  `json:"steps"`
}

// Counts summarise a demonstrations directory.
type Counts struct {
	Episodes  int `json:"episodes"`
	Steps     int `json:"steps"`
	Successes int `json:"successes"`
	Explored  int `json:"explored_steps"`
	// BestSize is the total size of the best sets, to average.
	BestSize int `json:"best_size"`
}

// Manifest describes a demonstrations directory.
type Manifest struct {
	Format        string `json:"format"`
	FormatVersion int    `json:"format_version"`
	LagoVersion   string `json:"lago_version"`
	Config        Config `json:"config"`
	Counts        Counts `json:"counts"`
	// Discrete is whether actions are indices (then Best is filled).
	Discrete bool `json:"discrete"`
	// Factors are the env's action factors (env.FactoredActions), if any.
	Factors [][]string `json:"factors,omitempty"`
}

// ReadManifest reads and checks dir's manifest.
func ReadManifest(dir string) (Manifest, error) {
	path := filepath.Join(dir, ManifestFile)
	var m Manifest
	if err := readJSON(path, &m); err != nil {
		return m, err
	}
	switch {
	case m.Format != Format:
		return m, fmt.Errorf("demos: %s: format %q, want %q (is %s a demonstrations directory?)", path, m.Format, Format, dir)
	case m.FormatVersion < 1 || m.FormatVersion > FormatVersion:
		return m, fmt.Errorf("demos: %s: format version %d; this lago reads versions 1 to %d (collect again, or use a newer lago)", path, m.FormatVersion, FormatVersion)
	}
	return m, m.Config.check()
}

// readJSON decodes one JSON document, refusing unknown fields.
func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("demos: %s is missing: the directory is incomplete or not what was asked for", path)
		}
		return fmt.Errorf("demos: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("demos: %s: %w", path, err)
	}
	return nil
}

// ReadLines decodes a JSON-lines file into values of T, one per line, in
// order, refusing unknown fields; an error names the file and line.
func ReadLines[T any](path string, each func(line int, v T) error) error {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("demos: %s is missing", path)
		}
		return fmt.Errorf("demos: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<28)
	line := 0
	for sc.Scan() {
		line++
		var v T
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("demos: %s line %d: %w", path, line, err)
		}
		if dec.More() {
			return fmt.Errorf("demos: %s line %d: more than one JSON value", path, line)
		}
		if err := each(line, v); err != nil {
			return fmt.Errorf("demos: %s line %d: %w", path, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("demos: %s line %d: %w", path, line+1, err)
	}
	return nil
}

// Read streams the episodes of a demonstrations directory in order and
// checks them against the manifest (indices in order, counts).
func Read(dir string, each func(Episode) error) (Manifest, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return m, err
	}
	var got Counts
	path := filepath.Join(dir, EpisodesFile)
	err = ReadLines(path, func(line int, ep Episode) error {
		if ep.Index != got.Episodes {
			return fmt.Errorf("episode %d where episode %d was expected", ep.Index, got.Episodes)
		}
		if len(ep.Steps) == 0 {
			return fmt.Errorf("episode %d has no steps", ep.Index)
		}
		for _, s := range ep.Steps {
			if len(s.Expert) == 0 || len(s.Taken) == 0 {
				return fmt.Errorf("episode %d step %d lacks the expert's or the taken action", ep.Index, s.T)
			}
			if m.Discrete && len(s.Best) == 0 {
				return fmt.Errorf("episode %d step %d has no best set", ep.Index, s.T)
			}
		}
		got.add(ep)
		return each(ep)
	})
	if err != nil {
		return m, err
	}
	if got != m.Counts {
		return m, fmt.Errorf("demos: %s holds %+v but %s says %+v: the files do not belong together", path, got, filepath.Join(dir, ManifestFile), m.Counts)
	}
	return m, nil
}

func (c *Counts) add(ep Episode) {
	c.Episodes++
	c.Steps += len(ep.Steps)
	if ep.Success {
		c.Successes++
	}
	for _, s := range ep.Steps {
		if s.Explored {
			c.Explored++
		}
		c.BestSize += len(s.Best)
	}
}
