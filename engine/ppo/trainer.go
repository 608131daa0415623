package ppo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/env"
)

// Trainer is PPO as in CleanRL's ppo.py and ppo_continuous_action.py: it
// collects num_steps steps from num_envs envs, computes GAE, and optimises
// the clipped surrogate for update_epochs epochs of num_minibatches
// minibatches. Its torch calls must all come from one goroutine (grad mode is
// per OS thread); Run in engine/run locks that goroutine to its thread.
type Trainer struct {
	Cfg   config.Config
	Dev   torch.Device
	Vec   *env.Vec
	Norm  *env.Normalizer
	Agent *Agent
	Opt   *torch.Adam
	Reg   Regularizer // nil: vanilla PPO

	// flat lays Opt's parameters, gradients and moments out in flat
	// buffers, so that clip + Adam is one shim call, and so is a whole
	// minibatch on the fused path (see fused.go); path picks the path
	// (pathFused unless a test or benchmark sets another).
	flat *torch.FlatAdam
	path int
	fz   fusedScratch

	GlobalStep    int64
	Iteration     int // completed iterations
	NumIterations int
	BatchSize     int
	MinibatchSize int

	shuffle *rand.PCG // minibatch order
	buf     rollout
	Recent  *EpisodeWindow // the last episodes, for progress lines

	// aborted is the error that stopped an iteration part-way; the trainer
	// then holds no consistent state to iterate on or checkpoint.
	aborted error

	// dist is the data-parallel group this trainer is a rank of (nil: a
	// single process; see dist.go).
	dist *distState
}

// rollout is the storage of one iteration, step-major ([T*N] rows).
type rollout struct {
	obs      []float32 // [T*N*obsDim]
	actions  []float32 // [T*N*actDim]; discrete: the index
	logprobs []float32
	values   []float32
	rewards  []float32
	ends     []bool
	adv, ret []float32
	// scratch
	actInt  []int64   // discrete actions of one step
	actF    []float32 // continuous actions of one step
	envAct  []float32 // actions sent to the envs (clipped to the box)
	stepLP  []float32
	stepVal []float32
	perm    []int64
	// the final observations, envs and values of truncated episodes
	finalObs []float32
	finalEnv []int
	finalVal []float32
	// episodes that ended this iteration
	episodes []Episode
}

// Episode is one finished episode's statistics.
type Episode struct {
	Return  float64 `json:"return"`
	Length  int     `json:"length"`
	Success bool    `json:"success"`
	// Level is the episode's task level, for envs that have levels
	// (env.Leveled).
	Level string `json:"level,omitempty"`
}

// New builds the envs, networks and optimiser of cfg. reg may be nil.
func New(cfg config.Config, reg Regularizer) (*Trainer, error) {
	return newRankTrainer(cfg, reg, nil, 0)
}

