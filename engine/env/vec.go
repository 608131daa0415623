package env

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// Vec steps NumEnvs instances of one environment in parallel, applies the
// time limit of their Spec and resets finished episodes in the same step.
//
// The envs are split into contiguous shards, one per worker. The goroutine
// calling Step is worker 0 and persistent goroutines are the others, so a
// step costs one wake-up per extra worker and allocates nothing. A worker
// steps its own shard, then takes envs not yet taken from the other
// shards, one at a time, so that a slow env (a CLEVR reset settles the
// scene for several pushes' time) does not leave the other cores waiting
// at the end of the step while envs are left; the envs stay on their
// shard's worker otherwise, with their memory in its core's caches. The
// exported slices are owned by the Vec and overwritten by every Reset and
// Step; a Vec is not safe for concurrent use.
//
// After EnableAsync, Send and Recv also step the envs a group at a time
// without waiting, so that the caller can run its policy on one group
// while the others step (async.go); Step and Reset stay available between
// such steps.
type Vec struct {
	// NumEnvs is the number of envs; ObsDim and ActDim are the number of
	// float32 values in one env's observation and action.
	NumEnvs, ObsDim, ActDim int
	// ObsSpace, ActSpace and Spec are those shared by the envs.
	ObsSpace, ActSpace Space
	Spec               Spec

	// Obs [NumEnvs*ObsDim] is the observation to act on next: where an
	// episode ended at the last step, it is already the first observation
	// of the next one.
	Obs []float32
	// Rewards [NumEnvs] are the rewards of the last step.
	Rewards []float32
	// Terminated [NumEnvs] marks episodes that reached a terminal state
	// at the last step.
	Terminated []bool
	// Truncated [NumEnvs] marks episodes that hit the time limit at the
	// last step without terminating.
	Truncated []bool
	// FinalObs [NumEnvs*ObsDim] holds the last observation of the episode
	// that ended at the last step, where Terminated or Truncated; it is
	// what a truncated episode bootstraps from.
	FinalObs []float32

	// The episode that ended at the last step, where Terminated or
	// Truncated: its undiscounted return, its length in steps and whether
	// the env reported success at any of its steps.
	EpisodeReturn  []float64
	EpisodeLength  []int
	EpisodeSuccess []bool
	// EpisodeLevel is the task level of that episode, for envs that
	// implement [Leveled]; "" for the others.
	EpisodeLevel []string

	envs    []Env
	leveled []Leveled // envs[i] as a Leveled, or nil
	// Counters of the running episode of each env.
	elapsed    []int
	runReturn  []float64
	runSuccess []bool

	// Work handed to the workers: op, and for opStep the actions.
	op      vecOp
	actions []float32
	// bounds[k]..bounds[k+1] is the shard of worker k, and taken[k]
	// counts its envs taken so far in this step. wake[k-1] wakes worker k,
	// for k >= 1; worker 0 is the caller.
	bounds []int
	taken  []paddedCounter
	wake   []chan struct{}
	wg     sync.WaitGroup

	// async is the state of the asynchronous mode (async.go); nil until
	// EnableAsync.
	async *asyncState

	ready  bool // Reset has been called
	closed bool
}

// paddedCounter is a counter on a cache line of its own, so that a worker
// counting its shard's envs does not slow the others down.
type paddedCounter struct {
	atomic.Int64
	_ [56]byte
}

type vecOp int

const (
	opReset vecOp = iota
	opStep
)

// NewVec makes numEnvs instances of the environment registered under id
// and returns a Vec over them; see [NewVecFrom].
func NewVec(id string, numEnvs, workers int, seed uint64) (*Vec, error) {
	if numEnvs < 1 {
		return nil, fmt.Errorf("env: NewVec(%q): numEnvs %d < 1", id, numEnvs)
	}
	envs := make([]Env, numEnvs)
	for i := range envs {
		e, err := Make(id)
		if err != nil {
			return nil, err
		}
		envs[i] = e
	}
	return NewVecFrom(envs, workers, seed)
}

