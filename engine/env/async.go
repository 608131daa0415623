package env

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// The asynchronous mode of a Vec, EnvPool-style double buffering.
//
// Lockstep stepping (Step) loses time in two places: every worker waits at
// the end of a step for the slowest shard (a CLEVR-Robot push costs 0.5 ms
// at the median and over 3 ms at the 99th percentile, when a reset settles
// the scene), and the policy's forward pass runs while no env steps. In the
// asynchronous mode the envs are split into groups (fixed contiguous ranges)
// and the caller drives each group on its own: Send hands a group's actions
// to the workers and returns at once, Recv waits for that group's results.
// While one group steps, the caller runs the policy on another, and a worker
// that finishes its part of one group goes on to the next group queued, so
// no core waits for a straggler while work is left.
//
// Within a group the workers take envs one at a time from a shared counter,
// so that a slow env does not hold back a fixed shard. As in lockstep, the
// caller is one of the workers: Recv(g) steps envs of group g that no
// worker has taken yet, then, while g's last envs finish elsewhere, envs of
// the other groups in flight, one at a time, and blocks only when no env is
// left to take. So num_workers goroutines step envs, as many as lockstep's
// and as many as cores, and neither the caller nor a worker sleeps and
// wakes at every group: on a shared machine a thread that sleeps loses its
// core and its caches to other jobs, and the same MuJoCo steps then cost
// more CPU (bench/results/vec3.md). With one worker there is no background
// goroutine: each group steps in its Recv.
//
// Which worker steps which env changes from run to run; the results do
// not: each env's transition depends only on its own state and action and
// is written into its own rows, so a rollout is the same for any number of
// workers and any scheduling. The groups are fixed ranges, so a caller that runs its policy
// group by group in a fixed order sees the same batches every run.
type asyncState struct {
	bounds []int // group g is envs bounds[g]..bounds[g+1]
	// req[k] queues group numbers for background worker k (the workers
	// besides the caller); its buffer holds one entry per group, so Send
	// never blocks (a group is sent at most once before its Recv).
	req []chan int
	// Per group: the next env to take (counted from the group's first),
	// the envs not yet stepped to the end, the actions of its step in
	// flight, and the background workers still on it.
	next  []atomic.Int64
	left  []atomic.Int64
	acts  [][]float32
	wg    []sync.WaitGroup
	going []bool // sent and not yet received; owned by the caller
}

// EnableAsync splits the envs into groups contiguous ranges of nearly equal
// size and starts a goroutine for each worker but the caller to step them;
// after it, Send and Recv step a group at a time. Reset, Step and the
// binary state remain available while no group is in flight. It returns an
// error if groups is not in 1..NumEnvs or the mode is already enabled.
func (v *Vec) EnableAsync(groups int) error {
	if v.closed {
		return fmt.Errorf("env: Vec.EnableAsync after Close")
	}
	if v.async != nil {
		return fmt.Errorf("env: Vec.EnableAsync: already enabled with %d groups", len(v.async.going))
	}
	if groups < 1 || groups > v.NumEnvs {
		return fmt.Errorf("env: Vec.EnableAsync(%d): groups must be in 1..%d (the number of envs)", groups, v.NumEnvs)
	}
	a := &asyncState{
		bounds: make([]int, groups+1),
		req:    make([]chan int, len(v.wake)), // the caller is worker 0, as in lockstep
		next:   make([]atomic.Int64, groups),
		left:   make([]atomic.Int64, groups),
		acts:   make([][]float32, groups),
		wg:     make([]sync.WaitGroup, groups),
		going:  make([]bool, groups),
	}
	for g := range a.bounds {
		a.bounds[g] = g * v.NumEnvs / groups
	}
	for k := range a.req {
		c := make(chan int, groups)
		a.req[k] = c
		go v.asyncWork(a, c)
	}
	v.async = a
	return nil
}

// asyncWork steps the envs of each group received on c, taking them one
// at a time from the group's counter, until c is closed.
func (v *Vec) asyncWork(a *asyncState, c <-chan int) {
	for g := range c {
		for v.stepOne(a, g) {
		}
		a.wg[g].Done()
	}
}

