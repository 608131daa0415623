package stage1

import (
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
	"time"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/demos"
	"github.com/lago-rl/lago/engine/lm"
	"github.com/lago-rl/lago/engine/lm/train"
	"github.com/lago-rl/lago/engine/prior"
	"github.com/lago-rl/lago/engine/runfile"
)

// The steps, in order, each in the output folder of its name.
const (
	StepDemos   = "demos"
	StepDataset = "dataset"
	StepTrain   = "train"
	StepModel   = "model"
	StepPush    = "push"
)

// StepFile is a step folder's record: written when the step starts
// (Done false) and again, atomically, when it has finished.
const StepFile = "stage1.json"

// stepRecord is the content of StepFile.
type stepRecord struct {
	Step string `json:"step"`
	// Hash is the SHA-256 of the step's inputs (stepHash).
	Hash    string  `json:"hash"`
	Done    bool    `json:"done"`
	Seconds float64 `json:"seconds,omitempty"` // wall time of the run that finished it (not of skipped reruns)
}

// Progress is what the progress line shows: the step (1-based, of Steps)
// and a line from inside it.
type Progress struct {
	Step         string
	Index, Steps int
	Detail       string
}

// Options are the run's non-config settings.
type Options struct {
	Dir         string // output folder (created)
	LagoVersion string
	// Progress receives the step's detail lines; nil: none.
	Progress func(Progress)
	// Log receives one line per step: skipped, redone, finished.
	Log io.Writer
}

// Result is the end of a run: the model's manifest and where its files are.
type Result struct {
	Manifest ModelManifest
	Model    string // path of model.gguf in the model step's folder
	Pushed   string // the Ollama model created, if any
	Skipped  []string
}

// stepHash hashes what shapes a step's output: the step's name, its part
// of the config and the hash of the step before it.
func stepHash(step string, part any, before string) string {
	js, err := json.Marshal(struct {
		Step   string `json:"step"`
		Config any    `json:"config"`
		Before string `json:"before"`
	}{step, part, before})
	if err != nil {
		panic(err) // plain structs of numbers and strings always marshal
	}
	h := sha256.Sum256(js)
	return hex.EncodeToString(h[:])
}

// Hashes are the step hashes of c, in step order (demos, dataset, train,
// model). Workers is left out: the demonstrations do not depend on it.
func (c Config) Hashes() [4]string {
	var h [4]string
	d := c.demosConfig()
	d.Workers = 0
	h[0] = stepHash(StepDemos, d, "")
	h[1] = stepHash(StepDataset, c.datasetConfig(), h[0])
	t := c.Train
	t.Data, t.HeldoutData = "", ""
	h[2] = stepHash(StepTrain, t, h[1])
	h[3] = stepHash(StepModel, ModelFormatVersion, h[2])
	return h
}

func (c Config) demosConfig() demos.Config {
	return demos.Config{EnvID: c.EnvID, Episodes: c.Episodes, Seed: uint64(c.DemosSeed), EpsilonMin: c.EpsilonMin,
		EpsilonMax: c.EpsilonMax, Best: demos.BestRule(c.Best), MaxSteps: c.MaxSteps, Workers: c.Workers}
}

func (c Config) datasetConfig() demos.DatasetConfig {
	return demos.DatasetConfig{Template: c.Template, HeldoutFraction: c.HeldoutFraction, Seed: uint64(c.SplitSeed), Augment: c.Augment}
}

// Run runs the pipeline into opt.Dir, skipping the steps already done for
// this config. With push non-empty it creates that Ollama model at the end
// (always: the server may have lost it; creating it again is cheap).
func Run(ctx context.Context, c Config, push string, opt Options) (Result, error) {
	if err := c.Validate(); err != nil {
		return Result{}, err
	}
	if push == "" {
		push = c.Push
	}
	if opt.Log == nil {
		opt.Log = io.Discard
	}
	steps := 4
	if push != "" {
		steps = 5
	}
	if err := os.MkdirAll(opt.Dir, 0o755); err != nil {
		return Result{}, fmt.Errorf("stage1: %w", err)
	}
	hashes := c.Hashes()
	var res Result
	report := func(step string, i int) func(string) {
		return func(detail string) {
			if opt.Progress != nil {
				opt.Progress(Progress{Step: step, Index: i, Steps: steps, Detail: detail})
			}
		}
	}
	demosDir := filepath.Join(opt.Dir, StepDemos)
	dataDir := filepath.Join(opt.Dir, StepDataset)
	trainDir := filepath.Join(opt.Dir, StepTrain)
	modelDir := filepath.Join(opt.Dir, StepModel)

	run := []struct {
		name string
		dir  string
		do   func(resume bool, progress func(string)) error
	}{
		{StepDemos, demosDir, func(_ bool, progress func(string)) error {
			start := time.Now()
			_, err := demos.Collect(ctx, c.demosConfig(), opt.LagoVersion, demosDir, func(p demos.Progress) {
				el := time.Since(start).Seconds()
				eta := time.Duration(el/float64(p.Episodes)*float64(p.Total-p.Episodes)) * time.Second
				progress(fmt.Sprintf("episode %d/%d  %d states  success %.2f  ETA %s", p.Episodes, p.Total, p.Steps,
					float64(p.Successes)/float64(p.Episodes), eta.Round(time.Second)))
			})
			return err
		}},
		{StepDataset, dataDir, func(_ bool, progress func(string)) error {
			progress("building the prompts of " + c.Template)
			_, err := demos.BuildDataset(demosDir, dataDir, c.datasetConfig(), opt.LagoVersion)
			return err
		}},
		{StepTrain, trainDir, func(resume bool, progress func(string)) error {
			return trainStep(ctx, c, dataDir, trainDir, resume, progress)
		}},
		{StepModel, modelDir, func(_ bool, progress func(string)) error {
			progress("held-out agreement with the expert")
			m, err := BuildModel(ctx, c, dataDir, trainDir, modelDir, opt.LagoVersion)
			res.Manifest = m
			return err
		}},
	}
	for i, s := range run {
		skip, resume, err := prepare(s.dir, s.name, hashes[i], opt.Log)
		if err != nil {
			return res, err
		}
		if skip {
			res.Skipped = append(res.Skipped, s.name)
			fmt.Fprintf(opt.Log, "stage1: %d/%d %s: done before with this config (%s); skipped\n", i+1, steps, s.name, s.dir)
			continue
		}
		start := time.Now()
		if err := s.do(resume, report(s.name, i+1)); err != nil {
			return res, fmt.Errorf("stage1: step %s: %w", s.name, err)
		}
		rec := stepRecord{Step: s.name, Hash: hashes[i], Done: true, Seconds: math.Round(time.Since(start).Seconds()*10) / 10}
		if err := writeRecord(s.dir, rec); err != nil {
			return res, err
		}
		fmt.Fprintf(opt.Log, "stage1: %d/%d %s: finished in %.1f s (%s)\n", i+1, steps, s.name, rec.Seconds, s.dir)
	}
	res.Model = filepath.Join(modelDir, ModelFile)
	if res.Manifest.Format == "" {
		m, err := ReadModelManifest(modelDir)
		if err != nil {
			return res, err
		}
		res.Manifest = m
	}
	if push != "" {
		report(StepPush, 5)("creating " + push)
		u, err := prior.ResolveHost(c.OllamaHost)
		if err != nil {
			return res, fmt.Errorf("config key ollama_host: %w", err)
		}
		if err := lm.Push(ctx, u, res.Model, push, lm.PushOptions{}, nil); err != nil {
			return res, fmt.Errorf("stage1: step push: %w", err)
		}
		res.Pushed = push
		fmt.Fprintf(opt.Log, "stage1: 5/5 push: created %s on %s\n", push, u.Host)
	}
	return res, nil
}

