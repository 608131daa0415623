package env

import "math"

// RunningMeanStd tracks the mean and variance of a stream of vectors,
// merging batch after batch with the parallel algorithm of Chan et al.,
// as Gymnasium's RunningMeanStd does. It starts, as Gymnasium's, from mean
// 0, variance 1 and a count of 1e-4, a prior that keeps the first
// normalisations finite and is soon outweighed by the data.
type RunningMeanStd struct {
	Mean, Var []float64
	Count     float64

	// Scratch space for the moments of a batch, so that Update does not
	// allocate.
	batchMean, batchVar []float64
}

// NewRunningMeanStd returns the statistics of dim-dimensional vectors.
func NewRunningMeanStd(dim int) *RunningMeanStd {
	r := &RunningMeanStd{Mean: make([]float64, dim), Var: make([]float64, dim), Count: 1e-4}
	for i := range r.Var {
		r.Var[i] = 1
	}
	return r
}

// Update merges n rows of len(r.Mean) values each, stored row after row
// in batch.
func (r *RunningMeanStd) Update(batch []float32, n int) { updateStats(r, batch, n) }

// updateStats is Update for float32 observations and float64 returns alike.
// The moments of the batch are computed in float64 with two passes, which
// is exact enough for any batch a training run makes.
func updateStats[T float32 | float64](r *RunningMeanStd, batch []T, n int) {
	dim := len(r.Mean)
	if n == 0 {
		return
	}
	if len(r.batchMean) != dim {
		// After decoding from JSON, which skips unexported fields.
		r.batchMean, r.batchVar = make([]float64, dim), make([]float64, dim)
	}
	m, s := r.batchMean, r.batchVar
	clear(m)
	clear(s)
	batch = batch[:n*dim]
	for row := 0; row < len(batch); row += dim {
		for j, x := range batch[row : row+dim] {
			m[j] += float64(x)
		}
	}
	for j := range m {
		m[j] /= float64(n)
	}
	for row := 0; row < len(batch); row += dim {
		for j, x := range batch[row : row+dim] {
			d := float64(x) - m[j]
			s[j] += d * d
		}
	}

	count := float64(n)
	total := r.Count + count
	for j := range m {
		delta := m[j] - r.Mean[j]
		m2 := r.Var[j]*r.Count + s[j] + delta*delta*r.Count*count/total
		r.Mean[j] += delta * count / total
		r.Var[j] = m2 / total
	}
	r.Count = total
}

// Normalizer normalises the observations and scales the rewards of a
// [Vec], as CleanRL's continuous-action PPO does with Gymnasium's
// NormalizeObservation and NormalizeReward wrappers followed by clipping,
// but with statistics shared by the whole batch, like SB3's VecNormalize.
// Its fields are exported so that it can be checkpointed as JSON.
type Normalizer struct {
	// Obs holds the statistics of the raw observations.
	Obs *RunningMeanStd
	// Ret holds the statistics of the discounted returns; rewards are
	// divided by their standard deviation, not centred.
	Ret *RunningMeanStd
	// Returns [numEnvs] are the running discounted returns of the
	// current episodes.
	Returns []float64

	// Gamma discounts Returns; Epsilon keeps the divisions finite.
	Gamma, Epsilon float64
	// ClipObs and ClipReward bound the normalised observations and the
	// scaled rewards to ±ClipObs and ±ClipReward; 0 means no bound.
	ClipObs, ClipReward float64
	// NormObs and NormReward switch the two normalisations on.
	NormObs, NormReward bool
}