// NewVecFrom returns a Vec over envs, which must share their spec and
// spaces, with observations in a Box. It seeds env i with seed+i, as
// Gymnasium seeds the envs of a vector env, and starts the workers:
// runtime.NumCPU() of them if workers <= 0, and at most one per env.
// Call Reset before the first Step, and Close when done.
func NewVecFrom(envs []Env, workers int, seed uint64) (*Vec, error) {
	if len(envs) == 0 {
		return nil, errors.New("env: NewVecFrom: no envs")
	}
	spec, obsSpace, actSpace := envs[0].Spec(), envs[0].ObservationSpace(), envs[0].ActionSpace()
	if obsSpace.Kind != BoxKind {
		return nil, fmt.Errorf("env: %s: observation space %v is not a Box", spec.ID, obsSpace)
	}
	for i, e := range envs[1:] {
		if e.Spec() != spec || !e.ObservationSpace().Equal(obsSpace) || !e.ActionSpace().Equal(actSpace) {
			return nil, fmt.Errorf("env: NewVecFrom: env %d (%s, obs %v, action %v) differs from env 0 (%s, obs %v, action %v)",
				i+1, e.Spec().ID, e.ObservationSpace(), e.ActionSpace(), spec.ID, obsSpace, actSpace)
		}
	}

	n, obsDim, actDim := len(envs), obsSpace.Dim(), actSpace.Dim()
	v := &Vec{
		NumEnvs: n, ObsDim: obsDim, ActDim: actDim,
		ObsSpace: obsSpace, ActSpace: actSpace, Spec: spec,
		Obs:            make([]float32, n*obsDim),
		Rewards:        make([]float32, n),
		Terminated:     make([]bool, n),
		Truncated:      make([]bool, n),
		FinalObs:       make([]float32, n*obsDim),
		EpisodeReturn:  make([]float64, n),
		EpisodeLength:  make([]int, n),
		EpisodeSuccess: make([]bool, n),
		EpisodeLevel:   make([]string, n),
		envs:           append([]Env(nil), envs...),
		leveled:        make([]Leveled, n),
		elapsed:        make([]int, n),
		runReturn:      make([]float64, n),
		runSuccess:     make([]bool, n),
	}
	for i, e := range v.envs {
		e.Seed(seed + uint64(i))
		v.leveled[i], _ = e.(Leveled)
	}

	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	workers = min(workers, n)
	v.bounds = make([]int, workers+1)
	for k := range v.bounds {
		v.bounds[k] = k * n / workers
	}
	v.taken = make([]paddedCounter, workers)
	v.wake = make([]chan struct{}, workers-1)
	for k := range v.wake {
		// A buffer of one lets the caller wake every worker without
		// waiting for each to be scheduled.
		c := make(chan struct{}, 1)
		v.wake[k] = c
		go v.work(c, k+1)
	}
	return v, nil
}

// work runs worker k's part of the op each time it is woken, until c is
// closed.
func (v *Vec) work(c <-chan struct{}, k int) {
	for range c {
		v.run(k)
		v.wg.Done()
	}
}

// dispatch runs op over every shard and waits for all of them.
func (v *Vec) dispatch(op vecOp) {
	if v.closed {
		panic("env: Vec used after Close")
	}
	v.checkIdle("Reset or Step")
	v.op = op
	for k := range v.taken {
		v.taken[k].Store(0)
	}
	v.wg.Add(len(v.wake))
	for _, c := range v.wake {
		c <- struct{}{}
	}
	v.run(0)
	v.wg.Wait()
}

// run is worker k's part of the op: the envs of its own shard, then those
// of the other shards that their workers have not taken yet.
func (v *Vec) run(k int) {
	w := len(v.taken)
	if w == 1 { // nobody to share with: no counting
		for i := range v.NumEnvs {
			v.runEnv(i)
		}
		return
	}
	for j := range w {
		s := (k + j) % w
		lo, hi := v.bounds[s], v.bounds[s+1]
		for {
			i := lo + int(v.taken[s].Add(1)) - 1
			if i >= hi {
				break
			}
			v.runEnv(i)
		}
	}
}

// runEnv applies the op to env i.
func (v *Vec) runEnv(i int) {
	switch v.op {
	case opReset:
		v.resetEnv(i)
	case opStep:
		ad := v.ActDim
		v.stepEnv(i, v.actions[i*ad:(i+1)*ad])
	}
}

// Reset starts a new episode in every env, fills Obs and clears the
// episode counters and the results of the last step.
func (v *Vec) Reset() {
	v.dispatch(opReset)
	v.ready = true
}

func (v *Vec) resetEnv(i int) {
	v.envs[i].Reset(v.Obs[i*v.ObsDim : (i+1)*v.ObsDim])
	v.elapsed[i], v.runReturn[i], v.runSuccess[i] = 0, 0, false
	v.Rewards[i], v.Terminated[i], v.Truncated[i] = 0, false, false
	v.EpisodeReturn[i], v.EpisodeLength[i], v.EpisodeSuccess[i] = 0, 0, false
	v.EpisodeLevel[i] = ""
}

// Step applies actions [NumEnvs*ActDim] to every env. Where an episode
// ends, by termination or by reaching Spec.MaxEpisodeSteps, it records
// the final observation and the episode's statistics and resets the env,
// so that Obs is always the observation to act on next. Step panics if
// it is called before Reset or with the wrong number of actions.
func (v *Vec) Step(actions []float32) {
	if !v.ready {
		panic("env: Vec.Step called before Reset")
	}
	if len(actions) != v.NumEnvs*v.ActDim {
		panic(fmt.Sprintf("env: Vec.Step: %d actions, want %d", len(actions), v.NumEnvs*v.ActDim))
	}
	v.actions = actions
	v.dispatch(opStep)
	v.actions = nil // do not keep the caller's buffer alive
}

