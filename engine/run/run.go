// Package run drives a training run on disk: its directory, config.toml,
// metrics.jsonl, checkpoints, progress reports, interruption and resumption.
// The algorithm itself is engine/ppo's; the files' names and formats are
// engine/runfile's.
package run

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/rs/zerolog"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/config"
	_ "github.com/lago-rl/lago/engine/envs" // every env id resolves
	"github.com/lago-rl/lago/engine/lago"
	"github.com/lago-rl/lago/engine/ppo"
	"github.com/lago-rl/lago/engine/runfile"
)

// ErrInterrupted is returned when ctx was cancelled (or MaxIterations
// reached): the run finished its iteration, wrote a checkpoint and can be
// resumed.
var ErrInterrupted = errors.New("run: interrupted; checkpoint written")

// ErrAborted is returned when Options.Abort was cancelled: the iteration in
// progress was abandoned and nothing was written after it, so the last
// checkpoint (if any) is the run's state.
var ErrAborted = errors.New("run: aborted mid-iteration; the last checkpoint is kept")

// Options configure Train.
type Options struct {
	Dir         string                 // the run directory
	Resume      bool                   // continue the run in Dir from its checkpoint
	Log         zerolog.Logger         // structured logs
	Progress    func(runfile.Progress) // called after every iteration (nil: none)
	Regularizer ppo.Regularizer        // nil: the one the config's prior key names (none: vanilla PPO)
	// Abort, when cancelled, abandons the iteration in progress without a
	// checkpoint (a second Ctrl-C; see Interrupts). nil: never.
	Abort context.Context
	// MaxIterations stops after this many iterations in this call (0: run to
	// the end), writing a checkpoint as an interruption would.
	MaxIterations int
	// Group makes this process one rank of a data-parallel run (nil: a
	// single process; see dist.go). Only rank 0 touches Dir; the other ranks
	// take rank 0's config (cfg and Resume are ignored there).
	Group *torch.Group
	// Cores is the CPU cores this process may use when num_workers or
	// torch_threads is 0 (0: all): ranks sharing a machine split it.
	Cores int
}

// DefaultDir is runs/NAME-SEED-TIME.
func DefaultDir(cfg config.Config, now time.Time) string {
	return filepath.Join("runs", fmt.Sprintf("%s-%d-%s", cfg.ExpName, cfg.Seed, now.Format("20060102-150405")))
}

// LoadConfig reads a run directory's effective config.
func LoadConfig(dir string) (config.Config, error) {
	return config.Load(filepath.Join(dir, runfile.ConfigFile))
}

// HasCheckpoint reports whether the run directory dir holds a checkpoint,
// so that `lago train -resume dir` can continue it.
func HasCheckpoint(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, runfile.CheckpointFile))
	return err == nil
}

