// Package run drives a training run on disk: its directory, config.toml,
// metrics.jsonl, checkpoints, progress reports, interruption and resumption.
// The algorithm itself is engine/ppo's.
package run

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/rs/zerolog"

	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/lago"
	"github.com/lago-rl/lago/engine/ppo"
)

// Files inside a run directory.
const (
	ConfigFile     = "config.toml"
	MetricsFile    = "metrics.jsonl"
	CheckpointFile = "checkpoint.lago"
	SummaryFile    = "summary.json"
)

// ErrInterrupted is returned when the context was cancelled: the run wrote a
// checkpoint and can be resumed.
var ErrInterrupted = errors.New("interrupted; checkpoint written")

// Options configure Train.
type Options struct {
	Dir         string          // the run directory
	Resume      bool            // continue the run in Dir from its checkpoint
	Log         zerolog.Logger  // structured logs
	Progress    func(Progress)  // called after every iteration (nil: none)
	Regularizer ppo.Regularizer // nil: the one the config's prior key names (none: vanilla PPO)
	// MaxIterations stops after this many iterations in this call (0: run to
	// the end), writing a checkpoint as an interruption would.
	MaxIterations int
}

// Progress is what a progress line shows.
type Progress struct {
	Step, Total   int64
	Iteration     int
	SPS           float64
	ETA           time.Duration
	RecentReturn  float64 // mean of the last 20 episodes
	RecentSuccess float64
	Episodes      int // how many recent episodes the means cover
}

// Summary is written to summary.json when a run completes.
type Summary struct {
	ExpName       string  `json:"exp_name"`
	EnvID         string  `json:"env_id"`
	Seed          int64   `json:"seed"`
	GlobalStep    int64   `json:"global_step"`
	Iterations    int     `json:"iterations"`
	FinalReturn   float64 `json:"final_return"`  // mean of the last 100 episodes
	FinalSuccess  float64 `json:"final_success"` // success rate of the last 100 episodes
	FinalEpisodes int     `json:"final_episodes"`
	WallSeconds   float64 `json:"wall_s"`
}

// DefaultDir is runs/NAME-SEED-TIME.
func DefaultDir(cfg config.Config, now time.Time) string {
	return filepath.Join("runs", fmt.Sprintf("%s-%d-%s", cfg.ExpName, cfg.Seed, now.Format("20060102-150405")))
}

// LoadConfig reads a run directory's effective config.
func LoadConfig(dir string) (config.Config, error) {
	return config.Load(filepath.Join(dir, ConfigFile))
}

// Train runs (or, with opt.Resume, continues) the training of cfg in opt.Dir.
// All torch work happens on the calling goroutine, locked to its OS thread.
func Train(ctx context.Context, cfg config.Config, opt Options) (Summary, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	log := opt.Log
	ckpt := filepath.Join(opt.Dir, CheckpointFile)
	if opt.Resume {
		if _, err := os.Stat(ckpt); err != nil {
			return Summary{}, fmt.Errorf("cannot resume %s: %w (a run killed before its first checkpoint cannot be resumed; start it again)", opt.Dir, err)
		}
	} else {
		if _, err := os.Stat(ckpt); err == nil {
			return Summary{}, fmt.Errorf("run directory %s already holds a run; resume it with -resume %s, or choose another -out", opt.Dir, opt.Dir)
		}
		if err := os.MkdirAll(opt.Dir, 0o755); err != nil {
			return Summary{}, err
		}
		if err := cfg.WriteFile(filepath.Join(opt.Dir, ConfigFile)); err != nil {
			return Summary{}, err
		}
	}

	reg := opt.Regularizer
	if reg == nil {
		r, closePrior, err := lago.FromConfig(ctx, cfg)
		if err != nil {
			return Summary{}, err
		}
		defer closePrior()
		reg = r
	}
	t, err := ppo.New(cfg, reg)
	if err != nil {
		return Summary{}, err
	}
	defer t.Close()
	if opt.Resume {
		if err := t.LoadCheckpoint(ckpt); err != nil {
			return Summary{}, err
		}
		if err := truncateMetrics(filepath.Join(opt.Dir, MetricsFile), t.Iteration); err != nil {
			return Summary{}, err
		}
		log.Info().Str("dir", opt.Dir).Int64("global_step", t.GlobalStep).Int("iteration", t.Iteration).Msg("resumed")
	}
	if t.Done() {
		log.Info().Str("dir", opt.Dir).Msg("run is already complete")
		return finish(t, opt, 0)
	}

	mf, err := os.OpenFile(filepath.Join(opt.Dir, MetricsFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return Summary{}, err
	}
	defer mf.Close()
	metrics := bufio.NewWriter(mf)
	defer metrics.Flush()

	log.Info().Str("dir", opt.Dir).Str("env", cfg.EnvID).Str("device", t.Dev.String()).
		Int64("total_timesteps", cfg.TotalTimesteps).Int("iterations", t.NumIterations).
		Int("batch", t.BatchSize).Str("regularizer", regName(reg)).Msg("training")
	start, startStep := time.Now(), t.GlobalStep
	ran := 0
	for !t.Done() {
		if ctx.Err() != nil || (opt.MaxIterations > 0 && ran >= opt.MaxIterations) {
			if err := checkpoint(t, opt.Dir, metrics); err != nil {
				return Summary{}, err
			}
			log.Info().Int64("global_step", t.GlobalStep).Str("checkpoint", ckpt).Msg("stopped; resume with -resume " + opt.Dir)
			return Summary{}, ErrInterrupted
		}
		m, err := t.Iterate(context.WithoutCancel(ctx)) // the signal ctx stops the run between iterations
		if err != nil {
			return Summary{}, fmt.Errorf("iteration %d: %w", t.Iteration+1, err)
		}
		ran++
		// Flushed every iteration, so that `tail -f metrics.jsonl` and plots
		// of a running job see it; one small write per iteration is free.
		if err := writeMetrics(metrics, m, time.Since(start).Seconds()); err != nil {
			return Summary{}, err
		}
		if err := metrics.Flush(); err != nil {
			return Summary{}, err
		}
		if opt.Progress != nil {
			opt.Progress(progressOf(t, m, start, startStep))
		}
		if cfg.CheckpointEvery > 0 && t.Iteration%cfg.CheckpointEvery == 0 && !t.Done() {
			if err := checkpoint(t, opt.Dir, metrics); err != nil {
				return Summary{}, err
			}
		}
	}
	if err := checkpoint(t, opt.Dir, metrics); err != nil {
		return Summary{}, err
	}
	return finish(t, opt, time.Since(start).Seconds())
}

func regName(r ppo.Regularizer) string {
	if r == nil {
		return "none"
	}
	return r.Name()
}

func checkpoint(t *ppo.Trainer, dir string, metrics *bufio.Writer) error {
	// Metrics first: a checkpoint must never be ahead of the metrics it covers.
	if err := metrics.Flush(); err != nil {
		return err
	}
	return t.SaveCheckpoint(filepath.Join(dir, CheckpointFile))
}

func finish(t *ppo.Trainer, opt Options, wall float64) (Summary, error) {
	ret, _, succ, n := t.Recent.Mean(100)
	sum := Summary{
		ExpName: t.Cfg.ExpName, EnvID: t.Cfg.EnvID, Seed: t.Cfg.Seed,
		GlobalStep: t.GlobalStep, Iterations: t.Iteration,
		FinalReturn: ret, FinalSuccess: succ, FinalEpisodes: n, WallSeconds: wall,
	}
	js, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return sum, err
	}
	if err := ppo.WriteFileAtomic(filepath.Join(opt.Dir, SummaryFile), append(js, '\n')); err != nil {
		return sum, err
	}
	opt.Log.Info().Int64("global_step", t.GlobalStep).Float64("return", ret).Float64("success", succ).
		Float64("wall_s", math.Round(wall*10)/10).Str("dir", opt.Dir).Msg("done")
	return sum, nil
}

