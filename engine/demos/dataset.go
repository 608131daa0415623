package demos

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"

	"github.com/lago-rl/lago/engine/env"
	"github.com/lago-rl/lago/engine/prior"
	"github.com/lago-rl/lago/engine/runfile"
)

// The guidance dataset directory (format "lago-guidance-dataset", version 1):
//
//	train.jsonl           {"prompt", "answer"} pairs, what `lago lm train` reads
//	heldout.jsonl         the same for the held-out episodes
//	heldout-states.jsonl  one State per held-out state: the text, the expert's
//	                      action and best set, for Agreement and TextCeiling
//	manifest.json         written last: format, versions, template, split, counts
//
// Each state gives one pair per action factor, with exactly the prompts the
// ollama: scorer sends for it (prior.Question.Prompt: the ball question, then
// the direction question for the expert's ball) and the expert's label as
// the answer, with the space the model writes before it (" B"). Episodes are
// split whole: no episode has states on both sides. With Augment, each
// training state's pairs are followed by those of its symmetric views.
const (
	DatasetFormat        = "lago-guidance-dataset"
	DatasetFormatVersion = 1

	TrainFile         = "train.jsonl"
	HeldoutFile       = "heldout.jsonl"
	HeldoutStatesFile = "heldout-states.jsonl"
)

// Pair is one training example, as engine/lm/train reads it.
type Pair struct {
	Prompt string `json:"prompt"`
	Answer string `json:"answer"`
}

// State is a held-out state: what agreement and the text ceiling need.
type State struct {
	Episode int    `json:"episode"`
	T       int    `json:"t"`
	Text    string `json:"text"` // the template's view of the state
	Expert  int    `json:"expert"`
	Best    []int  `json:"best"`
}

// DatasetConfig chooses the template and the split.
type DatasetConfig struct {
	// Template is a prior template version (prior.TemplateByVersion).
	Template        string  `json:"template"`
	HeldoutFraction float64 `json:"heldout_fraction"`
	// Seed draws which episodes are held out.
	Seed uint64 `json:"seed"`
	// TrainEpisodes keeps only the first this many training episodes (in
	// collection order); 0 keeps all. The split is drawn over all episodes
	// first, so datasets of one demonstrations directory that differ only
	// here share their held-out set: a ladder of data sizes measured on the
	// same states.
	TrainEpisodes int `json:"train_episodes,omitempty"`
	// Augment adds, for each training state, this many views of it through
	// the env's symmetries (env.Symmetric: CLEVR-Robot's colours and its
	// left and right), each with the expert's action mapped: more distinct
	// texts from the same demonstrations. They are drawn at random, seeded
	// by Seed, AugmentSeed and the episode, so a dataset is the same
	// whatever TrainEpisodes keeps. The held-out side is never augmented.
	Augment int `json:"augment,omitempty"`
	// AugmentSeed draws other views for the same split: a second pass with
	// fresh views keeps Seed, and so the held-out episodes, and changes
	// this. 0 is the draws of datasets made before it existed.
	AugmentSeed uint64 `json:"augment_seed,omitempty"`
}

// DatasetCounts summarise a dataset.
type DatasetCounts struct {
	TrainEpisodes   int `json:"train_episodes"`
	HeldoutEpisodes int `json:"heldout_episodes"`
	TrainPairs      int `json:"train_pairs"`
	HeldoutPairs    int `json:"heldout_pairs"`
	HeldoutStates   int `json:"heldout_states"`
	// AugmentedStates counts the training states' symmetric views
	// (DatasetConfig.Augment), whose pairs TrainPairs includes.
	AugmentedStates int `json:"augmented_states,omitempty"`
}

// DatasetManifest describes a dataset directory.
type DatasetManifest struct {
	Format        string        `json:"format"`
	FormatVersion int           `json:"format_version"`
	LagoVersion   string        `json:"lago_version"`
	Config        DatasetConfig `json:"config"`
	// Demos is the demonstrations directory as given, DemosConfig and
	// DemosCounts its manifest's.
	Demos       string        `json:"demos"`
	DemosConfig Config        `json:"demos_config"`
	DemosCounts Counts        `json:"demos_counts"`
	Factors     [][]string    `json:"factors"`
	Counts      DatasetCounts `json:"counts"`
}

func (c DatasetConfig) check() error {
	if !(c.HeldoutFraction > 0 && c.HeldoutFraction < 1) {
		return fmt.Errorf("demos: held-out fraction %v; want a value in (0, 1)", c.HeldoutFraction)
	}
	if c.TrainEpisodes < 0 {
		return fmt.Errorf("demos: %d training episodes; want 0 (all) or more", c.TrainEpisodes)
	}
	if c.Augment < 0 {
		return fmt.Errorf("demos: augment %d; want 0 (none) or the number of symmetric views per training state", c.Augment)
	}
	_, err := prior.TemplateByVersion(c.Template)
	return err
}