// Train runs (or, with opt.Resume, continues) the training of cfg in opt.Dir.
// The directory is locked for the whole call (runfile.Acquire). A new run's
// directory is made only once the trainer and the prior are up, so a start
// that fails (unknown env, unusable device or prior cache) leaves none.
// All torch work happens on the calling goroutine, locked to its OS thread.
func Train(ctx context.Context, cfg config.Config, opt Options) (runfile.Summary, error) {
	g := opt.Group
	if g != nil && g.Size() <= 1 {
		g = nil
	}
	lead := g == nil || g.Rank() == 0 // owns the run directory
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	log := opt.Log
	if g != nil {
		log = log.With().Int("rank", g.Rank()).Logger()
	}
	abort := opt.Abort
	if abort == nil {
		abort = context.Background()
	}
	ckpt := filepath.Join(opt.Dir, runfile.CheckpointFile)
	metricsPath := filepath.Join(opt.Dir, runfile.MetricsFile)
	var lock *runfile.Lock
	started := false // the run directory holds this run
	defer func() {
		// A start that failed in a directory that existed leaves it as
		// it was: without the lock file it made.
		if started {
			lock.Release()
		} else {
			lock.Discard()
		}
	}()
	var ckptData []byte // rank 0's checkpoint, for the other ranks
	prepare := func() error {
		// Before anything is made: a refused run leaves no directory.
		if err := cfg.CheckTrainable(); err != nil {
			return err
		}
		// The lock is taken as soon as the directory exists, so that a
		// second process is told who holds it before anything else.
		if _, err := os.Stat(opt.Dir); err == nil {
			if lock, err = runfile.Acquire(opt.Dir); err != nil {
				return err
			}
		}
		if !opt.Resume {
			return refuseExisting(opt.Dir)
		}
		if _, err := os.Stat(ckpt); err != nil {
			return fmt.Errorf("run: cannot resume %s: %w (a run killed before its first checkpoint cannot be resumed; start it again)", opt.Dir, err)
		}
		if g != nil {
			var err error
			if ckptData, err = os.ReadFile(ckpt); err != nil {
				return fmt.Errorf("run: %w", err)
			}
		}
		return nil
	}
	var err error
	if lead {
		err = prepare()
	}
	if g != nil {
		var text []byte
		if err == nil {
			text, err = cfg.Encode()
		}
		cfg, opt.Resume, ckptData, err = shareStart(g, startMessage{Config: string(text), Resume: opt.Resume, Checkpoint: ckptData}, err)
		if err == nil && opt.Resume && len(ckptData) == 0 {
			err = errNoCheckpointSent
		}
	}
	if err != nil {
		return runfile.Summary{}, err
	}

	reg := opt.Regularizer
	if reg == nil {
		r, closePrior, err := lago.FromConfig(ctx, cfg)
		if err != nil {
			return runfile.Summary{}, err
		}
		defer closePrior()
		reg = r
	}
	t, err := ppo.NewRank(cfg, reg, ppo.RankOptions{Group: g, Cores: opt.Cores})
	if err != nil {
		return runfile.Summary{}, err
	}
	defer t.Close()
	watch := newPriorWatch(cfg, reg, log)

	if opt.Resume && !lead {
		if err := t.RestoreShared(ckptData); err != nil {
			return runfile.Summary{}, fmt.Errorf("run: rank 0's checkpoint: %w", err)
		}
		if t.Done() {
			return runfile.Summary{}, nil
		}
	} else if opt.Resume {
		if g == nil {
			err = t.LoadCheckpoint(ckpt)
		} else if err = t.Restore(ckptData); err != nil {
			err = fmt.Errorf("checkpoint %s: %w", ckpt, err)
		}
		if err != nil {
			return runfile.Summary{}, err
		}
		if t.Done() {
			// A finished run stays as it is; only a run that died between
			// its last checkpoint and its summary gets one now.
			if sum, err := runfile.ReadSummary(opt.Dir); err == nil {
				log.Info().Str("dir", opt.Dir).Msg("run is already complete; nothing to do")
				return sum, nil
			}
		}
		lastTime, err := resumeMetrics(metricsPath, t.Iteration, watch, log)
		if err != nil {
			return runfile.Summary{}, err
		}
		if t.Done() {
			return finish(t, opt, lastTime, watch)
		}
		log.Info().Str("dir", opt.Dir).Int64("global_step", t.GlobalStep).Int("iteration", t.Iteration).Msg("resumed")
	} else if !lead {
		// Rank 0 makes the directory.
	} else if lock, err = newRunDir(opt.Dir, cfg, lock); err != nil {
		return runfile.Summary{}, err
	}
	started = true

	// A new run starts its metrics afresh: lines left by a run killed
	// before its first checkpoint describe nothing that can be resumed.
	metrics := bufio.NewWriter(io.Discard) // ranks other than 0 write none
	if lead {
		flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
		if !opt.Resume {
			flags |= os.O_TRUNC
		}
		mf, err := os.OpenFile(metricsPath, flags, 0o644)
		if err != nil {
			return runfile.Summary{}, fmt.Errorf("run: %w", err)
		}
		defer mf.Close()
		metrics = bufio.NewWriter(mf)
	}
	defer metrics.Flush()

	log.Info().Str("dir", opt.Dir).Str("env", cfg.EnvID).Str("device", t.Dev.String()).
		Int64("total_timesteps", cfg.TotalTimesteps).Int("iterations", t.NumIterations).
		Int("batch", t.GlobalBatch()).Int("ranks", t.World()).Str("regularizer", regName(reg)).Msg("training")
	start, startStep := time.Now(), t.GlobalStep
	ran := 0
	for !t.Done() {
		if abort.Err() != nil {
			return runfile.Summary{}, ErrAborted
		}
		stop := ctx.Err() != nil || (opt.MaxIterations > 0 && ran >= opt.MaxIterations)
		if g != nil {
			if stop, err = g.Any(stop); err != nil {
				return runfile.Summary{}, fmt.Errorf("run: agreeing whether to stop: %w", err)
			}
		}
		if stop {
			if err := checkpoint(t, opt.Dir, metrics); err != nil {
				return runfile.Summary{}, err
			}
			log.Info().Int64("global_step", t.GlobalStep).Str("checkpoint", ckpt).Msg("stopped; resume with -resume " + opt.Dir)
			return runfile.Summary{}, ErrInterrupted
		}
		m, err := iterate(abort, t)
		if abort.Err() != nil {
			// The trainer's state is half an iteration: never checkpoint it.
			return runfile.Summary{}, ErrAborted
		}
		if err != nil {
			var nonFinite *ppo.NonFiniteError
			if errors.As(err, &nonFinite) {
				return runfile.Summary{}, err // it names the iteration itself
			}
			return runfile.Summary{}, fmt.Errorf("run: iteration %d: %w", t.Iteration+1, err)
		}
		ran++
		// Flushed every iteration, so that `tail -f metrics.jsonl` and plots
		// of a running job see it; one small write per iteration is free.
		if err := runfile.WriteMetrics(metrics, metricsLine(m, time.Since(start).Seconds())); err != nil {
			return runfile.Summary{}, err
		}
		if err := metrics.Flush(); err != nil {
			return runfile.Summary{}, fmt.Errorf("run: %w", err)
		}
		if lead {
			watch.observe(m.Regularizer)
			if opt.Progress != nil {
				opt.Progress(progressOf(t, start, startStep))
			}
		}
		if cfg.CheckpointEvery > 0 && t.Iteration%cfg.CheckpointEvery == 0 && !t.Done() {
			if err := checkpoint(t, opt.Dir, metrics); err != nil {
				return runfile.Summary{}, err
			}
		}
	}
	if err := checkpoint(t, opt.Dir, metrics); err != nil {
		return runfile.Summary{}, err
	}
	return finish(t, opt, time.Since(start).Seconds(), watch)
}

