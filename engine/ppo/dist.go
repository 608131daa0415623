package ppo

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"runtime"
	"unsafe"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/config"
)

// Data-parallel PPO (DD-PPO, Wijmans et al. 2020) over a torch.Group: every
// rank runs num_envs/world envs with seed+rank, all start from rank 0's
// parameters, and each minibatch's gradients are averaged with one flat
// all-reduce between backward and clip+Adam, so Adam's state stays the same
// on every rank. The config keeps its single-process meaning: num_envs,
// total_timesteps and the minibatch count are the group's, so one config
// trains the same algorithm on 1 or N ranks.
//
// What would make the ranks' average differ from one process's minibatch
// is made global instead:
//   - advantage normalisation uses the mean and std of the whole minibatch
//     (all ranks' parts), from all-reduced Σa, Σa² and counts;
//   - a regulariser's D that is a mean over the minibatch's covered samples
//     ([Coverage]) is reweighted by covered_r·world/covered_total, so the
//     average of the ranks' gradients is that of the mean over all covered
//     samples;
//   - the early stop at target_kl looks at the ranks' mean approx_kl, so all
//     ranks stop after the same minibatch.
// The fused one-call minibatch step has no all-reduce between backward and
// Adam, so ranks take the op-by-op path (pathFlat).

// RankOptions place a trainer in a data-parallel group.
type RankOptions struct {
	// Group is the group (nil, or of size 1: a single process).
	Group *torch.Group
	// Cores is how many CPU cores this rank may use, for num_workers = 0 and
	// torch_threads = 0 (0: all of them): N ranks on one machine share it.
	Cores int
}

// Coverage is implemented by a Regularizer whose D is a mean over the
// minibatch's samples that have a prior (LaGO's): Covered counts them, so
// that data-parallel training can make that mean global.
type Coverage interface {
	Covered(idx []int64) int
}

type distState struct {
	g           *torch.Group
	rank, world int
}

// RankConfig is the config rank runs in a group of world ranks: its share
// of num_envs and total_timesteps and its own seed (seed + rank). num_envs
// must split evenly and each rank's batch into num_minibatches.
func RankConfig(cfg config.Config, rank, world int) (config.Config, error) {
	if world <= 1 {
		return cfg, nil
	}
	if cfg.NumEnvs%world != 0 {
		return cfg, fmt.Errorf("config key num_envs: %d envs do not split over %d ranks; use a multiple of %d", cfg.NumEnvs, world, world)
	}
	local := cfg
	local.NumEnvs /= world
	local.TotalTimesteps /= int64(world)
	local.Seed += int64(rank)
	if b := local.NumEnvs * local.NumSteps; b%local.NumMinibatches != 0 {
		return cfg, fmt.Errorf("config key num_minibatches: each of %d ranks collects %d envs × %d steps = %d samples, which %d minibatches do not divide; choose num_minibatches dividing %d",
			world, local.NumEnvs, local.NumSteps, b, local.NumMinibatches, b)
	}
	return local, nil
}

// NewRank builds rank g.Rank()'s trainer of cfg (the group's config) and
// gives it rank 0's initial parameters. With no group it is New.
func NewRank(cfg config.Config, reg Regularizer, d RankOptions) (*Trainer, error) {
	if d.Group == nil || d.Group.Size() <= 1 {
		return newRankTrainer(cfg, reg, nil, d.Cores)
	}
	g := d.Group
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	local, err := RankConfig(cfg, g.Rank(), g.Size())
	if err != nil {
		return nil, err
	}
	if reg != nil {
		if _, ok := reg.(Coverage); !ok {
			return nil, fmt.Errorf("ppo: regulariser %s cannot train data-parallel: it does not count the samples its mean covers (ppo.Coverage)", reg.Name())
		}
	}
	return newRankTrainer(local, reg, &distState{g: g, rank: g.Rank(), world: g.Size()}, d.Cores)
}

// World is the number of ranks training together (1: a single process).
func (t *Trainer) World() int {
	if t.dist == nil {
		return 1
	}
	return t.dist.world
}

// Rank is this trainer's rank (0 for a single process).
func (t *Trainer) Rank() int {
	if t.dist == nil {
		return 0
	}
	return t.dist.rank
}

// GlobalBatch is the samples of one iteration over all ranks.
func (t *Trainer) GlobalBatch() int { return t.BatchSize * t.World() }

// mbStats are one minibatch's group-wide figures.
type mbStats struct {
	mean, std float64 // of the advantages
	covered   int     // samples with a prior, all ranks
}

