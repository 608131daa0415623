package train

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"time"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/lm"
	"github.com/lago-rl/lago/engine/lm/tokenizer"
	"github.com/lago-rl/lago/engine/runfile"
)

// Files of a training run directory.
const (
	ConfigFile     = "config.toml"
	CheckpointFile = "checkpoint.lago"
	MetricsFile    = "metrics.jsonl"
	ModelFile      = "model.gguf"
)

// ignore marks positions without a loss (prompt and padding).
const ignore = -100

// Metrics is one line of metrics.jsonl: every step's training figures, and
// the held-out figures on evaluation steps.
type Metrics struct {
	Step        int      `json:"step"`
	LR          float64  `json:"lr"`
	Loss        float64  `json:"loss"`
	GradNorm    float64  `json:"grad_norm"`
	TokensPerS  float64  `json:"tokens_per_s"`
	HeldoutLoss *float64 `json:"heldout_loss,omitempty"`
	HeldoutAcc  *float64 `json:"heldout_acc,omitempty"`
	// With ema_decay, the held-out figures above are the average's (the
	// model exported) and these the last step's weights'.
	HeldoutLossLast *float64 `json:"heldout_loss_last,omitempty"`
	HeldoutAccLast  *float64 `json:"heldout_acc_last,omitempty"`
}

// Progress is what the progress line shows, after every step.
type Progress struct {
	Step, Total int
	Loss        float64
	TokensPerS  float64
	ETA         time.Duration
	// HeldoutLoss and HeldoutAcc are the latest evaluation's (NaN before one).
	HeldoutLoss, HeldoutAcc float64
}

// Options are the run's non-config settings.
type Options struct {
	Dir      string         // run directory (created)
	Resume   bool           // continue from Dir's checkpoint
	Progress func(Progress) // nil: none
	// Group makes this process one rank of a data-parallel run (nil: a
	// single process). Every rank reads the same data and, to resume, the
	// same Dir (one machine, or a shared filesystem); each trains on its
	// share of every minibatch, and the gradients are summed over the ranks
	// before the step, so the ranks stay identical and the run is the
	// single-process run up to the order of float sums. Rank 0 alone
	// writes Dir.
	Group *torch.Group
}

// Result is the end of a run.
type Result struct {
	Steps       int
	HeldoutLoss float64
	HeldoutAcc  float64
	Model       string // path of the exported GGUF
	Params      int64
}

// Trainer holds a run's model, optimiser and data.
type Trainer struct {
	cfg      Config
	model    *lm.Model
	ema      *lm.Model // the moving average of model's weights; nil without ema_decay
	vocab    *tokenizer.Vocab
	opt      *torch.AdamW
	rope     *lm.Rope
	train    *Corpus
	heldout  *Corpus
	step     int
	device   torch.Device
	epochs   map[int][]int
	lastEval [2]float64
	group    *torch.Group // nil: a single process
	saved    int          // step of the last checkpoint written or resumed from; -1: none
}

// checkpointMeta is the JSON part of a checkpoint: what the torch archive
// (weights and AdamW state) cannot say.
type checkpointMeta struct {
	Step       int       `json:"step"`
	Shape      lm.Shape  `json:"shape"`
	Tokens     []string  `json:"tokens"`
	Scores     []float32 `json:"scores"`
	Types      []int32   `json:"types"`
	BOS        int       `json:"bos"`
	EOS        int       `json:"eos"`
	UNK        int       `json:"unk"`
	AddBOS     bool      `json:"add_bos"`
	SpacePref  bool      `json:"add_space_prefix"`
	LastEval   []float64 `json:"last_eval"`
	ConfigTOML string    `json:"config"`
}

var checkpointMagic = []byte("LAGOLM1\n")

// readData reads and tokenizes the data: the held-out file's pairs when
// heldout_data names one (a split made elsewhere, e.g. by episode), else a
// seeded random fraction of data's pairs.
func readData(cfg Config, v *tokenizer.Vocab, context int) (trainSet, heldout *Corpus, err error) {
	all, err := ReadCorpus(cfg.Data, v, context)
	if err != nil {
		return nil, nil, err
	}
	if cfg.HeldoutData != "" {
		if heldout, err = ReadCorpus(cfg.HeldoutData, v, context); err != nil {
			return nil, nil, fmt.Errorf("config key heldout_data: %w", err)
		}
		return all, heldout, nil
	}
	if all.Len() < 2 {
		return nil, nil, fmt.Errorf("train: %s holds %d pair; holding out heldout_fraction of it needs at least 2 (or name a held-out file in heldout_data)", cfg.Data, all.Len())
	}
	trainIdx, heldIdx := splitIndex(all.Len(), cfg.HeldoutFraction, uint64(cfg.Seed))
	return all.Select(trainIdx), all.Select(heldIdx), nil
}

