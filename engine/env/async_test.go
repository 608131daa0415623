package env

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// actionTable draws steps batches of random actions for every env of v.
func actionTable(v *Vec, steps int, seed uint64) [][]float32 {
	rng := rand.New(rand.NewPCG(seed, 2))
	table := make([][]float32, steps)
	for k := range table {
		table[k] = make([]float32, v.NumEnvs*v.ActDim)
		for i := range v.NumEnvs {
			randomAction(rng, v.ActSpace, table[k][i*v.ActDim:(i+1)*v.ActDim])
		}
	}
	return table
}

func newRecord(v *Vec) vecRecord {
	n := v.NumEnvs
	return vecRecord{
		make([]float32, n*v.ObsDim), make([]float32, n), make([]float32, n*v.ObsDim),
		make([]bool, n), make([]bool, n), make([]bool, n), make([]float64, n), make([]int, n),
	}
}

// keep copies the rows lo..hi of what v reports into r.
func (r vecRecord) keep(v *Vec, lo, hi int) {
	od := v.ObsDim
	copy(r.obs[lo*od:hi*od], v.Obs[lo*od:hi*od])
	copy(r.final[lo*od:hi*od], v.FinalObs[lo*od:hi*od])
	copy(r.rewards[lo:hi], v.Rewards[lo:hi])
	copy(r.term[lo:hi], v.Terminated[lo:hi])
	copy(r.trunc[lo:hi], v.Truncated[lo:hi])
	copy(r.succ[lo:hi], v.EpisodeSuccess[lo:hi])
	copy(r.ret[lo:hi], v.EpisodeReturn[lo:hi])
	copy(r.length[lo:hi], v.EpisodeLength[lo:hi])
}

// recordLockstep steps v with the table's actions through Step.
func recordLockstep(v *Vec, table [][]float32) []vecRecord {
	recs := make([]vecRecord, len(table))
	for k, a := range table {
		v.Step(a)
		recs[k] = newRecord(v)
		recs[k].keep(v, 0, v.NumEnvs)
	}
	return recs
}

// recordAsync steps v with the table's actions group by group, double
// buffered as a trainer drives it: a group's next step is sent as soon as
// its last one is received and recorded, while the other groups step. Each
// record is read while other groups are in flight, which the race detector
// checks.
func recordAsync(v *Vec, table [][]float32) []vecRecord {
	ad := v.ActDim
	recs := make([]vecRecord, len(table))
	for k := range recs {
		recs[k] = newRecord(v)
	}
	for g := range v.NumGroups() {
		lo, hi := v.Group(g)
		v.Send(g, table[0][lo*ad:hi*ad])
	}
	for k := range table {
		for g := range v.NumGroups() {
			lo, hi := v.Group(g)
			v.Recv(g)
			recs[k].keep(v, lo, hi)
			if k+1 < len(table) {
				v.Send(g, table[k+1][lo*ad:hi*ad])
			}
		}
	}
	return recs
}

// TestAsyncMatchesLockstep: stepping group by group, in any number of
// groups and on any number of workers, reports exactly what lockstep Step
// reports for the same actions.
func TestAsyncMatchesLockstep(t *testing.T) {
	const numEnvs, steps = 10, 450
	for _, id := range IDs() {
		lock, err := NewVec(id, numEnvs, 1, 7)
		if err != nil {
			t.Fatal(err)
		}
		lock.Reset()
		table := actionTable(lock, steps, 3)
		want := recordLockstep(lock, table)
		lock.Close()
		for _, workers := range []int{1, 2, 4} {
			for _, groups := range []int{1, 2, 3, numEnvs} {
				v, err := NewVec(id, numEnvs, workers, 7)
				if err != nil {
					t.Fatal(err)
				}
				if err := v.EnableAsync(groups); err != nil {
					t.Fatal(err)
				}
				v.Reset()
				if err := sameRecords(want, recordAsync(v, table)); err != nil {
					t.Errorf("%s, %d workers, %d groups: async differs from lockstep: %v", id, workers, groups, err)
				}
				// Lockstep steps still work after an asynchronous rollout.
				v.Step(table[0])
				v.Close()
			}
		}
	}
}