// heldoutEpisodes draws which of n episodes are held out: a fraction of
// them, at least one and at most n-1.
func heldoutEpisodes(n int, frac float64, seed uint64) (map[int]bool, error) {
	if n < 2 {
		return nil, fmt.Errorf("demos: %d episode(s); a split by episode needs at least 2", n)
	}
	k := min(max(int(frac*float64(n)+0.5), 1), n-1)
	perm := rand.New(rand.NewPCG(seed, 0x686f6c646f7574)).Perm(n) // "holdout"
	out := make(map[int]bool, k)
	for _, i := range perm[:k] {
		out[i] = true
	}
	return out, nil
}

// BuildDataset turns the demonstrations in demosDir into a dataset in out.
// Each state is restored into a fresh env and asked with prior.QuestionWith,
// the very function the ollama: scorer builds its prompts with.
func BuildDataset(demosDir, out string, cfg DatasetConfig, lagoVersion string) (DatasetManifest, error) {
	if err := cfg.check(); err != nil {
		return DatasetManifest{}, err
	}
	tmpl, _ := prior.TemplateByVersion(cfg.Template)
	dm, err := ReadManifest(demosDir)
	if err != nil {
		return DatasetManifest{}, err
	}
	if !dm.Discrete {
		return DatasetManifest{}, fmt.Errorf("demos: %s holds continuous actions (%s); a label dataset needs discrete ones", demosDir, dm.Config.EnvID)
	}
	held, err := heldoutEpisodes(dm.Counts.Episodes, cfg.HeldoutFraction, cfg.Seed)
	if err != nil {
		return DatasetManifest{}, err
	}
	if _, err := os.Stat(filepath.Join(out, ManifestFile)); err == nil {
		return DatasetManifest{}, fmt.Errorf("demos: %s already holds a dataset (%s); choose another directory", out, ManifestFile)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return DatasetManifest{}, fmt.Errorf("demos: %w", err)
	}
	e, err := env.Make(dm.Config.EnvID)
	if err != nil {
		return DatasetManifest{}, fmt.Errorf("demos: %w", err)
	}
	sym, _ := e.(env.Symmetric)
	if cfg.Augment > 0 && sym == nil {
		return DatasetManifest{}, fmt.Errorf("demos: augment %d, but %s has no symmetries (env.Symmetric) to augment by; use augment 0", cfg.Augment, dm.Config.EnvID)
	}
	m := DatasetManifest{Format: DatasetFormat, FormatVersion: DatasetFormatVersion, LagoVersion: lagoVersion,
		Config: cfg, Demos: demosDir, DemosConfig: dm.Config, DemosCounts: dm.Counts}

	// pass writes the pairs of one side of the split (and, held out, the states).
	pass := func(heldout bool, pairs, states io.Writer) error {
		pw, sw := bufio.NewWriterSize(pairs, 1<<20), (*bufio.Writer)(nil)
		if states != nil {
			sw = bufio.NewWriterSize(states, 1<<20)
		}
		_, err := Read(demosDir, func(ep Episode) error {
			if held[ep.Index] != heldout {
				return nil
			}
			if !heldout && cfg.TrainEpisodes > 0 && m.Counts.TrainEpisodes >= cfg.TrainEpisodes {
				return nil
			}
			// The symmetries drawn for an episode's states depend only on
			// the seeds and the episode.
			rng := rand.New(rand.NewPCG(cfg.Seed^cfg.AugmentSeed*0x9e3779b97f4a7c15, 0x61756700+uint64(ep.Index))) // "aug"
			if heldout {
				m.Counts.HeldoutEpisodes++
			} else {
				m.Counts.TrainEpisodes++
			}
			for _, s := range ep.Steps {
				q, err := questionAt(e, tmpl, s)
				if err != nil {
					return fmt.Errorf("episode %d step %d: %w", ep.Index, s.T, err)
				}
				if m.Factors == nil {
					m.Factors = q.Factors
				}
				ps, err := PairsFor(q, int(s.Expert[0]))
				if err != nil {
					return fmt.Errorf("episode %d step %d: %w", ep.Index, s.T, err)
				}
				for _, p := range ps {
					if err := writeLine(pw, p); err != nil {
						return err
					}
				}
				if heldout {
					m.Counts.HeldoutPairs += len(ps)
					m.Counts.HeldoutStates++
					st := State{Episode: ep.Index, T: s.T, Text: q.Text, Expert: int(s.Expert[0]), Best: s.Best}
					if err := writeLine(sw, st); err != nil {
						return err
					}
				} else {
					m.Counts.TrainPairs += len(ps)
				}
				if heldout {
					continue
				}
				for range cfg.Augment {
					n, err := writeSymmetric(pw, e, sym, tmpl, s, rng)
					if err != nil {
						return fmt.Errorf("episode %d step %d: %w", ep.Index, s.T, err)
					}
					if n > 0 {
						m.Counts.TrainPairs += n
						m.Counts.AugmentedStates++
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if sw != nil {
			if err := sw.Flush(); err != nil {
				return err
			}
		}
		return pw.Flush()
	}
	if err := runfile.WriteAtomic(filepath.Join(out, TrainFile), 0o644, func(w io.Writer) error {
		return pass(false, w, nil)
	}); err != nil {
		return m, err
	}
	if err := runfile.WriteAtomic(filepath.Join(out, HeldoutFile), 0o644, func(w io.Writer) error {
		return runfile.WriteAtomic(filepath.Join(out, HeldoutStatesFile), 0o644, func(s io.Writer) error {
			return pass(true, w, s)
		})
	}); err != nil {
		return m, err
	}
	js, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, err
	}
	if err := runfile.WriteFileAtomic(filepath.Join(out, ManifestFile), append(js, '\n')); err != nil {
		return m, fmt.Errorf("demos: %w", err)
	}
	return m, nil
}

// questionAt restores a recorded state into e and builds its question. The
// env's own view must still be what was recorded: otherwise the demos come
// from another version of the env and its expert.
func questionAt(e env.Env, tmpl prior.Template, s Step) (prior.Question, error) {
	if err := e.UnmarshalBinary(s.State); err != nil {
		return prior.Question{}, fmt.Errorf("restoring the state: %w", err)
	}
	if d, ok := e.(env.Describer); ok && d.TextView() != s.Text {
		return prior.Question{}, fmt.Errorf("the restored state reads %q, the demonstrations recorded %q: they come from another version of %s", d.TextView(), s.Text, e.Spec().ID)
	}
	return prior.QuestionWith(e, tmpl)
}

// writeSymmetric restores s into e, transforms it by a symmetry drawn from
// rng, and writes the pairs of that view with the expert's action mapped.
// It writes nothing, returning 0, where the state's task admits no symmetry.
func writeSymmetric(w *bufio.Writer, e env.Env, sym env.Symmetric, tmpl prior.Template, s Step, rng *rand.Rand) (int, error) {
	if err := e.UnmarshalBinary(s.State); err != nil {
		return 0, fmt.Errorf("restoring the state: %w", err)
	}
	action, ok := sym.ApplyRandomSymmetry(rng)
	if !ok {
		return 0, nil
	}
	q, err := prior.QuestionWith(e, tmpl)
	if err != nil {
		return 0, err
	}
	ps, err := PairsFor(q, action(int(s.Expert[0])))
	if err != nil {
		return 0, err
	}
	for _, p := range ps {
		if err := writeLine(w, p); err != nil {
			return 0, err
		}
	}
	return len(ps), nil
}

// PairsFor is the (prompt, answer) pairs of a state whose expert action is
// a: one per factor, the later factor's prompt naming the expert's option
// of the factor before, as the scorer asks it.
func PairsFor(q prior.Question, a int) ([]Pair, error) {
	if a < 0 || a >= q.NumActions() {
		return nil, fmt.Errorf("expert action %d outside the %d actions", a, q.NumActions())
	}
	if len(q.Factors) == 1 {
		return []Pair{{q.Prompt(0, ""), answer(a)}}, nil
	}
	inner := len(q.Factors[1])
	first, second := a/inner, a%inner
	return []Pair{
		{q.Prompt(0, ""), answer(first)},
		{q.Prompt(1, q.Factors[0][first]), answer(second)},
	}, nil
}

// answer is label i as the model continues "Answer:" with it.
func answer(i int) string { return " " + prior.Labels[i:i+1] }

func writeLine(w *bufio.Writer, v any) error {
	js, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Write(js)
	return w.WriteByte('\n')
}

// ReadDataset reads a dataset's manifest and held-out states.
func ReadDataset(dir string) (DatasetManifest, []State, error) {
	path := filepath.Join(dir, ManifestFile)
	var m DatasetManifest
	if err := readJSON(path, &m); err != nil {
		return m, nil, err
	}
	switch {
	case m.Format != DatasetFormat:
		return m, nil, fmt.Errorf("demos: %s: format %q, want %q (is %s a guidance dataset?)", path, m.Format, DatasetFormat, dir)
	case m.FormatVersion < 1 || m.FormatVersion > DatasetFormatVersion:
		return m, nil, fmt.Errorf("demos: %s: format version %d; this lago reads versions 1 to %d", path, m.FormatVersion, DatasetFormatVersion)
	}
	if err := m.Config.check(); err != nil {
		return m, nil, fmt.Errorf("demos: %s: %w", path, err)
	}
	var states []State
	n := 1
	for _, f := range m.Factors {
		n *= len(f)
	}
	err := ReadLines(filepath.Join(dir, HeldoutStatesFile), func(line int, s State) error {
		if s.Expert < 0 || s.Expert >= n || len(s.Best) == 0 || !slices.Contains(s.Best, s.Expert) {
			return fmt.Errorf("expert action %d and best set %v do not fit %d actions", s.Expert, s.Best, n)
		}
		states = append(states, s)
		return nil
	})
	if err != nil {
		return m, nil, err
	}
	if len(states) != m.Counts.HeldoutStates {
		return m, nil, fmt.Errorf("demos: %s holds %d states, its manifest says %d", filepath.Join(dir, HeldoutStatesFile), len(states), m.Counts.HeldoutStates)
	}
	return m, states, nil
}