// New prepares a run: the data split and tokenized, the model new (from the
// seed or the init GGUF) or, with opt.Resume, as the checkpoint left it.
func New(cfg Config, opt Options) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dev, err := torch.ParseDevice(cfg.Device)
	if err != nil {
		return nil, fmt.Errorf("config key device: %w", err)
	}
	if g := opt.Group; g != nil && cfg.BatchSize%g.Size() != 0 {
		return nil, fmt.Errorf("config key batch_size = %d: a data-parallel run splits each minibatch over its %d ranks; make it a multiple of %d", cfg.BatchSize, g.Size(), g.Size())
	}
	t := &Trainer{cfg: cfg, device: dev, epochs: map[int][]int{}, lastEval: [2]float64{math.NaN(), math.NaN()}, group: opt.Group, saved: -1}
	fail := func(err error) (*Trainer, error) { t.Free(); return nil, err }
	if opt.Resume {
		meta, state, err := readCheckpoint(filepath.Join(opt.Dir, CheckpointFile))
		if err != nil {
			return nil, err
		}
		// A checkpoint holds a moving average only if its run kept one.
		if saved, err := Parse([]byte(meta.ConfigTOML), CheckpointFile); err == nil && (saved.EMADecay > 0) != (cfg.EMADecay > 0) {
			return nil, fmt.Errorf("config key ema_decay = %v, but the checkpoint in %s was written with ema_decay = %v: a run cannot gain or drop its moving average; resume with ema_decay = %v, or start a new run with init = its model", cfg.EMADecay, opt.Dir, saved.EMADecay, saved.EMADecay)
		}
		if err := t.restore(meta, state); err != nil {
			return fail(err)
		}
	} else if cfg.Init != "" {
		im, err := lm.Import(cfg.Init, torch.Float32, dev)
		if err != nil {
			return nil, fmt.Errorf("config key init: %w", err)
		}
		t.model, t.vocab = im.Model, im.Vocab
		// RoPE learns no positions, so a continued model may be taught
		// longer texts than it was made for (a template with one more
		// line): a larger context key wins; a smaller one never cuts.
		if cfg.Context > t.model.Shape.Context {
			t.model.Shape.Context = cfg.Context
		}
	} else {
		// Every text the model will read: the data, and a separate
		// held-out file's.
		b := tokenizer.NewBuilder()
		if err := addTexts(b, cfg.Data); err != nil {
			return nil, err
		}
		if cfg.HeldoutData != "" {
			if err := addTexts(b, cfg.HeldoutData); err != nil {
				return nil, fmt.Errorf("config key heldout_data: %w", err)
			}
		}
		t.vocab = b.Vocab()
		if t.model, err = lm.New(cfg.Shape(t.vocab.Len()), uint64(cfg.Seed), torch.Float32, dev); err != nil {
			return nil, err
		}
	}
	ctx := t.model.Shape.Context
	if t.train, t.heldout, err = readData(cfg, t.vocab, ctx); err != nil {
		return fail(err)
	}
	// Reading left the files' text as garbage several times the corpus;
	// hand it back now rather than hold it for the run.
	debug.FreeOSMemory()
	if !opt.Resume { // a resumed run's optimiser and average are its checkpoint's
		if cfg.EMADecay > 0 {
			if t.ema, err = zeroModel(t.model.Shape, dev); err != nil {
				return fail(err)
			}
			if err := copyWeights(t.ema, t.model); err != nil {
				return fail(err)
			}
		}
		if err := t.newOptimizer(); err != nil {
			return fail(err)
		}
	}
	if t.rope, err = lm.NewRope(t.model.Shape, ctx, torch.Float32, dev); err != nil {
		return fail(err)
	}
	if t.group != nil {
		if err := t.joinRanks(); err != nil {
			return fail(err)
		}
	}
	return t, nil
}