// iterate runs one training iteration, abandoned when abort is cancelled.
// ppo's Iterate does not take a context yet, so an abort takes effect when
// the iteration ends; passing abort to Iterate is the one change needed once
// it does.
func iterate(abort context.Context, t *ppo.Trainer) (ppo.Metrics, error) {
	m, err := t.Iterate(abort)
	if abort.Err() != nil {
		return m, abort.Err()
	}
	return m, err
}

// refuseExisting fails when dir already holds a run: a new run never
// overwrites one.
func refuseExisting(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, runfile.CheckpointFile)); err == nil {
		return fmt.Errorf("run: directory %s already holds a run; resume it with -resume %s, or choose another -out", dir, dir)
	}
	return nil
}

// newRunDir makes dir (if it does not exist), locks it (unless lock
// already holds it) and writes the config. On failure it removes what it
// made, and only that.
func newRunDir(dir string, cfg config.Config, lock *runfile.Lock) (_ *runfile.Lock, err error) {
	created := false
	if lock == nil {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return nil, fmt.Errorf("run: %w", err)
		}
		switch err := os.Mkdir(dir, 0o755); {
		case err == nil:
			created = true
		case !errors.Is(err, fs.ErrExist):
			return nil, fmt.Errorf("run: %w", err)
		}
		defer func() {
			if err != nil && created {
				os.RemoveAll(dir)
			}
		}()
		if lock, err = runfile.Acquire(dir); err != nil {
			return nil, err
		}
		// Another process may have made a run here since the first check.
		if err = refuseExisting(dir); err != nil {
			lock.Release()
			return nil, err
		}
	}
	if err = cfg.WriteFile(filepath.Join(dir, runfile.ConfigFile)); err != nil {
		if created {
			lock.Release()
			return nil, err
		}
		return lock, err
	}
	return lock, nil
}

func regName(r ppo.Regularizer) string {
	if r == nil {
		return "none"
	}
	return r.Name()
}

func checkpoint(t *ppo.Trainer, dir string, metrics *bufio.Writer) error {
	// Rank 0's checkpoint stands for every rank of a group: they must hold
	// the same parameters (a collective: every rank calls it).
	if err := t.CheckReplicas(); err != nil {
		return err
	}
	if t.Rank() != 0 {
		return nil
	}
	// Metrics first: a checkpoint must never be ahead of the metrics it covers.
	if err := metrics.Flush(); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	return t.SaveCheckpoint(filepath.Join(dir, runfile.CheckpointFile))
}

func finish(t *ppo.Trainer, opt Options, wall float64, watch *priorWatch) (runfile.Summary, error) {
	ret, _, succ, n := t.Recent.Mean(runfile.EpisodeWindow)
	sum := runfile.Summary{
		ExpName: t.Cfg.ExpName, EnvID: t.Cfg.EnvID, Seed: t.Cfg.Seed,
		GlobalStep: t.GlobalStep, Iterations: t.Iteration,
		FinalReturn: ret, FinalSuccess: succ, FinalEpisodes: n, EpisodeWindow: runfile.EpisodeWindow,
		PriorCoverage: watch.coverage(), WallSeconds: wall,
	}
	// The same final episodes, by level (the checkpoint keeps their levels,
	// so a resumed run's figures are those of an uninterrupted one).
	sum.FinalSuccessByLevel, sum.FinalEpisodesByLevel = ppo.SuccessByLevel(t.Recent.Last(runfile.EpisodeWindow))
	if t.Rank() != 0 {
		return sum, nil // rank 0 writes the summary of the group's episodes
	}
	if err := runfile.WriteSummary(opt.Dir, sum); err != nil {
		return sum, err
	}
	ev := opt.Log.Info().Int64("global_step", t.GlobalStep).Float64("return", ret).Float64("success", succ).
		Int("episodes", n)
	if sum.PriorCoverage != nil {
		ev = ev.Float64("prior_coverage", *sum.PriorCoverage)
	}
	ev.Float64("wall_s", math.Round(wall*10)/10).Str("dir", opt.Dir).Msg("done")
	return sum, nil
}