// newRankTrainer is New for one rank of a group (dist nil: a single process),
// with cfg already the rank's share (RankConfig), on cores CPU cores (0:
// all) when num_workers or torch_threads is 0.
func newRankTrainer(cfg config.Config, reg Regularizer, dist *distState, cores int) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dev, err := torch.ParseDevice(cfg.Device)
	if err != nil {
		return nil, fmt.Errorf("config key device: %w", err)
	}
	act, err := torch.ParseActivation(cfg.Activation)
	if err != nil {
		return nil, err
	}
	if err := torch.ManualSeed(uint64(cfg.Seed)); err != nil {
		return nil, err
	}
	if dev.IsCUDA() && cfg.TorchDeterministic {
		if err := torch.SetDeterministic(true); err != nil {
			return nil, err
		}
	}
	if err := checkMemory(cfg, reg != nil); err != nil {
		return nil, err
	}
	workers := cfg.NumWorkers
	if workers == 0 && cores > 0 {
		workers = cores
	}
	vec, err := env.NewVec(cfg.Env(), cfg.NumEnvs, workers, uint64(cfg.Seed))
	if err != nil {
		return nil, fmt.Errorf("config key env_id: %w", err)
	}
	t := &Trainer{Cfg: cfg, Dev: dev, Vec: vec, Reg: reg, Recent: NewEpisodeWindow(100), dist: dist}
	if cfg.VecMode == "async" {
		// Two halves: the policy acts on one while the workers step the other.
		if err := vec.EnableAsync(min(2, vec.NumEnvs)); err != nil {
			vec.Close()
			return nil, err
		}
	}
	outDim := vec.ActSpace.N
	if vec.ActSpace.Kind == env.BoxKind {
		outDim = vec.ActSpace.Dim()
	}
	threads := Threads(cfg, vec.ObsDim, outDim)
	if cfg.TorchThreads == 0 && cores > 0 {
		threads = min(threads, cores)
	}
	if err := torch.SetNumThreads(threads); err != nil {
		t.Close()
		return nil, err
	}
	t.BatchSize, t.MinibatchSize, t.NumIterations = cfg.Derived()
	if t.Agent, err = NewAgent(vec.ObsDim, vec.ActSpace, cfg.HiddenSizes, act, cfg.LogStdInit, dev); err != nil {
		t.Close()
		return nil, err
	}
	if dist != nil {
		// Every rank starts from rank 0's parameters (Adam's moments start
		// at zero everywhere), and takes the op-by-op minibatch path, which
		// has a place for the gradient all-reduce.
		if err := dist.g.Broadcast(t.Agent.Parameters(), 0); err != nil {
			t.Close()
			return nil, fmt.Errorf("ppo: broadcasting rank 0's initial parameters: %w", err)
		}
		t.path = pathFlat
	}
	// CleanRL: Adam with eps 1e-5.
	if t.Opt, err = torch.NewAdam(t.Agent.Parameters(), torch.DefaultAdam(cfg.LearningRate, 1e-5)); err != nil {
		t.Close()
		return nil, err
	}
	if t.flat, err = torch.NewFlatAdam(t.Opt); err != nil {
		t.Close()
		return nil, err
	}
	continuous := vec.ActSpace.Kind == env.BoxKind
	t.Norm = env.NewNormalizer(cfg.NumEnvs, vec.ObsDim, cfg.Gamma, cfg.NormObs && continuous, cfg.NormReward && continuous, cfg.ClipObs, cfg.ClipReward)
	t.shuffle = rand.NewPCG(uint64(cfg.Seed), 0x9e3779b97f4a7c15)
	t.allocate()
	vec.Reset()
	t.Norm.ObserveReset(vec, true)
	return t, nil
}

// checkMemory refuses cfg when its rollout buffers and envs cannot fit this
// machine, with the env's own sizes (config validation assumed the
// smallest env) and, when a regulariser is given, a prior row per sample.
func checkMemory(cfg config.Config, withPrior bool) error {
	e, err := env.Make(cfg.Env())
	if err != nil {
		return fmt.Errorf("config key env_id: %w", err)
	}
	if c, ok := e.(interface{ Close() }); ok {
		defer c.Close()
	}
	act := e.ActionSpace()
	f := config.Footprint{ObsDim: e.ObservationSpace().Dim(), ActDim: act.Dim()}
	if withPrior && act.Kind == env.DiscreteKind {
		f.PriorActions = act.N
	} else if sk, ok := e.(env.Skilled); withPrior && ok {
		// engine/lago's Continuous: per sample, each skill's weight, mean
		// and log σ, as many float32s as a discrete row of this size.
		f.PriorActions = sk.NumSkills() * (act.Dim() + 2)
	}
	return cfg.CheckMemory(f)
}