func progressOf(t *ppo.Trainer, m ppo.Metrics, start time.Time, startStep int64) Progress {
	p := Progress{Step: t.GlobalStep, Total: int64(t.NumIterations * t.BatchSize), Iteration: t.Iteration}
	if el := time.Since(start).Seconds(); el > 0 {
		p.SPS = float64(t.GlobalStep-startStep) / el
		if p.SPS > 0 {
			p.ETA = time.Duration(float64(p.Total-p.Step) / p.SPS * float64(time.Second))
		}
	}
	p.RecentReturn, _, p.RecentSuccess, p.Episodes = t.Recent.Mean(20)
	return p
}

// writeMetrics appends one metrics.jsonl line. Episode statistics are
// absent on iterations where no episode finished.
func writeMetrics(w io.Writer, m ppo.Metrics, elapsed float64) error {
	line := map[string]any{
		"global_step":        m.GlobalStep,
		"iteration":          m.Iteration,
		"sps":                round(m.SPS),
		"episodes":           len(m.Episodes),
		"policy_loss":        m.PolicyLoss,
		"value_loss":         m.ValueLoss,
		"entropy":            m.Entropy,
		"old_approx_kl":      m.OldApproxKL,
		"approx_kl":          m.ApproxKL,
		"clipfrac":           m.ClipFrac,
		"explained_variance": finite(m.ExplainedVariance),
		"learning_rate":      m.LearningRate,
		"time_s":             round(elapsed),
	}
	if n := len(m.Episodes); n > 0 {
		var ret, length, succ float64
		for _, e := range m.Episodes {
			ret += e.Return
			length += float64(e.Length)
			if e.Success {
				succ++
			}
		}
		line["episodic_return"] = ret / float64(n)
		line["episodic_length"] = length / float64(n)
		line["episodic_success"] = succ / float64(n)
	}
	for k, v := range m.Regularizer {
		line[k] = finite(v)
	}
	js, err := json.Marshal(line)
	if err != nil {
		return err
	}
	_, err = w.Write(append(js, '\n'))
	return err
}

func round(x float64) float64 { return math.Round(x*1000) / 1000 }

// finite maps NaN and ±Inf (which JSON cannot carry) to nil.
func finite(x float64) any {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return x
}

// truncateMetrics drops metric lines past the checkpoint's iteration (and a
// torn last line), so a resumed run does not log an iteration twice.
func truncateMetrics(path string, iteration int) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var kept bytes.Buffer
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		var m struct {
			Iteration *int `json:"iteration"`
		}
		if len(bytes.TrimSpace(line)) == 0 || line[len(line)-1] != '\n' {
			continue
		}
		if json.Unmarshal(line, &m) != nil || m.Iteration == nil || *m.Iteration > iteration {
			continue
		}
		kept.Write(line)
	}
	return ppo.WriteFileAtomic(path, kept.Bytes())
}