// prepare decides what to do with a step's folder: skip it (finished with
// this hash), resume it (training left unfinished with this hash), or
// clear it and run the step. A folder without a step record is not
// stage1's to clear: that is an error naming it.
func prepare(dir, step, hash string, log io.Writer) (skip, resume bool, err error) {
	rec, err := readRecord(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if entries, _ := os.ReadDir(dir); len(entries) > 0 {
			return false, false, fmt.Errorf("stage1: %s holds files but no %s: it was not made by lago stage1; remove it or choose another -out", dir, StepFile)
		}
	case err != nil:
		return false, false, err
	case rec.Hash == hash && rec.Done:
		return true, false, nil
	case rec.Hash == hash && step == StepTrain:
		if _, err := os.Stat(filepath.Join(dir, train.CheckpointFile)); err == nil {
			fmt.Fprintf(log, "stage1: %s: resuming the unfinished training from its checkpoint\n", dir)
			return false, true, nil
		}
		fallthrough
	default:
		why := "the config changed since it was made"
		if rec.Hash == hash {
			why = "it was left unfinished"
		}
		fmt.Fprintf(log, "stage1: %s: %s; redoing it\n", dir, why)
		if err := os.RemoveAll(dir); err != nil {
			return false, false, fmt.Errorf("stage1: %w", err)
		}
	}
	if err := writeRecord(dir, stepRecord{Step: step, Hash: hash}); err != nil {
		return false, false, err
	}
	return false, false, nil
}

func readRecord(dir string) (stepRecord, error) {
	var rec stepRecord
	data, err := os.ReadFile(filepath.Join(dir, StepFile))
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return rec, fmt.Errorf("stage1: %s: %w; remove the folder to redo the step", filepath.Join(dir, StepFile), err)
	}
	return rec, nil
}

func writeRecord(dir string, rec stepRecord) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("stage1: %w", err)
	}
	js, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	if err := runfile.WriteFileAtomic(filepath.Join(dir, StepFile), append(js, '\n')); err != nil {
		return fmt.Errorf("stage1: %w", err)
	}
	return nil
}

// trainStep trains the model on the dataset's split (lago lm train with
// data and heldout_data set to the dataset's files).
func trainStep(ctx context.Context, c Config, dataDir, dir string, resume bool, progress func(string)) error {
	cfg := c.Train
	cfg.Data = filepath.Join(dataDir, demos.TrainFile)
	cfg.HeldoutData = filepath.Join(dataDir, demos.HeldoutFile)
	opt := train.Options{Dir: dir, Resume: resume, Progress: func(p train.Progress) {
		line := fmt.Sprintf("step %d/%d  loss %.4f  %.0f tokens/s  ETA %s", p.Step, p.Total, p.Loss, p.TokensPerS, p.ETA.Round(time.Second))
		if !math.IsNaN(p.HeldoutAcc) {
			line += fmt.Sprintf("  held-out loss %.4f", p.HeldoutLoss)
		}
		progress(line)
	}}
	t, err := train.New(cfg, opt)
	if err != nil {
		return err
	}
	defer t.Free()
	_, err = t.Run(ctx, opt)
	return err
}

// torchDevice is the device the model step scores on: the training's.
func torchDevice(c Config) (torch.Device, error) {
	d, err := torch.ParseDevice(c.Train.Device)
	if err != nil {
		return d, fmt.Errorf("config key train.device: %w", err)
	}
	return d, nil
}