// epochStats all-reduces, in one call, every minibatch's Σa, Σa², count and
// covered samples for the epoch whose order is perm.
func (t *Trainer) epochStats(perm []int64, out []mbStats) error {
	n := len(out)
	v := make([]float64, 4*n)
	cov, _ := t.Reg.(Coverage)
	for k := 0; k < n; k++ {
		idx := perm[k*t.MinibatchSize : (k+1)*t.MinibatchSize]
		var s, ss float64
		for _, i := range idx {
			a := float64(t.buf.adv[i])
			s += a
			ss += a * a
		}
		v[4*k], v[4*k+1], v[4*k+2] = s, ss, float64(len(idx))
		if cov != nil {
			v[4*k+3] = float64(cov.Covered(idx))
		}
	}
	if err := t.dist.g.AllReduceFloat64(v, torch.ReduceSum); err != nil {
		return fmt.Errorf("ppo: advantage statistics: %w", err)
	}
	for k := range out {
		s, ss, c := v[4*k], v[4*k+1], v[4*k+2]
		mean := s / c
		// torch's std is the unbiased one (÷ N−1), as Loss uses.
		std := math.Sqrt(math.Max(ss-s*mean, 0) / math.Max(c-1, 1))
		out[k] = mbStats{mean: mean, std: std, covered: int(v[4*k+3])}
	}
	return nil
}

// distTerm wraps a regulariser's term so that the ranks' average of it is
// the mean over all ranks' covered samples: D_r (a mean over this rank's
// covered samples) weighs covered_r·world/covered_total.
func (t *Trainer) distTerm(s *torch.Scope, term TermFunc, idx []int64, st mbStats) TermFunc {
	return func() (RegTerm, error) {
		rt, err := term()
		if err != nil || rt.D == nil || st.covered == 0 {
			return rt, err
		}
		local := t.Reg.(Coverage).Covered(idx)
		rt.D = s.MulS(rt.D, float64(local*t.dist.world)/float64(st.covered))
		return rt, nil
	}
}

// allReduceGrads averages the gradients over the ranks: one flat buffer,
// one collective.
func (t *Trainer) allReduceGrads(at Position) error {
	if err := t.dist.g.AllReduceGrads(t.Opt.Params(), torch.ReduceAvg); err != nil {
		return fmt.Errorf("ppo: %v: gradient all-reduce: %w", at, err)
	}
	return nil
}

// meanOverRanks replaces x by its mean over the ranks.
func (t *Trainer) meanOverRanks(what string, x *float64) error {
	v := []float64{*x}
	if err := t.dist.g.AllReduceFloat64(v, torch.ReduceAvg); err != nil {
		return fmt.Errorf("ppo: %s: %w", what, err)
	}
	*x = v[0]
	return nil
}

// rankReport is what each rank tells the others at the end of an
// iteration, for the group's metrics.
type rankReport struct {
	Episodes []Episode          `json:"e,omitempty"`
	Reg      map[string]float64 `json:"r,omitempty"`
	Losses   [6]float64         `json:"l"` // pg, v, entropy, approx_kl, old_approx_kl, clipfrac
	// Sums for the explained variance over all ranks' samples: n, Σy,
	// Σy², Σ(y−ŷ), Σ(y−ŷ)².
	EV [5]float64 `json:"v"`
}

// gatherMetrics merges every rank's figures into m: all episodes (rank
// order), which also enter Recent, the mean losses and regulariser figures
// over the ranks, and the explained variance over all samples. Every rank
// ends with the same m and Recent.
func (t *Trainer) gatherMetrics(m *Metrics, eps []Episode, reg map[string]float64) error {
	r := rankReport{Episodes: eps, Reg: reg,
		Losses: [6]float64{m.PolicyLoss, m.ValueLoss, m.Entropy, m.ApproxKL, m.OldApproxKL, m.ClipFrac}}
	for i, y := range t.buf.ret {
		d := float64(y - t.buf.values[i])
		r.EV[0]++
		r.EV[1] += float64(y)
		r.EV[2] += float64(y) * float64(y)
		r.EV[3] += d
		r.EV[4] += d * d
	}
	mine, err := json.Marshal(r)
	if err != nil {
		return err
	}
	all, err := gatherBytes(t.dist.g, mine)
	if err != nil {
		return fmt.Errorf("ppo: gathering the ranks' metrics: %w", err)
	}
	var losses [6]float64
	var ev [5]float64
	regSum, regN := map[string]float64{}, map[string]int{}
	m.Episodes = nil
	for rank, b := range all {
		var rr rankReport
		if err := json.Unmarshal(b, &rr); err != nil {
			return fmt.Errorf("ppo: rank %d's metrics: %w", rank, err)
		}
		m.Episodes = append(m.Episodes, rr.Episodes...)
		for i := range losses {
			losses[i] += rr.Losses[i] / float64(len(all))
		}
		for i := range ev {
			ev[i] += rr.EV[i]
		}
		for k, v := range rr.Reg {
			regSum[k] += v
			regN[k]++
		}
	}
	for _, e := range m.Episodes {
		t.Recent.Add(e)
	}
	m.PolicyLoss, m.ValueLoss, m.Entropy, m.ApproxKL, m.OldApproxKL, m.ClipFrac = losses[0], losses[1], losses[2], losses[3], losses[4], losses[5]
	m.ExplainedVariance = math.NaN()
	if n := ev[0]; n > 0 {
		vy := ev[2] - ev[1]*ev[1]/n
		vr := ev[4] - ev[3]*ev[3]/n
		if vy > 0 {
			m.ExplainedVariance = 1 - vr/vy
		}
	}
	if reg != nil || len(regSum) > 0 {
		m.Regularizer = make(map[string]float64, len(regSum))
		for k, s := range regSum {
			m.Regularizer[k] = s / float64(regN[k])
		}
	}
	return nil
}