// restore makes the run a checkpoint holds: its vocabulary, weights,
// moving average (when t.cfg keeps one), optimiser state and step.
func (t *Trainer) restore(meta *checkpointMeta, state []byte) error {
	var err error
	if t.vocab, err = tokenizer.New(meta.Tokens, meta.Scores, meta.Types, meta.BOS, meta.EOS, meta.UNK, meta.AddBOS, meta.SpacePref); err != nil {
		return fmt.Errorf("train: checkpoint vocabulary: %w", err)
	}
	if t.model, err = zeroModel(meta.Shape, t.device); err != nil {
		return err
	}
	if t.cfg.EMADecay > 0 {
		if t.ema, err = zeroModel(meta.Shape, t.device); err != nil {
			return err
		}
	}
	if err := t.newOptimizer(); err != nil {
		return err
	}
	if err := torch.LoadState(state, t.stateTensors(), t.opt.Adam); err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	t.step, t.saved = meta.Step, meta.Step
	if len(meta.LastEval) == 2 {
		t.lastEval = [2]float64{meta.LastEval[0], meta.LastEval[1]}
	}
	return nil
}

// newOptimizer makes the run's AdamW over the model's parameters.
func (t *Trainer) newOptimizer() error {
	c := t.cfg
	opts := torch.AdamOptions{LR: c.LearningRate, Beta1: c.Beta1, Beta2: c.Beta2, Eps: c.AdamEps, WeightDecay: c.WeightDecay}
	var err error
	t.opt, err = torch.NewAdamW(t.model.Parameters(), t.model.Decayed(), opts)
	return err
}

// ExportCheckpoint writes the model of the checkpoint in a run directory
// to a GGUF of type ft ("": the run's export key), as the run's end would
// write model.gguf (the moving average when the run keeps one): a model to
// score or serve while its run goes on, or of a run that stopped early.
// Checkpoints are replaced atomically, so a running run's is safe to read.
// It returns the checkpoint's step.
func ExportCheckpoint(dir, out string, ft lm.FileType) (step int, err error) {
	path := filepath.Join(dir, CheckpointFile)
	meta, state, err := readCheckpoint(path)
	if err != nil {
		return 0, err
	}
	cfg, err := Parse([]byte(meta.ConfigTOML), path)
	if err != nil {
		return 0, err
	}
	if ft == "" {
		ft, _ = lm.ParseFileType(cfg.Export) // Parse validated it
	}
	t := &Trainer{cfg: cfg, device: torch.CPU}
	defer t.Free()
	if err := t.restore(meta, state); err != nil {
		return 0, err
	}
	if err := lm.Export(out, t.exported(), t.vocab, cfg.Name, ft); err != nil {
		return 0, err
	}
	return meta.Step, nil
}

// joinRanks checks that every rank holds the same run (step, data sizes,
// vocabulary and shape, each a slip that would otherwise train a different
// model silently or hang a collective) and gives every rank rank 0's
// weights, which a seed or a shared checkpoint already makes equal.
func (t *Trainer) joinRanks() error {
	g := t.group
	mine := []float64{float64(t.step), float64(t.train.Len()), float64(t.heldout.Len()), float64(t.vocab.Len()), float64(t.model.Shape.ParamCount())}
	lo, hi := slices.Clone(mine), slices.Clone(mine)
	if err := g.AllReduceFloat64(lo, torch.ReduceMin); err != nil {
		return fmt.Errorf("train: rank %d: %w", g.Rank(), err)
	}
	if err := g.AllReduceFloat64(hi, torch.ReduceMax); err != nil {
		return fmt.Errorf("train: rank %d: %w", g.Rank(), err)
	}
	for i, what := range []string{"start at different steps", "read different training data", "read different held-out data", "built different vocabularies", "built different model shapes"} {
		if lo[i] != hi[i] {
			return fmt.Errorf("train: the %d ranks %s (%v to %v here on rank %d): give every rank the same config, data files and run directory", g.Size(), what, lo[i], hi[i], g.Rank())
		}
	}
	if err := g.Broadcast(t.model.Parameters(), 0); err != nil {
		return fmt.Errorf("train: rank %d: %w", g.Rank(), err)
	}
	return nil
}

// rank is this process's rank, 0 for a single process.
func (t *Trainer) rank() int {
	if t.group == nil {
		return 0
	}
	return t.group.Rank()
}