// TestAsyncMarshalBetweenRollouts: the binary state written after
// asynchronous steps continues exactly, restored into a lockstep Vec.
func TestAsyncMarshalBetweenRollouts(t *testing.T) {
	v := newScriptVec(t, 6, 5, 2, 1)
	if err := v.EnableAsync(2); err != nil {
		t.Fatal(err)
	}
	v.Reset()
	recordAsync(v, actionTable(v, 13, 1))
	state, err := v.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	table := actionTable(v, 20, 2)
	want := recordAsync(v, table)
	restored := newScriptVec(t, 6, 5, 1, 99)
	if err := restored.UnmarshalBinary(state); err != nil {
		t.Fatal(err)
	}
	if err := sameRecords(want, recordLockstep(restored, table)); err != nil {
		t.Errorf("restored Vec diverges: %v", err)
	}
}

func TestAsyncDoesNotAllocate(t *testing.T) {
	v, err := NewVec("CartPole-v1", 64, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := v.EnableAsync(2); err != nil {
		t.Fatal(err)
	}
	v.Reset()
	actions := make([]float32, 64)
	for i := range actions {
		actions[i] = float32(i % 2)
	}
	step := func() {
		for g := range v.NumGroups() {
			lo, hi := v.Group(g)
			v.Send(g, actions[lo:hi])
		}
		for g := range v.NumGroups() {
			v.Recv(g)
		}
	}
	if n := testing.AllocsPerRun(200, step); n != 0 {
		t.Errorf("Send and Recv of every group allocate %v times per step", n)
	}
}

func TestAsyncMisuse(t *testing.T) {
	panics := []struct {
		name string
		use  func(v *Vec)
	}{
		{"Send before EnableAsync", func(v *Vec) { v.Reset(); v.Send(0, make([]float32, 2)) }},
		{"Send before Reset", func(v *Vec) { v.EnableAsync(2); v.Send(0, make([]float32, 2)) }},
		{"wrong action count", func(v *Vec) { v.EnableAsync(2); v.Reset(); v.Send(0, make([]float32, 3)) }},
		{"Send twice", func(v *Vec) {
			v.EnableAsync(2)
			v.Reset()
			v.Send(0, make([]float32, 2))
			v.Send(0, make([]float32, 2))
		}},
		{"Recv of a group not sent", func(v *Vec) { v.EnableAsync(2); v.Reset(); v.Recv(1) }},
		{"Step while a group steps", func(v *Vec) {
			v.EnableAsync(2)
			v.Reset()
			v.Send(1, make([]float32, 2))
			defer v.RecvAll()
			v.Step(make([]float32, 4))
		}},
		{"Reset while a group steps", func(v *Vec) {
			v.EnableAsync(2)
			v.Reset()
			v.Send(0, make([]float32, 2))
			defer v.RecvAll()
			v.Reset()
		}},
		{"Send after Close", func(v *Vec) { v.EnableAsync(2); v.Reset(); v.Close(); v.Send(0, make([]float32, 2)) }},
	}
	for _, tt := range panics {
		t.Run(tt.name, func(t *testing.T) {
			v := newScriptVec(t, 4, 0, 2, 0)
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tt.use(v)
		})
	}

	errs := []struct {
		name, want string
		use        func(v *Vec) error
	}{
		{"no groups", "groups must be in 1..4", func(v *Vec) error { return v.EnableAsync(0) }},
		{"more groups than envs", "groups must be in 1..4", func(v *Vec) error { return v.EnableAsync(5) }},
		{"enabled twice", "already enabled", func(v *Vec) error { v.EnableAsync(2); return v.EnableAsync(2) }},
		{"marshal while a group steps", "Recv it first", func(v *Vec) error {
			v.EnableAsync(2)
			v.Reset()
			v.Send(0, make([]float32, 2))
			defer v.RecvAll()
			_, err := v.MarshalBinary()
			return err
		}},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			v := newScriptVec(t, 4, 0, 2, 0)
			if err := tt.use(v); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestObserveRangeTouchesItsGroup: normalising one group's step leaves the
// other groups' rows and running returns alone and counts its rows once.
func TestObserveRangeTouchesItsGroup(t *testing.T) {
	v, err := NewVec("Pendulum-v1", 6, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	v.Reset()
	v.Step(make([]float32, 6))
	n := NewNormalizer(6, v.ObsDim, 0.99, true, true, 10, 10)
	before := slices.Clone(v.Obs)
	rewards := slices.Clone(v.Rewards)
	n.ObserveRange(v, 2, 4, true)
	od := v.ObsDim
	if !sameBits(v.Obs[:2*od], before[:2*od]) || !sameBits(v.Obs[4*od:], before[4*od:]) ||
		!sameBits(v.Rewards[:2], rewards[:2]) || !sameBits(v.Rewards[4:], rewards[4:]) {
		t.Error("rows outside 2..4 changed")
	}
	if sameBits(v.Obs[2*od:4*od], before[2*od:4*od]) {
		t.Error("rows 2..4 not normalised")
	}
	if n.Returns[0] != 0 || n.Returns[5] != 0 || n.Returns[2] == 0 {
		t.Errorf("running returns %v, want only envs 2 and 3 set", n.Returns)
	}
	if got := n.Obs.Count - 1e-4; got < 1.999 || got > 2.001 {
		t.Errorf("observation count grew by %v, want 2", got)
	}
}

// gateEnv is a scriptEnv whose steps, once armed, announce themselves on
// entered and wait for release.
type gateEnv struct {
	scriptEnv
	entered, release chan struct{}
}

func (g *gateEnv) Step(action []float32, obs []float32) Transition {
	if g.release != nil {
		g.entered <- struct{}{}
		<-g.release
	}
	return g.scriptEnv.Step(action, obs)
}

// TestAsyncCallerIsAWorker: the caller is worker 0. EnableAsync starts one
// goroutine fewer than there are workers, and while the group it receives
// waits on an env another worker is stepping, Recv steps the other groups'
// envs instead of sleeping.
func TestAsyncCallerIsAWorker(t *testing.T) {
	for _, workers := range []int{1, 2, 3} {
		if n := settleAsyncWorkers(0); n != 0 {
			t.Fatalf("%d async workers still running from earlier Vecs", n)
		}
		v := newScriptVec(t, 6, 0, workers, 0)
		if err := v.EnableAsync(2); err != nil {
			t.Fatal(err)
		}
		if n := settleAsyncWorkers(workers - 1); n != workers-1 {
			t.Errorf("%d workers: EnableAsync started %d goroutines, want %d", workers, n, workers-1)
		}
		v.Close()
	}

	slow := &gateEnv{entered: make(chan struct{}), release: make(chan struct{})}
	other := &scriptEnv{}
	v, err := NewVecFrom([]Env{slow, other}, 2, 0) // groups {0} and {1}; one worker besides the caller
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := v.EnableAsync(2); err != nil {
		t.Fatal(err)
	}
	v.Reset()
	v.Send(0, []float32{1})
	<-slow.entered // the background worker is inside env 0's step
	v.Send(1, []float32{2})
	helped := make(chan bool, 1)
	go func() {
		// Release env 0 once env 1 has stepped, or after a while, so that
		// a Recv that only sleeps fails rather than hangs.
		deadline := time.Now().Add(5 * time.Second)
		for v.async.left[1].Load() > 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		helped <- v.async.left[1].Load() == 0
		close(slow.release)
	}()
	v.Recv(0)
	if !<-helped {
		t.Error("env 1 did not step while Recv(0) waited for env 0 (the caller slept instead of stepping it)")
	}
	v.Recv(1)
	if v.Rewards[0] != 1 || v.Rewards[1] != 2 {
		t.Errorf("rewards %v, want [1 2]", v.Rewards)
	}
}

// settleAsyncWorkers counts the goroutines running Vec.asyncWork, waiting
// up to 5 s for the count to reach want: goroutines start and exit
// asynchronously, and counting all goroutines (runtime.NumGoroutine) races
// with other tests' goroutines still exiting (seen in CI: -2).
func settleAsyncWorkers(want int) int {
	deadline := time.Now().Add(5 * time.Second)
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n == len(buf) {
			buf = make([]byte, 2*len(buf))
			continue
		}
		got := strings.Count(string(buf[:n]), ").asyncWork(")
		if got == want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(time.Millisecond)
	}
}