func (t *Trainer) allocate() {
	n, T, od, ad := t.Cfg.NumEnvs, t.Cfg.NumSteps, t.Vec.ObsDim, t.Vec.ActDim
	b := &t.buf
	b.obs = make([]float32, T*n*od)
	b.actions = make([]float32, T*n*ad)
	b.logprobs = make([]float32, T*n)
	b.values = make([]float32, T*n)
	b.rewards = make([]float32, T*n)
	b.ends = make([]bool, T*n)
	b.adv = make([]float32, T*n)
	b.ret = make([]float32, T*n)
	b.actInt = make([]int64, n)
	b.actF = make([]float32, n*ad)
	b.envAct = make([]float32, n*ad)
	b.stepLP = make([]float32, n)
	b.stepVal = make([]float32, n)
	b.perm = make([]int64, T*n)
	b.finalObs = make([]float32, 0, n*od)
	b.finalEnv = make([]int, 0, n)
	b.finalVal = make([]float32, n)
}

// Close releases the envs' workers and the networks.
func (t *Trainer) Close() {
	if t.Vec != nil {
		t.Vec.Close()
	}
	t.flat.Free()
	t.Opt.Free()
	if t.Agent != nil {
		t.Agent.Free()
	}
}

// Done reports whether every iteration has run.
func (t *Trainer) Done() bool { return t.Iteration >= t.NumIterations }

// Metrics are the figures of one iteration, CleanRL's logged quantities.
// The losses, entropy, approx_kl, old_approx_kl and clipfrac are means over
// every minibatch the update ran (all epochs), as is the regulariser's D;
// CleanRL logs the last minibatch's losses and KLs but the mean clipfrac.
// The early stop at target_kl still looks at the last minibatch's approx_kl,
// as CleanRL's does.
type Metrics struct {
	GlobalStep        int64
	Iteration         int
	SPS               float64
	Episodes          []Episode // finished during the iteration
	PolicyLoss        float64
	ValueLoss         float64
	Entropy           float64
	OldApproxKL       float64
	ApproxKL          float64
	ClipFrac          float64
	ExplainedVariance float64
	LearningRate      float64
	Regularizer       map[string]float64
	// AllReduces and AllReduceSeconds are a data-parallel rank's gradient
	// all-reduces this iteration (one per minibatch) and the time spent in
	// them, waiting for the slowest rank included (0 for one process).
	AllReduces       int
	AllReduceSeconds float64
}

// Iterate runs one iteration: a rollout and an update.
//
// ctx is checked between the rollout's env steps and between the update's
// minibatches; once it is cancelled Iterate returns ctx.Err() within one
// env step or one minibatch. An iteration that returns an error (a
// cancelled ctx, a non-finite loss) leaves the trainer mid-iteration: the
// envs have stepped and some minibatches may have been applied. Such a
// trainer refuses to iterate again or to be checkpointed (the caller must
// not checkpoint it); the last checkpoint written is the state to resume.
func (t *Trainer) Iterate(ctx context.Context) (Metrics, error) {
	if t.aborted != nil {
		return Metrics{}, fmt.Errorf("ppo: iteration %d was aborted (%v); resume from the last checkpoint", t.Iteration+1, t.aborted)
	}
	if t.Done() {
		return Metrics{}, errors.New("ppo: training is already complete")
	}
	m, err := t.iterate(ctx)
	if err != nil {
		t.aborted = err
	}
	return m, err
}

func (t *Trainer) iterate(ctx context.Context) (Metrics, error) {
	start := time.Now()
	lr := t.Cfg.LearningRate
	if t.Cfg.AnnealLR {
		lr *= 1 - float64(t.Iteration)/float64(t.NumIterations)
	}
	if err := t.Opt.SetLR(lr); err != nil {
		return Metrics{}, err
	}
	if err := t.collect(ctx); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return Metrics{}, ctxErr
		}
		return Metrics{}, fmt.Errorf("rollout: %w", err)
	}
	if t.Reg != nil {
		if err := t.Reg.EndRollout(ctx); err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return Metrics{}, ctxErr
			}
			return Metrics{}, fmt.Errorf("regulariser %s: end of rollout: %w", t.Reg.Name(), err)
		}
	}
	m, err := t.update(ctx)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return Metrics{}, ctxErr
		}
		var nf *NonFiniteError
		if errors.As(err, &nf) {
			return Metrics{}, err // it says where it happened
		}
		return Metrics{}, fmt.Errorf("update: %w", err)
	}
	m.Episodes = append([]Episode(nil), t.buf.episodes...)
	if t.Reg != nil {
		m.Regularizer = t.Reg.Metrics()
	}
	if t.dist != nil {
		if err := t.gatherMetrics(&m, m.Episodes, m.Regularizer); err != nil {
			return Metrics{}, err
		}
	}
	t.Iteration++
	m.Iteration = t.Iteration
	m.GlobalStep = t.GlobalStep
	m.LearningRate = lr
	m.SPS = float64(t.GlobalBatch()) / time.Since(start).Seconds()
	return m, nil
}