// share is this rank's contiguous part of n items: [lo, hi).
func (t *Trainer) share(n int) (lo, hi int) {
	if t.group == nil {
		return 0, n
	}
	r, w := t.group.Rank(), t.group.Size()
	return r * n / w, (r + 1) * n / w
}

// zeroModel makes a model of shape s whose weights a checkpoint will fill.
func zeroModel(s lm.Shape, dev torch.Device) (*lm.Model, error) {
	m, err := lm.New(s, 0, torch.Float32, dev)
	if err != nil {
		return nil, fmt.Errorf("train: checkpoint shape: %w", err)
	}
	return m, nil
}

// Free releases the model and optimiser.
func (t *Trainer) Free() {
	if t.rope != nil {
		t.rope.Free()
	}
	if t.opt != nil {
		t.opt.Free()
	}
	if t.model != nil {
		t.model.Free()
	}
	if t.ema != nil {
		t.ema.Free()
	}
}

// stateTensors are the tensors a checkpoint holds besides AdamW's state:
// the weights, then their average with ema_decay.
func (t *Trainer) stateTensors() []*torch.Tensor {
	ps := t.model.Parameters()
	if t.ema != nil {
		ps = append(slices.Clip(ps), t.ema.Parameters()...)
	}
	return ps
}

// exported is the model a run evaluates and exports: the average with
// ema_decay, else the weights being trained.
func (t *Trainer) exported() *lm.Model {
	if t.ema != nil {
		return t.ema
	}
	return t.model
}

// copyWeights sets dst's weights to src's.
func copyWeights(dst, src *lm.Model) error {
	to := dst.Parameters()
	for i, p := range src.Parameters() {
		if err := to[i].CopyFrom(p); err != nil {
			return fmt.Errorf("train: %w", err)
		}
	}
	return nil
}

// updateEMA moves the average towards the weights after step (1-based)
// with the warmed-up decay, so that a run's first steps, far from where
// the average settles, weigh little.
func (t *Trainer) updateEMA(step int) error {
	d := min(t.cfg.EMADecay, float64(step)/float64(step+9))
	return torch.NoGrad(func() error {
		s := torch.NewScope()
		defer s.Close()
		avg := t.ema.Parameters()
		for i, p := range t.model.Parameters() {
			e := avg[i]
			next := s.Add(s.MulS(e, d), s.MulS(p, 1-d))
			if err := s.Err(); err != nil {
				return fmt.Errorf("train: moving average: %w", err)
			}
			if err := e.CopyFrom(next); err != nil {
				return fmt.Errorf("train: moving average: %w", err)
			}
		}
		return nil
	})
}

// Model is the model being trained; Vocab its vocabulary.
func (t *Trainer) Model() *lm.Model            { return t.model }
func (t *Trainer) Vocab() *tokenizer.Vocab     { return t.vocab }
func (t *Trainer) Sizes() (train, heldout int) { return t.train.Len(), t.heldout.Len() }

// LR is the learning rate at step (0-based): linear warm-up to the peak,
// then cosine decay to the peak times lr_final_fraction at the last step.
func (c Config) LR(step int) float64 {
	if step < c.WarmupSteps {
		return c.LearningRate * float64(step+1) / float64(c.WarmupSteps)
	}
	span := max(1, c.Steps-1-c.WarmupSteps)
	p := math.Min(1, float64(step-c.WarmupSteps)/float64(span))
	final := c.LearningRate * c.LRFinalFraction
	return final + (c.LearningRate-final)*0.5*(1+math.Cos(math.Pi*p))
}

// batch is the indices of the training sequences of a step: consecutive
// slices of per-epoch permutations drawn from the seed and the epoch number,
// so a resumed run sees the same batches without saving generator state.
func (t *Trainer) batch(step int) []int {
	n, b := t.train.Len(), t.cfg.BatchSize
	out := make([]int, 0, b)
	for pos := step * b; len(out) < b; pos++ {
		e := pos / n
		perm, ok := t.epochs[e]
		if !ok {
			perm = rand.New(rand.NewPCG(uint64(t.cfg.Seed), uint64(e)+0x65706f6368)).Perm(n) // "epoch"
			clear(t.epochs)
			t.epochs[e] = perm
		}
		out = append(out, perm[pos%n])
	}
	return out
}

// batchTensors builds the inputs of a minibatch: ids [B, T] right-padded,
// the padding mask, the flat indices of the positions that predict an
// answer token and those tokens. Position j predicts token j+1.
type batchData struct {
	ids      []int64
	pad      []bool
	b, t     int64
	sel      []int64
	targets  []int64
	examples []int // example of each selected position
	tokens   int   // non-pad input tokens
}