// gatherBytes gives every rank every rank's bytes, in rank order, through
// two float64 all-reduces (sizes, then the bytes, each rank filling its own
// span of a zeroed buffer): the shim has no variable-sized all-gather, and
// what goes through here is small (an iteration's episodes, a checkpoint
// once at resume). Bytes are exact as float64.
func gatherBytes(g *torch.Group, mine []byte) ([][]byte, error) {
	w, rank := g.Size(), g.Rank()
	sizes := make([]float64, w)
	sizes[rank] = float64(len(mine))
	if err := g.AllReduceFloat64(sizes, torch.ReduceSum); err != nil {
		return nil, err
	}
	total, off := 0, 0
	for r, s := range sizes {
		if r == rank {
			off = total
		}
		total += int(s)
	}
	out := make([][]byte, w)
	if total == 0 {
		return out, nil
	}
	buf := make([]float64, total)
	for i, b := range mine {
		buf[off+i] = float64(b)
	}
	if err := g.AllReduceFloat64(buf, torch.ReduceSum); err != nil {
		return nil, err
	}
	at := 0
	for r, s := range sizes {
		out[r] = make([]byte, int(s))
		for i := range out[r] {
			out[r][i] = byte(buf[at+i])
		}
		at += int(s)
	}
	return out, nil
}

// BroadcastBytes gives every rank rank 0's bytes (others pass nil): the
// effective config and the checkpoint at a group's start.
func BroadcastBytes(g *torch.Group, data []byte) ([]byte, error) {
	if g.Rank() != 0 {
		data = nil
	}
	all, err := gatherBytes(g, data)
	if err != nil {
		return nil, err
	}
	return all[0], nil
}

// CheckReplicas fails unless every rank holds bit-identical parameters
// (compared by checksum): data-parallel training keeps them so, and a
// checkpoint written by rank 0 then stands for every rank.
func (t *Trainer) CheckReplicas() error {
	if t.dist == nil {
		return nil
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	h := crc32.NewIEEE()
	for _, p := range t.Agent.Parameters() {
		v, err := torch.ToSlice[float32](p)
		if err != nil {
			return err
		}
		if len(v) > 0 {
			h.Write(unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v)))
		}
	}
	sum := float64(h.Sum32())
	v := []float64{sum, -sum}
	if err := t.dist.g.AllReduceFloat64(v, torch.ReduceMax); err != nil {
		return fmt.Errorf("ppo: comparing the ranks' parameters: %w", err)
	}
	if v[0] != -v[1] {
		return fmt.Errorf("ppo: the ranks' parameters differ (checksums from %d to %d, rank %d has %d): data-parallel training diverged",
			uint32(-v[1]), uint32(v[0]), t.dist.rank, uint32(sum))
	}
	return nil
}

// RestoreShared loads what a checkpoint rank 0 wrote holds for every rank:
// the networks, Adam's state, the step and iteration, the normaliser and
// the episode window. The rank's envs, seed stream and minibatch order stay
// its own, restarted from a seed that includes the iteration (rank 0's
// were checkpointed; the others' were not), so a resumed group continues
// from the same parameters but not bit for bit as an uninterrupted one.
func (t *Trainer) RestoreShared(data []byte) error {
	if t.dist == nil || t.dist.rank == 0 {
		return errors.New("ppo: RestoreShared is for ranks other than 0 (rank 0 restores its whole checkpoint)")
	}
	st, err := t.restoreNets(data)
	if err != nil {
		return err
	}
	if n := st.Normalizer; n != nil {
		// Rank 0's statistics; the running returns are of this rank's
		// envs, which start new episodes.
		n.Returns = make([]float64, t.Vec.NumEnvs)
		t.Norm = n
	}
	t.GlobalStep, t.Iteration = st.GlobalStep, st.Iteration
	t.Recent = NewEpisodeWindow(len(t.Recent.eps))
	for _, e := range st.Recent {
		t.Recent.Add(e)
	}
	seed := uint64(t.Cfg.Seed) + uint64(st.Iteration)<<32
	if err := torch.ManualSeed(seed); err != nil {
		return err
	}
	t.shuffle.Seed(seed, 0x9e3779b97f4a7c15)
	return nil
}
