package stage1

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/demos"
	"github.com/lago-rl/lago/engine/lm"
	"github.com/lago-rl/lago/engine/lm/train"
	"github.com/lago-rl/lago/engine/prior"
	"github.com/lago-rl/lago/engine/runfile"
)

// A guidance model folder (format "lago-guidance-model", version 1):
//
//	model.gguf     the trained llama model (lm: and Ollama read it)
//	manifest.json  written last: what made the model, its held-out figures,
//	               a known state with the answer the model must give, and
//	               the file's SHA-256
//
// Everything in the manifest follows from the config, so regenerating the
// model on CPU gives the same manifest as well as the same file (wall
// times live in the step records, stage1.json, instead).
const (
	ModelFormat        = "lago-guidance-model"
	ModelFormatVersion = 1
	ModelFile          = "model.gguf"
	ManifestFile       = "manifest.json"
)

// ModelManifest describes a guidance model.
type ModelManifest struct {
	Format        string `json:"format"`
	FormatVersion int    `json:"format_version"`
	LagoVersion   string `json:"lago_version"`
	File          string `json:"file"`
	SHA256        string `json:"sha256"`
	Bytes         int64  `json:"bytes"`
	Params        int64  `json:"params"`
	// Scorer is the in-process engine that measured Heldout and Known, as
	// its cache keys name it (lm.Scorer.Digest without the file's digest,
	// e.g. "lago-lm-f32"): another engine rounds differently.
	Scorer string `json:"scorer"`
	// Config is the whole stage-1 config that made the model (the data
	// seeds are its demos_seed and split_seed; the training's its train.seed).
	Config Config `json:"config"`
	// Demos and Dataset are the counts of the data it was trained on.
	Demos   demos.Counts        `json:"demos"`
	Dataset demos.DatasetCounts `json:"dataset"`
	Heldout Heldout             `json:"heldout"`
	Known   KnownState          `json:"known_state"`
}

// Heldout are the model's figures on the held-out episodes.
type Heldout struct {
	// NLL is the mean negative log-likelihood (nats) of the answer tokens
	// of the held-out pairs; PairAccuracy the fraction of pairs whose answer
	// is the model's top-1 token (teacher-forced, as lago lm train reports).
	NLL          float64 `json:"nll"`
	PairAccuracy float64 `json:"pair_accuracy"`
	// Agreement with the expert as demos.Agrees defines it, on the held-out
	// states; TextCeiling is the best any model reading the same text can do
	// there (demos.TextCeiling).
	Agreement   demos.AgreementResult `json:"agreement"`
	TextCeiling demos.Ceiling         `json:"text_ceiling"`
}

// KnownState is one held-out state and the model's answer to it, for a
// check that a copy of the model loads and scores as it did when made.
type KnownState struct {
	Template string     `json:"template"`
	Text     string     `json:"text"`
	Factors  [][]string `json:"factors"`
	// TopAction is the model's top action (demos.TopAction), TopLogprob
	// its log-probability: log p(first factor) + log p(second | first).
	TopAction  int     `json:"top_action"`
	TopLogprob float64 `json:"top_logprob"`
	// Expert is the expert's action there, Best the actions it rates best.
	Expert int   `json:"expert"`
	Best   []int `json:"best"`
}

// Agreement is an in-process model's held-out agreement with the expert
// (demos.Agreement's definition). It scores the states in batches
// (lm.Scorer.ScoreBatch: every first-factor prompt in one pass, then the
// second-factor prompts of the likeliest options) and reads each state's
// top action from the joint distribution (demos.TopOfJoint), which is
// demos.TopAction's answer at a fraction of its one-prompt-at-a-time cost.
func Agreement(ctx context.Context, s *lm.Scorer, m demos.DatasetManifest, states []demos.State) (demos.AgreementResult, error) {
	tmpl, err := prior.TemplateByVersion(m.Config.Template)
	if err != nil {
		return demos.AgreementResult{}, err
	}
	const chunk = 256
	tops := make([]int, 0, len(states))
	for lo := 0; lo < len(states); lo += chunk {
		part := states[lo:min(lo+chunk, len(states))]
		qs := make([]prior.Question, len(part))
		for i, st := range part {
			qs[i] = prior.Question{Text: st.Text, Factors: m.Factors, Template: tmpl}
		}
		joints, err := scoreQuestions(ctx, s, qs)
		if err != nil {
			return demos.AgreementResult{}, err
		}
		for i, p := range joints {
			top, err := demos.TopOfJoint(p, inner(m.Factors))
			if err != nil {
				return demos.AgreementResult{}, fmt.Errorf("stage1: episode %d step %d: %w", part[i].Episode, part[i].T, err)
			}
			tops = append(tops, top)
		}
	}
	return demos.AgreementOfTops(m, states, tops)
}

// scoreQuestions is each question's joint distribution over its actions
// (first factor major), as the lm: prior reads it.
func scoreQuestions(ctx context.Context, s *lm.Scorer, qs []prior.Question) ([][]float64, error) {
	lq := make([]lm.Query, len(qs))
	for i, q := range qs {
		lq[i] = lm.Query{Prompt: q.Prompt, Factors: q.Factors}
	}
	scored, err := s.ScoreBatch(ctx, lq)
	if err != nil {
		return nil, err
	}
	joints := make([][]float64, len(scored))
	for i, sc := range scored {
		joints[i] = sc.Probs
	}
	return joints, nil
}

// inner is the options of the second factor, 1 without one.
func inner(factors [][]string) int {
	if len(factors) == 2 {
		return len(factors[1])
	}
	return 1
}