func makeBatch(c *Corpus, idx []int) batchData {
	var T int
	for _, i := range idx {
		toks, _ := c.Seq(i)
		T = max(T, len(toks)-1)
	}
	bd := batchData{b: int64(len(idx)), t: int64(T), ids: make([]int64, len(idx)*T), pad: make([]bool, len(idx)*T)}
	for r, i := range idx {
		toks, answer := c.Seq(i)
		n := len(toks) - 1
		for j, id := range toks[:n] {
			bd.ids[r*T+j] = int64(id)
		}
		bd.tokens += n
		for j := n; j < T; j++ {
			bd.pad[r*T+j] = true
		}
		for j := answer - 1; j < n; j++ {
			bd.sel = append(bd.sel, int64(r*T+j))
			bd.targets = append(bd.targets, int64(toks[j+1]))
			bd.examples = append(bd.examples, r)
		}
	}
	return bd
}

// logits runs the model on a batch and returns the logits of the answer
// positions [len(sel), vocab].
func (t *Trainer) logits(s *torch.Scope, bd batchData) *torch.Tensor {
	return answerLogits(s, t.model, t.rope, bd, t.device)
}

func answerLogits(s *torch.Scope, m *lm.Model, rope *lm.Rope, bd batchData, dev torch.Device) *torch.Tensor {
	ids := torch.FromSliceIn(s, bd.ids, []int64{bd.b, bd.t}, dev)
	h := m.Hidden(s, ids, lm.Mask(s, bd.b, bd.t, bd.pad, dev), rope)
	flat := s.View(h, bd.b*bd.t, int64(m.Shape.Dim))
	sel := torch.FromSliceIn(s, bd.sel, []int64{int64(len(bd.sel))}, dev)
	return m.Logits(s, s.IndexSelect(flat, 0, sel))
}

// Step runs one optimiser step and returns its loss and gradient norm.
func (t *Trainer) Step() (loss, gradNorm float64, tokens int, err error) {
	lr := t.cfg.LR(t.step)
	if err := t.opt.SetLR(lr); err != nil {
		return 0, 0, 0, err
	}
	idx := t.batch(t.step)
	if t.group != nil {
		return t.stepShare(idx)
	}
	bd := makeBatch(t.train, idx)
	s := torch.NewScope()
	defer s.Close()
	targets := torch.FromSliceIn(s, bd.targets, []int64{int64(len(bd.targets))}, t.device)
	l := s.CrossEntropy(t.logits(s, bd), targets, ignore)
	s.Backward(l)
	loss = s.Item(l)
	if err := s.Err(); err != nil {
		return 0, 0, 0, err
	}
	if err := finite("loss", loss); err != nil {
		return loss, 0, 0, err
	}
	gradNorm, err = t.update()
	return loss, gradNorm, bd.tokens, err
}

// ErrNotFinite is a step whose loss or gradient norm is NaN or infinite:
// the run stops before the optimiser applies it.
var ErrNotFinite = errors.New("not finite")

func finite(what string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("the %s is %v: %w", what, v, ErrNotFinite)
	}
	return nil
}

// stepShare is Step on one rank of a group: the loss of this rank's share
// of the minibatch idx is its answer tokens' summed cross-entropy over the
// whole minibatch's answer-token count, so the gradients summed over the
// ranks are the gradient of the minibatch's mean loss, as one process
// computes it. The clipping and the AdamW step then run on identical
// gradients on every rank.
func (t *Trainer) stepShare(idx []int) (loss, gradNorm float64, tokens int, err error) {
	var answers int
	for _, i := range idx {
		toks, answer := t.train.Seq(i)
		answers += len(toks) - answer
	}
	lo, hi := t.share(len(idx))
	bd := makeBatch(t.train, idx[lo:hi])
	s := torch.NewScope()
	defer s.Close()
	targets := torch.FromSliceIn(s, bd.targets, []int64{int64(len(bd.targets))}, t.device)
	mean := s.CrossEntropy(t.logits(s, bd), targets, ignore)
	s.Backward(s.MulS(mean, float64(len(bd.targets))/float64(answers)))
	sums := []float64{s.Item(mean) * float64(len(bd.targets)), float64(bd.tokens)}
	if err := s.Err(); err != nil {
		return 0, 0, 0, err
	}
	g := t.group
	if err := g.AllReduceGrads(t.model.Parameters(), torch.ReduceSum); err != nil {
		return 0, 0, 0, err
	}
	if err := g.AllReduceFloat64(sums, torch.ReduceSum); err != nil {
		return 0, 0, 0, err
	}
	loss = sums[0] / float64(answers)
	if err := finite("loss", loss); err != nil { // on every rank: the sums are the group's
		return loss, 0, 0, err
	}
	gradNorm, err = t.update()
	return loss, gradNorm, int(sums[1]), err
}