func progressOf(t *ppo.Trainer, start time.Time, startStep int64) runfile.Progress {
	p := runfile.Progress{Step: t.GlobalStep, Total: int64(t.NumIterations * t.GlobalBatch()), Iteration: t.Iteration, Window: runfile.EpisodeWindow}
	if el := time.Since(start).Seconds(); el > 0 {
		p.SPS = float64(t.GlobalStep-startStep) / el
		if p.SPS > 0 {
			p.ETASecs = float64(p.Total-p.Step) / p.SPS
		}
	}
	p.Return, _, p.Success, p.Episodes = t.Recent.Mean(runfile.EpisodeWindow)
	return p
}

// metricsLine is the metrics.jsonl line of one iteration.
func metricsLine(m ppo.Metrics, elapsed float64) runfile.Metrics {
	line := runfile.Metrics{
		GlobalStep: m.GlobalStep, Iteration: m.Iteration, SPS: round(m.SPS), Episodes: len(m.Episodes),
		PolicyLoss: m.PolicyLoss, ValueLoss: m.ValueLoss, Entropy: m.Entropy,
		OldApproxKL: m.OldApproxKL, ApproxKL: m.ApproxKL, ClipFrac: m.ClipFrac,
		ExplainedVariance: runfile.Finite(m.ExplainedVariance), LearningRate: m.LearningRate,
		TimeS: round(elapsed), Extra: m.Regularizer,
	}
	if m.AllReduces > 0 {
		// A data-parallel run's cost of averaging gradients: the mean time
		// of rank 0's all-reduce per minibatch (waits for the slowest rank
		// included).
		extra := make(map[string]float64, len(line.Extra)+2)
		maps.Copy(extra, line.Extra)
		extra["dist_allreduce_ms"] = round(1000 * m.AllReduceSeconds / float64(m.AllReduces))
		extra["dist_allreduces"] = float64(m.AllReduces)
		line.Extra = extra
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
		ret, length, succ = ret/float64(n), length/float64(n), succ/float64(n)
		line.EpisodicReturn, line.EpisodicLength, line.EpisodicSuccess = &ret, &length, &succ
		levelSuccess(&line, m.Episodes)
	}
	return line
}

// levelSuccess adds episodic_success_<level> for the levels of the
// iteration's episodes (envs with task levels, such as CLEVR's mixed).
func levelSuccess(line *runfile.Metrics, episodes []ppo.Episode) {
	succ, _ := ppo.SuccessByLevel(episodes)
	if succ == nil {
		return
	}
	extra := make(map[string]float64, len(line.Extra)+len(succ))
	maps.Copy(extra, line.Extra)
	for l, s := range succ {
		extra["episodic_success_"+l] = s
	}
	line.Extra = extra
}

func round(x float64) float64 { return math.Round(x*1000) / 1000 }

// resumeMetrics drops metric lines past the checkpoint's iteration (and a
// torn last line), so a resumed run does not log an iteration twice, and
// feeds the kept lines' prior figures to watch. A damaged line elsewhere is
// an error naming it: dropping it would lose an iteration silently. The
// file is rewritten (its mode kept) only when a line is dropped. It returns
// time_s of the last kept line.
func resumeMetrics(path string, iteration int, watch *priorWatch, log zerolog.Logger) (float64, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("run: %w", err)
	}
	ml, err := runfile.ParseMetrics(path, data)
	if err != nil {
		return 0, fmt.Errorf("run: cannot resume: %w; repair or delete that line, then resume again", err)
	}
	if ml.Torn > 0 {
		log.Warn().Str("file", path).Int("line", ml.Torn).Msg("dropping a torn last metrics line (the run was killed while writing it)")
	}
	var kept bytes.Buffer
	dropped := ml.Torn > 0
	last := 0.0
	for i, m := range ml.Lines {
		raw := ml.Raw[i]
		if m.Iteration > iteration || raw[len(raw)-1] != '\n' {
			dropped = true
			continue
		}
		kept.Write(raw)
		watch.observeLogged(m.Extra)
		last = m.TimeS
	}
	if !dropped {
		return last, nil
	}
	if err := runfile.WriteFileAtomic(path, kept.Bytes()); err != nil {
		return 0, fmt.Errorf("run: %w", err)
	}
	return last, nil
}