// NewNormalizer returns a Normalizer for numEnvs envs with obsDim
// observations, discounting returns by gamma, with Gymnasium's epsilon of
// 1e-8. Normalised observations are clipped to ±clipObs and scaled
// rewards to ±clipReward, where these are positive; CleanRL uses 10 for
// both.
func NewNormalizer(numEnvs, obsDim int, gamma float64, normObs, normReward bool, clipObs, clipReward float64) *Normalizer {
	return &Normalizer{
		Obs:        NewRunningMeanStd(obsDim),
		Ret:        NewRunningMeanStd(1),
		Returns:    make([]float64, numEnvs),
		Gamma:      gamma,
		Epsilon:    1e-8,
		ClipObs:    clipObs,
		ClipReward: clipReward,
		NormObs:    normObs,
		NormReward: normReward,
	}
}

// ObserveReset is ObserveStep for the observations right after v.Reset:
// it updates the observation statistics if update is set, normalises
// v.Obs in place and clears the running returns.
func (n *Normalizer) ObserveReset(v *Vec, update bool) {
	if n.NormObs {
		if update {
			n.Obs.Update(v.Obs, v.NumEnvs)
		}
		n.NormalizeObs(v.Obs, v.NumEnvs)
	}
	clear(n.Returns)
}

// ObserveStep normalises the results of v.Step in place. It updates the
// observation statistics with v.Obs if update is set, and normalises
// v.Obs and, where an episode ended, v.FinalObs with them. It adds the
// rewards to the discounted returns, updates the return statistics with
// them if update is set, and divides v.Rewards by their standard
// deviation before clipping. The returns of episodes that ended are then
// reset.
//
// Returns are reset after the step that ends an episode, as in SB3's
// VecNormalize; Gymnasium's NormalizeReward instead zeroes them before
// adding the reward of a terminal step and never on truncation, which
// lets the end of one episode leak into the scale of the next.
func (n *Normalizer) ObserveStep(v *Vec, update bool) { n.ObserveRange(v, 0, v.NumEnvs, update) }

// ObserveRange is ObserveStep for the envs lo..hi (hi excluded) alone: the
// group of an asynchronous Vec that has just been received (Vec.Recv). The
// statistics are updated with that group's rows only, so a Vec stepped
// group by group updates them once per group and step.
func (n *Normalizer) ObserveRange(v *Vec, lo, hi int, update bool) {
	od := v.ObsDim
	if n.NormObs {
		obs := v.Obs[lo*od : hi*od]
		if update {
			n.Obs.Update(obs, hi-lo)
		}
		n.NormalizeObs(obs, hi-lo)
		for i := lo; i < hi; i++ {
			if v.Terminated[i] || v.Truncated[i] {
				n.NormalizeObs(v.FinalObs[i*od:(i+1)*od], 1)
			}
		}
	}
	if !n.NormReward {
		return
	}
	for i := lo; i < hi; i++ {
		n.Returns[i] = n.Returns[i]*n.Gamma + float64(v.Rewards[i])
	}
	if update {
		updateStats(n.Ret, n.Returns[lo:hi], hi-lo)
	}
	scale := 1 / math.Sqrt(n.Ret.Var[0]+n.Epsilon)
	for i := lo; i < hi; i++ {
		v.Rewards[i] = float32(clip(float64(v.Rewards[i])*scale, n.ClipReward))
		if v.Terminated[i] || v.Truncated[i] {
			n.Returns[i] = 0
		}
	}
}

// NormalizeObs normalises rows observations in place with the current
// statistics, without updating them, for evaluation. It does nothing if
// NormObs is false.
func (n *Normalizer) NormalizeObs(obs []float32, rows int) {
	if !n.NormObs {
		return
	}
	dim := len(n.Obs.Mean)
	obs = obs[:rows*dim]
	for row := 0; row < len(obs); row += dim {
		for j := range dim {
			x := (float64(obs[row+j]) - n.Obs.Mean[j]) / math.Sqrt(n.Obs.Var[j]+n.Epsilon)
			obs[row+j] = float32(clip(x, n.ClipObs))
		}
	}
}

// clip limits x to [-c, c]; c <= 0 means no limit.
func clip(x, c float64) float64 {
	if c <= 0 {
		return x
	}
	return min(max(x, -c), c)
}