// update clips the gradients, steps AdamW and clears the gradients.
func (t *Trainer) update() (gradNorm float64, err error) {
	if t.cfg.MaxGradNorm > 0 {
		if gradNorm, err = torch.ClipGradNorm(t.model.Parameters(), t.cfg.MaxGradNorm); err != nil {
			return 0, err
		}
		if err := finite("gradient norm", gradNorm); err != nil {
			return gradNorm, err
		}
	}
	if err := t.opt.Step(); err != nil {
		return 0, err
	}
	if err := t.opt.ZeroGrad(); err != nil {
		return 0, err
	}
	t.step++
	if t.ema != nil {
		if err := t.updateEMA(t.step); err != nil {
			return 0, err
		}
	}
	return gradNorm, nil
}

// Evaluate returns the held-out mean answer-token loss and the fraction of
// pairs whose every answer token is the model's top-1 (teacher-forced), of
// the model the run exports (with ema_decay, the average).
// In a group each rank scores its share of the held-out pairs.
func (t *Trainer) Evaluate() (loss, acc float64, err error) { return t.evaluate(t.exported()) }

func (t *Trainer) evaluate(m *lm.Model) (loss, acc float64, err error) {
	if t.group == nil {
		return Evaluate(m, t.rope, t.heldout, 4*t.cfg.BatchSize, t.device)
	}
	lo, hi := t.share(t.heldout.Len())
	sumLoss, nTok, nRight, err := evalSums(m, t.rope, t.heldout, lo, hi, 4*t.cfg.BatchSize, t.device)
	if err != nil {
		return math.NaN(), math.NaN(), err
	}
	sums := []float64{sumLoss, float64(nTok), float64(nRight)}
	if err := t.group.AllReduceFloat64(sums, torch.ReduceSum); err != nil {
		return math.NaN(), math.NaN(), err
	}
	if sums[1] == 0 {
		return math.NaN(), math.NaN(), nil
	}
	return sums[0] / sums[1], sums[2] / float64(t.heldout.Len()), nil
}

// Evaluate scores the pairs of c in batches of size without gradients.
func Evaluate(m *lm.Model, rope *lm.Rope, c *Corpus, size int, dev torch.Device) (loss, acc float64, err error) {
	sumLoss, nTok, nRight, err := evalSums(m, rope, c, 0, c.Len(), size, dev)
	if err != nil || nTok == 0 {
		return math.NaN(), math.NaN(), err
	}
	return sumLoss / float64(nTok), float64(nRight) / float64(c.Len()), nil
}

// evalSums is Evaluate's sums over c's pairs [lo, hi): the answer tokens'
// summed loss, their number, and the pairs answered right.
func evalSums(m *lm.Model, rope *lm.Rope, c *Corpus, lo, hi, size int, dev torch.Device) (sumLoss float64, nTok, nRight int, err error) {
	err = torch.NoGrad(func() error {
		for start := lo; start < hi; start += size {
			idx := make([]int, 0, size)
			for i := start; i < min(start+size, hi); i++ {
				idx = append(idx, i)
			}
			bd := makeBatch(c, idx)
			s := torch.NewScope()
			logits := answerLogits(s, m, rope, bd, dev)
			targets := torch.FromSliceIn(s, bd.targets, []int64{int64(len(bd.targets))}, dev)
			l := s.Item(s.CrossEntropy(logits, targets, ignore))
			pred := s.Argmax(logits, -1, false)
			if err := s.Err(); err != nil {
				s.Close()
				return err
			}
			p, err := torch.ToSlice[int64](pred)
			s.Close()
			if err != nil {
				return err
			}
			sumLoss += l * float64(len(bd.targets))
			nTok += len(bd.targets)
			wrong := map[int]bool{}
			for k, ex := range bd.examples {
				if p[k] != bd.targets[k] {
					wrong[ex] = true
				}
			}
			nRight += len(idx) - len(wrong)
		}
		return nil
	})
	return sumLoss, nTok, nRight, err
}