// collect fills the rollout buffer with num_steps steps of every env,
// checking ctx before each step.
func (t *Trainer) collect(ctx context.Context) error {
	runtime.LockOSThread() // grad mode is per thread; Run locks too, this makes Iterate safe alone
	defer runtime.UnlockOSThread()
	b, v := &t.buf, t.Vec
	n, od := v.NumEnvs, v.ObsDim
	b.episodes = b.episodes[:0]
	if t.Reg != nil {
		if err := t.Reg.BeginRollout(t.Cfg.NumSteps * n); err != nil {
			return err
		}
	}
	s := torch.NewScope()
	defer s.Close()
	collect := t.collectLockstep
	if v.NumGroups() > 0 {
		collect = t.collectAsync
	}
	if err := collect(ctx, s); err != nil {
		return err
	}
	// Advantages, with the value of the observation after the last step.
	err := torch.NoGrad(func() error {
		obs := torch.FromSliceIn(s, v.Obs, []int64{int64(n), int64(od)}, t.Dev)
		last := t.Agent.Value(s, obs)
		if err := s.Err(); err != nil {
			return err
		}
		return torch.CopyTo(last, b.stepVal)
	})
	if err != nil {
		return err
	}
	GAE(b.rewards, b.values, b.ends, b.stepVal, n, t.Cfg.Gamma, t.Cfg.GAELambda, b.adv, b.ret)
	return nil
}

// collectLockstep is collect's loop over a lockstep Vec: the policy acts
// on every env, then every env steps.
func (t *Trainer) collectLockstep(ctx context.Context, s *torch.Scope) error {
	v := t.Vec
	n := v.NumEnvs
	for step := 0; step < t.Cfg.NumSteps; step++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		row := step * n // env i's sample is row+i
		if err := t.observe(row, 0, n); err != nil {
			return err
		}
		if err := t.act(s, row, 0, n); err != nil {
			return err
		}
		v.Step(t.buf.envAct)
		t.Norm.ObserveStep(v, true)
		if err := t.record(s, row, 0, n); err != nil {
			return err
		}
	}
	return nil
}

// collectAsync is collect's loop over an asynchronous Vec (vec_mode =
// async), double buffered: as soon as a group's step is received, the
// policy acts on it and its next step is sent, while the other groups
// step. Groups are handled in a fixed order, so the policy samples the
// same batches from the same random stream in every run, whatever the
// number of workers and however long each env takes; samples are stored
// by step and env index, as in lockstep. libtorch's CPU categorical
// sampler draws row after row, so discrete actions are those lockstep
// would take (TestAsyncMatchesLockstepOnDiscreteActions).
func (t *Trainer) collectAsync(ctx context.Context, s *torch.Scope) error {
	b, v := &t.buf, t.Vec
	n, ad, groups := v.NumEnvs, v.ActDim, v.NumGroups()
	defer v.RecvAll() // an error or a cancellation leaves no group stepping
	for g := range groups {
		lo, hi := v.Group(g)
		if err := t.observe(0, lo, hi); err != nil {
			return err
		}
		if err := t.act(s, 0, lo, hi); err != nil {
			return err
		}
		v.Send(g, b.envAct[lo*ad:hi*ad])
	}
	for step := 0; step < t.Cfg.NumSteps; step++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		row := step * n
		for g := range groups {
			lo, hi := v.Group(g)
			v.Recv(g)
			t.Norm.ObserveRange(v, lo, hi, true)
			if err := t.record(s, row, lo, hi); err != nil {
				return err
			}
			if step+1 == t.Cfg.NumSteps {
				continue
			}
			if err := t.observe(row+n, lo, hi); err != nil {
				return err
			}
			if err := t.act(s, row+n, lo, hi); err != nil {
				return err
			}
			v.Send(g, b.envAct[lo*ad:hi*ad])
		}
	}
	return nil
}