// stepOne takes the next env of group g that no worker has taken and steps
// it; it returns false when none is left.
func (v *Vec) stepOne(a *asyncState, g int) bool {
	lo, hi := a.bounds[g], a.bounds[g+1]
	i := lo + int(a.next[g].Add(1)) - 1
	if i >= hi {
		return false
	}
	ad := v.ActDim
	v.stepEnv(i, a.acts[g][(i-lo)*ad:(i-lo+1)*ad])
	a.left[g].Add(-1)
	return true
}

// NumGroups is the number of groups of the asynchronous mode; 0 before
// EnableAsync.
func (v *Vec) NumGroups() int {
	if v.async == nil {
		return 0
	}
	return len(v.async.going)
}

// Group returns the envs lo..hi (hi excluded) of group g.
func (v *Vec) Group(g int) (lo, hi int) {
	return v.async.bounds[g], v.async.bounds[g+1]
}

// Send starts one Step of group g's envs with actions [(hi-lo)*ActDim]
// (env lo's first) on the workers and returns without waiting. Until the
// matching Recv(g), the group's rows of Obs, Rewards, Terminated,
// Truncated, FinalObs and the Episode slices, its envs (Env) and actions
// belong to the workers: the caller must neither read nor write them, but
// it may use every other group's rows. Send panics before Reset, before
// EnableAsync, with the wrong number of actions, or when group g is
// already in flight.
func (v *Vec) Send(g int, actions []float32) {
	a := v.async
	switch {
	case v.closed:
		panic("env: Vec used after Close")
	case a == nil:
		panic("env: Vec.Send before EnableAsync")
	case !v.ready:
		panic("env: Vec.Send called before Reset")
	case a.going[g]:
		panic(fmt.Sprintf("env: Vec.Send(%d): the group is already stepping; Recv it first", g))
	}
	lo, hi := a.bounds[g], a.bounds[g+1]
	if len(actions) != (hi-lo)*v.ActDim {
		panic(fmt.Sprintf("env: Vec.Send(%d): %d actions, want %d", g, len(actions), (hi-lo)*v.ActDim))
	}
	a.going[g] = true
	a.acts[g] = actions
	a.next[g].Store(0)
	a.left[g].Store(int64(hi - lo))
	a.wg[g].Add(len(a.req))
	for _, c := range a.req {
		c <- g
	}
}

// Recv returns when the step of group g started by Send has finished; then
// the group's rows hold its results, as after Step. Meanwhile the caller
// works as a worker: it steps the envs of g that are not taken yet, then,
// while other workers finish g's last envs, envs of the other groups in
// flight (so it may return up to one env step after g is done, but the
// core stays busy), and it blocks only when no env is left to take. It panics if
// group g is not in flight.
func (v *Vec) Recv(g int) {
	a := v.async
	if a == nil || !a.going[g] {
		panic(fmt.Sprintf("env: Vec.Recv(%d): the group was not sent", g))
	}
	for v.stepOne(a, g) {
	}
	for n := len(a.going); a.left[g].Load() > 0; {
		stepped := false
		for k := 1; k < n && !stepped; k++ {
			if h := (g + k) % n; a.going[h] {
				stepped = v.stepOne(a, h)
			}
		}
		if !stepped {
			break
		}
	}
	a.wg[g].Wait()
	a.going[g] = false
	a.acts[g] = nil // do not keep the caller's buffer alive
}

// RecvAll waits for every group in flight, e.g. before returning early
// from a rollout, so that the Vec can be stepped, reset or checkpointed
// again.
func (v *Vec) RecvAll() {
	if v.async == nil {
		return
	}
	for g, going := range v.async.going {
		if going {
			v.Recv(g)
		}
	}
}

// busyGroup returns a group in flight, or -1.
func (v *Vec) busyGroup() int {
	if v.async == nil {
		return -1
	}
	for g, going := range v.async.going {
		if going {
			return g
		}
	}
	return -1
}

// checkIdle panics when a group is in flight: what the caller was about to
// do would race with the workers.
func (v *Vec) checkIdle(what string) {
	if g := v.busyGroup(); g >= 0 {
		panic(fmt.Sprintf("env: Vec %s while group %d is stepping; Recv it first", what, g))
	}
}