// Run trains to cfg.Steps, evaluating, logging and checkpointing on the
// way. On ctx's cancellation it writes a checkpoint and returns ctx.Err().
//
// Run keeps its goroutine on one OS thread: libtorch's grad mode and
// OpenMP's thread count are per OS thread, and a run whose ops hop between
// threads with different settings (or thread teams) is not reproducible
// from one process to the next.
func (t *Trainer) Run(ctx context.Context, opt Options) (Result, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// torch.SetNumThreads also sizes OpenBLAS's pool, which otherwise keeps
	// one thread per core: the weights a run produces would then depend on
	// the machine's core count (15 steps with 1 and with 2 OpenBLAS threads
	// gave different GGUFs). glibc returning freed activation blocks to the
	// system made a third of a training's CPU system time (page faults);
	// KeepFreedMemory is process-wide, as for the scorer.
	if t.cfg.TorchThreads > 0 {
		if err := torch.SetNumThreads(t.cfg.TorchThreads); err != nil {
			return Result{}, err
		}
	}
	torch.KeepFreedMemory()
	lead := t.rank() == 0 // the rank that writes Dir
	enc := json.NewEncoder(io.Discard)
	if lead {
		if err := os.MkdirAll(opt.Dir, 0o755); err != nil {
			return Result{}, fmt.Errorf("train: %w", err)
		}
		if !opt.Resume {
			if err := runfile.WriteFileAtomic(filepath.Join(opt.Dir, ConfigFile), t.cfg.Encode()); err != nil {
				return Result{}, fmt.Errorf("train: %w", err)
			}
		}
		metrics, err := openMetrics(filepath.Join(opt.Dir, MetricsFile), t.step)
		if err != nil {
			return Result{}, err
		}
		defer metrics.Close()
		enc = json.NewEncoder(metrics)
	}
	start, startStep := time.Now(), t.step
	for t.step < t.cfg.Steps {
		stop := ctx.Err() != nil
		if t.group != nil {
			// A Ctrl-C reaches the ranks at different steps: all stop at one.
			var err error
			if stop, err = t.group.Any(stop); err != nil {
				return Result{}, fmt.Errorf("train: step %d: agreeing whether to stop: %w", t.step, err)
			}
		}
		if stop {
			cause := ctx.Err()
			if cause == nil { // another rank's
				cause = context.Canceled
			}
			if lead {
				if cerr := t.Checkpoint(opt.Dir); cerr != nil {
					return Result{}, errors.Join(cause, cerr)
				}
			}
			return Result{}, cause
		}
		stepStart := time.Now()
		lr := t.cfg.LR(t.step)
		loss, norm, tokens, err := t.Step()
		if errors.Is(err, ErrNotFinite) {
			kept := "no checkpoint was written yet: start again"
			if t.saved >= 0 {
				kept = fmt.Sprintf("the checkpoint of step %d is kept: -resume %s", t.saved, opt.Dir)
			}
			return Result{}, fmt.Errorf("train: step %d (learning rate %.3g): %w; the step was not applied and %s, after lowering learning_rate or raising warmup_steps in its config.toml",
				t.step+1, lr, err, kept)
		}
		if err != nil {
			return Result{}, fmt.Errorf("train: step %d: %w", t.step, err)
		}
		m := Metrics{Step: t.step, LR: lr, Loss: loss, GradNorm: norm, TokensPerS: float64(tokens) / time.Since(stepStart).Seconds()}
		if t.step%t.cfg.EvalEvery == 0 || t.step == t.cfg.Steps {
			hl, ha, err := t.Evaluate()
			if err != nil {
				return Result{}, fmt.Errorf("train: evaluation at step %d: %w", t.step, err)
			}
			t.lastEval = [2]float64{hl, ha}
			m.HeldoutLoss, m.HeldoutAcc = &hl, &ha
			if t.ema != nil {
				ll, la, err := t.evaluate(t.model)
				if err != nil {
					return Result{}, fmt.Errorf("train: evaluation at step %d: %w", t.step, err)
				}
				m.HeldoutLossLast, m.HeldoutAccLast = &ll, &la
			}
		}
		if err := enc.Encode(m); err != nil {
			return Result{}, fmt.Errorf("train: %w", err)
		}
		if lead && ((t.cfg.CheckpointEvery > 0 && t.step%t.cfg.CheckpointEvery == 0) || t.step == t.cfg.Steps) {
			if err := t.Checkpoint(opt.Dir); err != nil {
				return Result{}, err
			}
		}
		if opt.Progress != nil {
			done := t.step - startStep
			el := time.Since(start)
			eta := time.Duration(float64(el) / float64(done) * float64(t.cfg.Steps-t.step))
			opt.Progress(Progress{Step: t.step, Total: t.cfg.Steps, Loss: loss, TokensPerS: m.TokensPerS, ETA: eta,
				HeldoutLoss: t.lastEval[0], HeldoutAcc: t.lastEval[1]})
		}
	}
	ft, _ := lm.ParseFileType(t.cfg.Export)
	path := filepath.Join(opt.Dir, ModelFile)
	if lead {
		if err := lm.Export(path, t.exported(), t.vocab, t.cfg.Name, ft); err != nil {
			return Result{}, err
		}
	}
	if t.group != nil {
		// The others leave once the model is written, so that a launcher
		// that sees every rank exit finds it there.
		if err := t.group.Barrier(); err != nil {
			return Result{}, fmt.Errorf("train: %w", err)
		}
	}
	return Result{Steps: t.step, HeldoutLoss: t.lastEval[0], HeldoutAcc: t.lastEval[1], Model: path, Params: t.model.Shape.ParamCount()}, nil
}