// observe hands the regulariser, if any, the observations of envs lo..hi as
// samples row+lo..row+hi.
func (t *Trainer) observe(row, lo, hi int) error {
	if t.Reg == nil {
		return nil
	}
	return t.Reg.Observe(row, t.Vec, lo, hi)
}

// act runs the policy on the observations of envs lo..hi, stores them with
// the sampled actions, log-probabilities and values as samples
// row+lo..row+hi, and leaves the actions to send in the envs' rows of
// buf.envAct.
func (t *Trainer) act(s *torch.Scope, row, lo, hi int) error {
	b, v := &t.buf, t.Vec
	od, ad := v.ObsDim, v.ActDim
	copy(b.obs[(row+lo)*od:(row+hi)*od], v.Obs[lo*od:hi*od])
	err := torch.NoGrad(func() error {
		obs := torch.FromSliceIn(s, v.Obs[lo*od:hi*od], []int64{int64(hi - lo), int64(od)}, t.Dev)
		d := t.Agent.Distribution(s, obs)
		action := d.Sample(s, false)
		logp := d.LogProb(s, action)
		value := t.Agent.Value(s, obs)
		if err := s.Err(); err != nil {
			return err
		}
		if t.Agent.Discrete {
			if err := torch.CopyTo(action, b.actInt[lo:hi]); err != nil {
				return err
			}
		} else if err := torch.CopyTo(action, b.actF[lo*ad:hi*ad]); err != nil {
			return err
		}
		if err := torch.CopyTo(logp, b.stepLP[lo:hi]); err != nil {
			return err
		}
		return torch.CopyTo(value, b.stepVal[lo:hi])
	})
	if err != nil {
		return err
	}
	s.Reset()
	copy(b.logprobs[row+lo:row+hi], b.stepLP[lo:hi])
	copy(b.values[row+lo:row+hi], b.stepVal[lo:hi])
	t.envActions(lo, hi)
	copy(b.actions[(row+lo)*ad:(row+hi)*ad], t.storedActions()[lo*ad:hi*ad])
	return nil
}

// record stores the results of envs lo..hi's last step as samples
// row+lo..row+hi and collects the episodes that ended, in env order.
func (t *Trainer) record(s *torch.Scope, row, lo, hi int) error {
	b, v := &t.buf, t.Vec
	t.GlobalStep += int64((hi - lo) * t.World()) // every rank steps as many envs
	copy(b.rewards[row+lo:row+hi], v.Rewards[lo:hi])
	truncated := false
	for i := lo; i < hi; i++ {
		b.ends[row+i] = v.Terminated[i] || v.Truncated[i]
		truncated = truncated || v.Truncated[i]
		if b.ends[row+i] {
			ep := Episode{Return: v.EpisodeReturn[i], Length: v.EpisodeLength[i], Success: v.EpisodeSuccess[i], Level: v.EpisodeLevel[i]}
			b.episodes = append(b.episodes, ep)
			if t.dist == nil {
				t.Recent.Add(ep) // a group's ranks add every rank's episodes (gatherMetrics)
			}
		}
	}
	if truncated {
		return t.bootstrapTruncated(s, row, lo, hi)
	}
	return nil
}

// envActions turns the sampled actions of envs lo..hi into what the envs
// take: the index for discrete actions, the action clipped to the box for
// continuous ones (as CleanRL's ClipAction wrapper; the unclipped action
// is what is stored and scored).
func (t *Trainer) envActions(lo, hi int) {
	b := &t.buf
	if t.Agent.Discrete {
		for i, a := range b.actInt[lo:hi] {
			b.envAct[lo+i] = float32(a)
		}
		return
	}
	ad := t.Vec.ActDim
	t.Vec.ActSpace.Clip(b.envAct[lo*ad:hi*ad], b.actF[lo*ad:hi*ad])
}