// Question is the known state's question, as the prior asks it.
func (k KnownState) Question() (prior.Question, error) {
	tmpl, err := prior.TemplateByVersion(k.Template)
	if err != nil {
		return prior.Question{}, err
	}
	return prior.Question{Text: k.Text, Factors: k.Factors, Template: tmpl}, nil
}

// ScoreKnown is s's top action on the known state (demos.TopAction's, read
// from the joint distribution as Agreement reads it) and its
// log-probability: log p(first factor) + log p(second | first).
func ScoreKnown(ctx context.Context, s *lm.Scorer, k KnownState) (top int, logprob float64, err error) {
	q, err := k.Question()
	if err != nil {
		return 0, 0, err
	}
	joints, err := scoreQuestions(ctx, s, []prior.Question{q})
	if err != nil {
		return 0, 0, err
	}
	if top, err = demos.TopOfJoint(joints[0], inner(q.Factors)); err != nil {
		return 0, 0, err
	}
	return top, math.Log(joints[0][top]), nil
}

// BuildModel makes the model folder: the trained GGUF copied in, its
// held-out figures measured, the manifest written last.
func BuildModel(ctx context.Context, c Config, dataDir, trainDir, dir, lagoVersion string) (ModelManifest, error) {
	dm, states, err := demos.ReadDataset(dataDir)
	if err != nil {
		return ModelManifest{}, err
	}
	if len(states) == 0 {
		return ModelManifest{}, fmt.Errorf("stage1: %s has no held-out states", dataDir)
	}
	nll, acc, err := lastEvaluation(filepath.Join(trainDir, train.MetricsFile))
	if err != nil {
		return ModelManifest{}, err
	}
	path := filepath.Join(dir, ModelFile)
	sum, n, err := copyFile(filepath.Join(trainDir, train.ModelFile), path)
	if err != nil {
		return ModelManifest{}, err
	}
	dev, err := torchDevice(c)
	if err != nil {
		return ModelManifest{}, err
	}
	s, err := lm.OpenScorer(path, lm.ScorerOptions{Device: dev.String(), Threads: max(c.Train.TorchThreads, 1)})
	if err != nil {
		return ModelManifest{}, err
	}
	defer s.Close()
	ag, err := Agreement(ctx, s, dm, states)
	if err != nil {
		return ModelManifest{}, err
	}
	st := states[0]
	known := KnownState{Template: dm.Config.Template, Text: st.Text, Factors: dm.Factors, Expert: st.Expert, Best: st.Best}
	if known.TopAction, known.TopLogprob, err = ScoreKnown(ctx, s, known); err != nil {
		return ModelManifest{}, err
	}
	im, err := lm.Import(path, torch.Float32, torch.CPU)
	if err != nil {
		return ModelManifest{}, err
	}
	shape := im.Model.Shape
	im.Model.Free()
	m := ModelManifest{Format: ModelFormat, FormatVersion: ModelFormatVersion, LagoVersion: lagoVersion,
		File: ModelFile, SHA256: sum, Bytes: n, Params: shape.ParamCount(), Scorer: ScorerEngine(s), Config: c,
		Demos: dm.DemosCounts, Dataset: dm.Counts,
		Heldout: Heldout{NLL: nll, PairAccuracy: acc, Agreement: ag, TextCeiling: demos.TextCeiling(states)},
		Known:   known}
	js, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, err
	}
	if err := runfile.WriteFileAtomic(filepath.Join(dir, ManifestFile), append(js, '\n')); err != nil {
		return m, fmt.Errorf("stage1: %w", err)
	}
	return m, nil
}

// ScorerEngine is the engine part of s's cache-key digest ("lago-lm-f32"
// of "lago-lm-f32:sha256:…").
func ScorerEngine(s *lm.Scorer) string {
	engine, _, _ := strings.Cut(s.Digest(), ":")
	return engine
}

// ReadModelManifest reads a model folder's manifest.
func ReadModelManifest(dir string) (ModelManifest, error) {
	var m ModelManifest
	path := filepath.Join(dir, ManifestFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return m, fmt.Errorf("stage1: %w", err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("stage1: %s: %w", path, err)
	}
	switch {
	case m.Format != ModelFormat:
		return m, fmt.Errorf("stage1: %s: format %q, want %q", path, m.Format, ModelFormat)
	case m.FormatVersion < 1 || m.FormatVersion > ModelFormatVersion:
		return m, fmt.Errorf("stage1: %s: format version %d; this lago reads versions 1 to %d", path, m.FormatVersion, ModelFormatVersion)
	}
	return m, nil
}

// FileSHA256 is the hex SHA-256 of the file at path.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("stage1: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("stage1: %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// copyFile copies src to dst atomically and returns its SHA-256 and size.
func copyFile(src, dst string) (string, int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", 0, fmt.Errorf("stage1: %w", err)
	}
	defer in.Close()
	h := sha256.New()
	var n int64
	err = runfile.WriteAtomic(dst, 0o644, func(w io.Writer) error {
		n, err = io.Copy(io.MultiWriter(w, h), in)
		return err
	})
	if err != nil {
		return "", 0, fmt.Errorf("stage1: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// lastEvaluation is the held-out loss and accuracy of the last metrics line
// that has them (the final step always evaluates).
func lastEvaluation(path string) (loss, acc float64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("stage1: %w", err)
	}
	defer f.Close()
	found := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		var m train.Metrics
		if json.Unmarshal(sc.Bytes(), &m) == nil && m.HeldoutLoss != nil && m.HeldoutAcc != nil {
			loss, acc, found = *m.HeldoutLoss, *m.HeldoutAcc, true
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, fmt.Errorf("stage1: %s: %w", path, err)
	}
	if !found {
		return 0, 0, errors.New("stage1: " + path + " has no held-out evaluation")
	}
	return loss, acc, nil
}