// openMetrics opens the metrics file for appending, first dropping lines
// past step (written after the checkpoint a resumed run starts from).
func openMetrics(path string, step int) (*os.File, error) {
	if step > 0 {
		data, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("train: %w", err)
		}
		var keep bytes.Buffer
		for _, line := range bytes.SplitAfter(data, []byte("\n")) {
			var m Metrics
			if json.Unmarshal(line, &m) == nil && m.Step <= step {
				keep.Write(line)
			}
		}
		if err := runfile.WriteFileAtomic(path, keep.Bytes()); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
	} else if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("train: %w", err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return f, nil
}

// Checkpoint writes the run's state to dir atomically: magic, the JSON
// meta's length (u64) and the meta, then the torch archive of the weights
// and AdamW state.
func (t *Trainer) Checkpoint(dir string) error {
	state, err := torch.SaveState(t.stateTensors(), t.opt.Adam)
	if err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	v := t.vocab
	meta, err := json.Marshal(checkpointMeta{Step: t.step, Shape: t.model.Shape, Tokens: v.Tokens, Scores: v.Scores, Types: v.Types,
		BOS: v.BOS, EOS: v.EOS, UNK: v.UNK, AddBOS: v.AddBOS, SpacePref: v.AddSpacePrefix,
		LastEval: nanToNull(t.lastEval[:]), ConfigTOML: string(t.cfg.Encode())})
	if err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	err = runfile.WriteAtomic(filepath.Join(dir, CheckpointFile), 0o644, func(w io.Writer) error {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(meta)))
		for _, b := range [][]byte{checkpointMagic, n[:], meta, state} {
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		t.saved = t.step
	}
	return err
}

// nanToNull drops NaNs (JSON has none): no evaluation yet.
func nanToNull(v []float64) []float64 {
	for _, x := range v {
		if math.IsNaN(x) {
			return nil
		}
	}
	return v
}

func readCheckpoint(path string) (*checkpointMeta, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("train: %w", err)
	}
	if !bytes.HasPrefix(data, checkpointMagic) || len(data) < len(checkpointMagic)+8 {
		return nil, nil, fmt.Errorf("train: %s is not a lago lm checkpoint", path)
	}
	rest := data[len(checkpointMagic):]
	n := binary.LittleEndian.Uint64(rest)
	if n > uint64(len(rest)-8) {
		return nil, nil, fmt.Errorf("train: %s is truncated", path)
	}
	var meta checkpointMeta
	if err := json.Unmarshal(rest[8:8+n], &meta); err != nil {
		return nil, nil, fmt.Errorf("train: %s: %w", path, err)
	}
	return &meta, rest[8+n:], nil
}

// ResumeConfig is the config a run directory was started with.
func ResumeConfig(dir string) (Config, error) {
	return Load(filepath.Join(dir, ConfigFile))
}