func (t *Trainer) storedActions() []float32 {
	if t.Agent.Discrete {
		return t.buf.envAct
	}
	return t.buf.actF
}

// bootstrapTruncated adds γ·V(final observation) to the rewards of the
// episodes of envs lo..hi cut by the time limit, so that GAE, which stops
// at every episode end, still credits the value the episode would have
// gone on to earn.
func (t *Trainer) bootstrapTruncated(s *torch.Scope, row, lo, hi int) error {
	v, b := t.Vec, &t.buf
	od := v.ObsDim
	rows, which := b.finalObs[:0], b.finalEnv[:0]
	for i := lo; i < hi; i++ {
		if v.Truncated[i] {
			rows = append(rows, v.FinalObs[i*od:(i+1)*od]...)
			which = append(which, i)
		}
	}
	vals := b.finalVal[:len(which)]
	err := torch.NoGrad(func() error {
		obs := torch.FromSliceIn(s, rows, []int64{int64(len(which)), int64(od)}, t.Dev)
		val := t.Agent.Value(s, obs)
		if err := s.Err(); err != nil {
			return err
		}
		return torch.CopyTo(val, vals)
	})
	s.Reset()
	if err != nil {
		return err
	}
	for k, i := range which {
		b.rewards[row+i] += float32(t.Cfg.Gamma) * vals[k]
	}
	return nil
}