// stepEnv steps env i with action and records the results in its rows.
func (v *Vec) stepEnv(i int, action []float32) {
	obs := v.Obs[i*v.ObsDim : (i+1)*v.ObsDim]
	tr := v.envs[i].Step(action, obs)
	v.elapsed[i]++
	v.runReturn[i] += tr.Reward
	v.runSuccess[i] = v.runSuccess[i] || tr.Success

	truncated := !tr.Terminated && v.Spec.MaxEpisodeSteps > 0 && v.elapsed[i] >= v.Spec.MaxEpisodeSteps
	v.Rewards[i] = float32(tr.Reward)
	v.Terminated[i], v.Truncated[i] = tr.Terminated, truncated
	if !tr.Terminated && !truncated {
		return
	}
	copy(v.FinalObs[i*v.ObsDim:(i+1)*v.ObsDim], obs)
	v.EpisodeReturn[i], v.EpisodeLength[i], v.EpisodeSuccess[i] = v.runReturn[i], v.elapsed[i], v.runSuccess[i]
	if l := v.leveled[i]; l != nil {
		v.EpisodeLevel[i] = l.EpisodeLevel() // before Reset draws the next episode's level
	}
	v.elapsed[i], v.runReturn[i], v.runSuccess[i] = 0, 0, false
	v.envs[i].Reset(obs)
}

// Env returns env i, for inspection or for its expert. Stepping it
// directly desynchronises it from the Vec's episode counters.
func (v *Vec) Env(i int) Env { return v.envs[i] }

// Close stops the workers. The Vec must not be reset or stepped after.
// Close is idempotent.
func (v *Vec) Close() {
	if v.closed {
		return
	}
	v.closed = true
	for _, c := range v.wake {
		close(c)
	}
	if v.async != nil {
		for _, c := range v.async.req {
			close(c)
		}
	}
}

const vecStateTag = "Vec/1"

// MarshalBinary encodes the state of every env, the counters of every
// running episode and Obs, so that a Vec restored with UnmarshalBinary
// continues bit-exactly. The results of the last step (Rewards,
// FinalObs, ...) are not included: they were consumed before
// checkpointing.
func (v *Vec) MarshalBinary() ([]byte, error) {
	if g := v.busyGroup(); g >= 0 {
		return nil, fmt.Errorf("env: Vec.MarshalBinary while group %d is stepping; Recv it first", g)
	}
	var e Encoder
	e.String(vecStateTag)
	e.String(v.Spec.ID)
	e.Int(v.NumEnvs)
	e.Int(v.ObsDim)
	e.Int(v.ActDim)
	e.Bool(v.ready)
	for i, env := range v.envs {
		b, err := env.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("env: Vec env %d: %w", i, err)
		}
		e.Bytes(b)
		e.Int(v.elapsed[i])
		e.Float64(v.runReturn[i])
		e.Bool(v.runSuccess[i])
	}
	for _, x := range v.Obs {
		e.Float32(x)
	}
	return e.buf, nil
}

// UnmarshalBinary restores a state written by MarshalBinary into a Vec
// over the same environment with the same NumEnvs; the number of workers
// may differ. On error the Vec is left unchanged.
func (v *Vec) UnmarshalBinary(data []byte) error {
	if g := v.busyGroup(); g >= 0 {
		return fmt.Errorf("env: Vec.UnmarshalBinary while group %d is stepping; Recv it first", g)
	}
	d := NewDecoder(data)
	d.Tag(vecStateTag)
	id, n, obsDim, actDim := string(d.Bytes()), d.Int(), d.Int(), d.Int()
	if d.err == nil && (id != v.Spec.ID || n != v.NumEnvs || obsDim != v.ObsDim || actDim != v.ActDim) {
		return fmt.Errorf("env: Vec state of %d %s envs (obs %d, action %d), want %d %s envs (obs %d, action %d)",
			n, id, obsDim, actDim, v.NumEnvs, v.Spec.ID, v.ObsDim, v.ActDim)
	}
	ready := d.Bool()
	states := make([][]byte, v.NumEnvs)
	elapsed := make([]int, v.NumEnvs)
	runReturn := make([]float64, v.NumEnvs)
	runSuccess := make([]bool, v.NumEnvs)
	for i := range states {
		states[i] = d.Bytes()
		elapsed[i], runReturn[i], runSuccess[i] = d.Int(), d.Float64(), d.Bool()
	}
	obs := make([]float32, len(v.Obs))
	for i := range obs {
		obs[i] = d.Float32()
	}
	if err := d.Done(); err != nil {
		return err
	}

	// Keep the current env states to roll back to if one of the new ones
	// does not decode, so that an error leaves the Vec as it was.
	old := make([][]byte, v.NumEnvs)
	for i, env := range v.envs {
		b, err := env.MarshalBinary()
		if err != nil {
			return fmt.Errorf("env: Vec env %d: %w", i, err)
		}
		old[i] = b
	}
	for i, env := range v.envs {
		if err := env.UnmarshalBinary(states[i]); err != nil {
			for j := range i {
				// These states were marshalled from these very envs a
				// moment ago, so restoring them cannot fail.
				_ = v.envs[j].UnmarshalBinary(old[j])
			}
			return fmt.Errorf("env: Vec env %d: %w", i, err)
		}
	}
	v.ready = ready
	copy(v.elapsed, elapsed)
	copy(v.runReturn, runReturn)
	copy(v.runSuccess, runSuccess)
	copy(v.Obs, obs)
	return nil
}