// update runs the PPO epochs over the rollout, checking ctx before each
// minibatch.
func (t *Trainer) update(ctx context.Context) (Metrics, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var m Metrics
	b, cfg := &t.buf, t.Cfg
	B, od, ad := int64(t.BatchSize), int64(t.Vec.ObsDim), int64(t.Vec.ActDim)
	batch := torch.NewScope()
	defer batch.Close()
	obs := torch.FromSliceIn(batch, b.obs, []int64{B, od}, t.Dev)
	var actions *torch.Tensor
	if t.Agent.Discrete {
		actions = batch.To(torch.FromSliceIn(batch, b.actions, []int64{B}, t.Dev), t.Dev, torch.Int64)
	} else {
		actions = torch.FromSliceIn(batch, b.actions, []int64{B, ad}, t.Dev)
	}
	oldLogp := torch.FromSliceIn(batch, b.logprobs, []int64{B}, t.Dev)
	advantages := torch.FromSliceIn(batch, b.adv, []int64{B}, t.Dev)
	returns := torch.FromSliceIn(batch, b.ret, []int64{B}, t.Dev)
	values := torch.FromSliceIn(batch, b.values, []int64{B}, t.Dev)
	if err := batch.Err(); err != nil {
		return m, err
	}
	progress := float64(t.Iteration) / float64(t.NumIterations)
	coefs := LossCoefs{ClipCoef: cfg.ClipCoef, ClipVLoss: cfg.ClipVLoss, NormAdv: cfg.NormAdv, EntCoef: cfg.EntCoef, VFCoef: cfg.VFCoef}
	var sum Metrics // sums over minibatches
	minibatches, lastApproxKL := 0, 0.0
	s := torch.NewScope()
	defer s.Close()
	for i := range b.perm {
		b.perm[i] = int64(i)
	}
	fused, priorTerm := t.fusedPath()
	tb := torch.PPOBatch{Obs: obs, Actions: actions, OldLogp: oldLogp, Adv: advantages, Returns: returns, OldValues: values}
	shuffler := rand.New(t.shuffle)
	var stats []mbStats // a group's figures of each minibatch of the epoch
	if t.dist != nil {
		stats = make([]mbStats, t.BatchSize/t.MinibatchSize)
		coefs.NormAdv = false // normalised here with the whole minibatch's mean and std
	}
	for epoch := 0; epoch < cfg.UpdateEpochs; epoch++ {
		shuffler.Shuffle(len(b.perm), func(i, j int) { b.perm[i], b.perm[j] = b.perm[j], b.perm[i] })
		if stats != nil {
			if err := t.epochStats(b.perm, stats); err != nil {
				return m, err
			}
		}
		for start := 0; start < t.BatchSize; start += t.MinibatchSize {
			if err := ctx.Err(); err != nil {
				return m, err
			}
			at := Position{Iteration: t.Iteration + 1, Epoch: epoch + 1, Minibatch: start/t.MinibatchSize + 1}
			s.Reset()
			mbIdx := b.perm[start : start+t.MinibatchSize]
			if fused {
				fig, err := t.fusedMinibatch(at, tb, mbIdx, progress, priorTerm)
				if err != nil {
					return m, err
				}
				sum.PolicyLoss += fig.PG
				sum.ValueLoss += fig.V
				sum.Entropy += fig.Entropy
				sum.ApproxKL += fig.ApproxKL
				sum.OldApproxKL += fig.OldApproxKL
				sum.ClipFrac += fig.ClipFrac
				minibatches++
				lastApproxKL = fig.ApproxKL
				continue
			}
			idx := torch.FromSliceIn(s, mbIdx, []int64{int64(len(mbIdx))}, t.Dev)
			mbObs := s.IndexSelect(obs, 0, idx)
			mb := Minibatch{
				Dist:      t.Agent.Distribution(s, mbObs),
				Actions:   s.IndexSelect(actions, 0, idx),
				OldLogp:   s.IndexSelect(oldLogp, 0, idx),
				Adv:       s.IndexSelect(advantages, 0, idx),
				Returns:   s.IndexSelect(returns, 0, idx),
				OldValues: s.IndexSelect(values, 0, idx),
				NewValues: t.Agent.Value(s, mbObs),
			}
			var term TermFunc
			if t.Reg != nil {
				term = func() (RegTerm, error) {
					D, beta, err := t.Reg.Term(s, mb.Dist, mbIdx, progress)
					if err != nil {
						return RegTerm{}, fmt.Errorf("regulariser %s: %w", t.Reg.Name(), err)
					}
					return RegTerm{D: D, Beta: beta}, nil
				}
			}
			if stats != nil {
				st := stats[start/t.MinibatchSize]
				if cfg.NormAdv {
					mb.Adv = s.DivS(s.SubS(mb.Adv, st.mean), st.std+1e-8)
				}
				if term != nil {
					term = t.distTerm(s, term, mbIdx, st)
				}
			}
			parts, err := Loss(s, coefs, mb, term)
			if err != nil {
				return m, err
			}
			pg, v, ent := s.Item(parts.PG), s.Item(parts.V), s.Item(parts.Entropy)
			approxKL, oldApproxKL, clipFrac := s.Item(parts.ApproxKL), s.Item(parts.OldApproxKL), s.Item(parts.ClipFrac)
			total := s.Item(parts.Total)
			if err := s.Err(); err != nil {
				return m, err
			}
			if !finite(total) {
				return m, t.nonFiniteLoss(s, at, parts, total)
			}
			s.Backward(parts.Total)
			if err := s.Err(); err != nil {
				return m, err
			}
			if t.dist != nil {
				began := time.Now()
				if err := t.allReduceGrads(at); err != nil {
					return m, err
				}
				m.AllReduces++
				m.AllReduceSeconds += time.Since(began).Seconds()
			}
			if err := t.clipStep(at, total); err != nil {
				return m, err
			}
			sum.PolicyLoss += pg
			sum.ValueLoss += v
			sum.Entropy += ent
			sum.ApproxKL += approxKL
			sum.OldApproxKL += oldApproxKL
			sum.ClipFrac += clipFrac
			minibatches++
			lastApproxKL = approxKL
		}
		if cfg.TargetKL > 0 && t.dist != nil {
			// Every rank must stop after the same minibatch: they judge the
			// ranks' mean, the KL of the whole minibatch.
			if err := t.meanOverRanks("approx_kl for target_kl", &lastApproxKL); err != nil {
				return m, err
			}
		}
		if cfg.TargetKL > 0 && lastApproxKL > cfg.TargetKL {
			break
		}
	}
	n := float64(minibatches)
	m.PolicyLoss, m.ValueLoss, m.Entropy = sum.PolicyLoss/n, sum.ValueLoss/n, sum.Entropy/n
	m.ApproxKL, m.OldApproxKL, m.ClipFrac = sum.ApproxKL/n, sum.OldApproxKL/n, sum.ClipFrac/n
	m.ExplainedVariance = ExplainedVariance(b.values, b.ret)
	return m, nil
}

// clipStep clips the gradients to max_grad_norm, steps Adam and zeroes the
// gradients; a non-finite gradient norm is a NonFiniteError and steps
// nothing.
func (t *Trainer) clipStep(at Position, total float64) error {
	if t.path != pathUnfused {
		gradNorm, err := t.flat.ClipStep(t.Cfg.MaxGradNorm)
		if err != nil {
			return err
		}
		if !finite(gradNorm) {
			return &NonFiniteError{At: at, Quantity: "gradient norm", Value: gradNorm, Loss: total, Advice: t.likelyKeys("gradient norm")}
		}
		return nil
	}
	gradNorm, err := torch.ClipGradNorm(t.Opt.Params(), t.Cfg.MaxGradNorm)
	if err != nil {
		return err
	}
	if !finite(gradNorm) {
		return &NonFiniteError{At: at, Quantity: "gradient norm", Value: gradNorm, Loss: total, Advice: t.likelyKeys("gradient norm")}
	}
	if err := t.Opt.Step(); err != nil {
		return err
	}
	return t.Opt.ZeroGrad()
}

// Position names a minibatch of training: its iteration, epoch and
// minibatch, all counted from 1.
type Position struct{ Iteration, Epoch, Minibatch int }

func (p Position) String() string {
	return fmt.Sprintf("iteration %d (epoch %d, minibatch %d)", p.Iteration, p.Epoch, p.Minibatch)
}

// NonFiniteError stops training when the loss or the gradient norm of a
// minibatch is NaN or infinite, before the optimiser steps on it.
type NonFiniteError struct {
	At       Position
	Quantity string  // "policy loss", "entropy", "value loss", "regulariser term", "loss" or "gradient norm"
	Value    float64 // the quantity's value
	Loss     float64 // the total loss
	Advice   string  // the config keys most likely to blame
}

func (e *NonFiniteError) Error() string {
	return fmt.Sprintf("ppo: %v: the %s is %v (loss %v): %s", e.At, e.Quantity, e.Value, e.Loss, e.Advice)
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// nonFiniteLoss names the first non-finite part of a non-finite loss and
// the keys most likely to blame.
func (t *Trainer) nonFiniteLoss(s *torch.Scope, at Position, p LossParts, total float64) error {
	part, value := "loss", total
	for _, c := range []struct {
		name string
		x    *torch.Tensor
	}{{"policy loss", p.PG}, {"entropy", p.Entropy}, {"value loss", p.V}, {"regulariser term", p.Reg}} {
		if c.x == nil {
			continue
		}
		if x := s.Item(c.x); !finite(x) {
			part, value = c.name, x
			break
		}
	}
	return &NonFiniteError{At: at, Quantity: part, Value: value, Loss: total, Advice: t.likelyKeys(part)}
}

// likelyKeys says which config keys most often make a part of the loss
// non-finite.
func (t *Trainer) likelyKeys(part string) string {
	switch {
	case part == "regulariser term":
		return "check the regulariser's keys beta, prior_temperature and prior_eps, then learning_rate"
	case part == "value loss":
		return "likely key learning_rate (too large), or unscaled rewards (norm_reward, clip_reward)"
	case !t.Agent.Discrete:
		return "likely keys learning_rate (too large) or log_std_init (too far from 0)"
	}
	return "likely key learning_rate (too large)"
}
