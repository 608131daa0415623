package env

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// scriptEnv is a transparent env for testing Vec: its observation is
// [episode, step], where episode counts resets from 1000*seed, and its
// reward is the action. Action -1 terminates and action 7 succeeds.
type scriptEnv struct {
	maxSteps       int
	episode, steps int
}

func (s *scriptEnv) Spec() Spec {
	return Spec{ID: "Script-v0", MaxEpisodeSteps: s.maxSteps, HasSuccess: true}
}
func (s *scriptEnv) ObservationSpace() Space { return Box([]float32{0, 0}, []float32{1e9, 1e9}) }
func (s *scriptEnv) ActionSpace() Space      { return Box([]float32{-1}, []float32{7}) }
func (s *scriptEnv) Seed(seed uint64)        { s.episode = 1000*int(seed) - 1 }

func (s *scriptEnv) Reset(obs []float32) {
	s.episode++
	s.steps = 0
	obs[0], obs[1] = float32(s.episode), 0
}

func (s *scriptEnv) Step(action []float32, obs []float32) Transition {
	s.steps++
	obs[0], obs[1] = float32(s.episode), float32(s.steps)
	return Transition{Reward: float64(action[0]), Terminated: action[0] == -1, Success: action[0] == 7}
}

func (s *scriptEnv) MarshalBinary() ([]byte, error) {
	return fmt.Appendf(nil, "%d %d", s.episode, s.steps), nil
}

func (s *scriptEnv) UnmarshalBinary(b []byte) error {
	_, err := fmt.Sscanf(string(b), "%d %d", &s.episode, &s.steps)
	return err
}

func newScriptVec(t *testing.T, numEnvs, maxSteps, workers int, seed uint64) *Vec {
	t.Helper()
	envs := make([]Env, numEnvs)
	for i := range envs {
		envs[i] = &scriptEnv{maxSteps: maxSteps}
	}
	v, err := NewVecFrom(envs, workers, seed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

func TestVecEpisodes(t *testing.T) {
	// Env 0 terminates on its 3rd step, env 1 is truncated by the time
	// limit of 5 after succeeding on its 2nd step, env 2 terminates on its
	// 1st step and then carries on.
	v := newScriptVec(t, 3, 5, 2, 0)
	v.Reset()
	if want := []float32{0, 0, 1000, 0, 2000, 0}; !slices.Equal(v.Obs, want) {
		t.Fatalf("Obs after Reset = %v, want %v (env i seeded with seed+i)", v.Obs, want)
	}
	script := [][]float32{{1, 1, -1}, {1, 7, 0}, {-1, 1, 0}, {1, 1, 0}, {1, 1, 0}}
	for i, actions := range script {
		v.Step(actions)
		if !slices.Equal(v.Rewards, actions) {
			t.Errorf("step %d: Rewards = %v, want %v", i+1, v.Rewards, actions)
		}
	}

	type result struct {
		term, trunc   bool
		ret           float64
		length        int
		success       bool
		final, obsNow []float32
	}
	got := func(i int) result {
		return result{v.Terminated[i], v.Truncated[i], v.EpisodeReturn[i], v.EpisodeLength[i], v.EpisodeSuccess[i],
			v.FinalObs[2*i : 2*i+2], v.Obs[2*i : 2*i+2]}
	}
	// Env 0 ended at step 3; at step 5 it is two steps into episode 1.
	if r := got(0); r.term || r.trunc || !slices.Equal(r.obsNow, []float32{1, 2}) {
		t.Errorf("env 0 at step 5: %+v", r)
	}
	if r := got(1); r.term || !r.trunc || r.ret != 11 || r.length != 5 || !r.success ||
		!slices.Equal(r.final, []float32{1000, 5}) || !slices.Equal(r.obsNow, []float32{1001, 0}) {
		t.Errorf("env 1, truncated at step 5: %+v", r)
	}
	if r := got(2); r.term || r.trunc || !slices.Equal(r.obsNow, []float32{2001, 4}) {
		t.Errorf("env 2 at step 5: %+v", r)
	}

	// Replay to catch env 0's termination at step 3.
	v.Reset()
	v.Step(script[0])
	v.Step(script[1])
	v.Step(script[2])
	if r := got(0); !r.term || r.trunc || r.ret != 1 || r.length != 3 || r.success ||
		!slices.Equal(r.final, []float32{2, 3}) || !slices.Equal(r.obsNow, []float32{3, 0}) {
		t.Errorf("env 0, terminated at step 3: %+v", r)
	}
}

func TestVecTerminationBeatsTimeLimit(t *testing.T) {
	v := newScriptVec(t, 1, 2, 1, 0)
	v.Reset()
	v.Step([]float32{1})
	v.Step([]float32{-1})
	if !v.Terminated[0] || v.Truncated[0] {
		t.Errorf("terminating on the time limit step: Terminated %v, Truncated %v; want only Terminated",
			v.Terminated[0], v.Truncated[0])
	}
}

func TestVecCartPoleTimeLimit(t *testing.T) {
	const seed = 4
	v, err := NewVec("CartPole-v1", 1, 1, seed)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	v.Reset()

	// A shadow env with the same seed, stepped alongside, gives the
	// observations the Vec must report.
	shadow := NewCartPole()
	shadow.Seed(seed)
	obs := make([]float32, 4)
	shadow.Reset(obs)
	act := make([]float32, 1)
	for i := 1; i <= 500; i++ {
		if !slices.Equal(v.Obs, obs) {
			t.Fatalf("step %d: Obs %v, want %v", i, v.Obs, obs)
		}
		shadow.ExpertAction(act)
		if tr := shadow.Step(act, obs); tr.Terminated {
			t.Fatalf("expert fell at step %d of seed %d", i, seed)
		}
		v.Step(act)
		if v.Truncated[0] != (i == 500) || v.Terminated[0] {
			t.Fatalf("step %d: Truncated %v, Terminated %v", i, v.Truncated[0], v.Terminated[0])
		}
	}
	if !slices.Equal(v.FinalObs, obs) {
		t.Errorf("FinalObs = %v, want the 500th observation %v", v.FinalObs, obs)
	}
	shadow.Reset(obs)
	if !slices.Equal(v.Obs, obs) {
		t.Errorf("Obs = %v, want the reset observation %v", v.Obs, obs)
	}
	if v.EpisodeReturn[0] != 500 || v.EpisodeLength[0] != 500 || !v.EpisodeSuccess[0] || v.Rewards[0] != 1 {
		t.Errorf("episode return %v, length %d, success %v, reward %v; want 500, 500, true, 1",
			v.EpisodeReturn[0], v.EpisodeLength[0], v.EpisodeSuccess[0], v.Rewards[0])
	}
}

func TestVecPendulumTimeLimit(t *testing.T) {
	v, err := NewVec("Pendulum-v1", 4, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	v.Reset()
	actions := make([]float32, 4)
	for i := 1; i <= 400; i++ {
		v.Step(actions)
		for e := range 4 {
			if v.Truncated[e] != (i%200 == 0) || v.Terminated[e] {
				t.Fatalf("step %d env %d: Truncated %v, Terminated %v", i, e, v.Truncated[e], v.Terminated[e])
			}
		}
	}
	if v.EpisodeLength[0] != 200 {
		t.Errorf("EpisodeLength = %d, want 200", v.EpisodeLength[0])
	}
}

func TestVecSeeds(t *testing.T) {
	for _, id := range IDs() {
		v, err := NewVec(id, 5, 3, 42)
		if err != nil {
			t.Fatal(err)
		}
		v.Reset()
		for i := range 5 {
			e, _ := Make(id)
			e.Seed(42 + uint64(i))
			obs := make([]float32, v.ObsDim)
			e.Reset(obs)
			if got := v.Obs[i*v.ObsDim : (i+1)*v.ObsDim]; !slices.Equal(got, obs) {
				t.Errorf("%s env %d: reset obs %v, want %v from seed 42+%d", id, i, got, obs, i)
			}
		}
		v.Close()
	}
}

func TestNewVecErrors(t *testing.T) {
	if _, err := NewVec("Nope-v0", 2, 1, 0); err == nil {
		t.Error("NewVec of an unknown id: no error")
	}
	if _, err := NewVec("CartPole-v1", 0, 1, 0); err == nil {
		t.Error("NewVec of 0 envs: no error")
	}
	if _, err := NewVecFrom(nil, 1, 0); err == nil {
		t.Error("NewVecFrom(nil): no error")
	}
	if _, err := NewVecFrom([]Env{NewCartPole(), NewPendulum()}, 1, 0); err == nil {
		t.Error("NewVecFrom of different envs: no error")
	}
	if _, err := NewVecFrom([]Env{&scriptEnv{maxSteps: 5}, &scriptEnv{maxSteps: 6}}, 1, 0); err == nil {
		t.Error("NewVecFrom of envs with different time limits: no error")
	}
}

// vecRecord is everything a Vec reports after a step.
type vecRecord struct {
	obs, rewards, final []float32
	term, trunc, succ   []bool
	ret                 []float64
	length              []int
}

// recordVec steps v n times with random actions drawn from actSeed and
// records what it reports.
func recordVec(v *Vec, n int, actSeed uint64) []vecRecord {
	rng := rand.New(rand.NewPCG(actSeed, 2))
	actions := make([]float32, v.NumEnvs*v.ActDim)
	recs := make([]vecRecord, n)
	for k := range recs {
		for i := range v.NumEnvs {
			randomAction(rng, v.ActSpace, actions[i*v.ActDim:(i+1)*v.ActDim])
		}
		v.Step(actions)
		recs[k] = vecRecord{
			slices.Clone(v.Obs), slices.Clone(v.Rewards), slices.Clone(v.FinalObs),
			slices.Clone(v.Terminated), slices.Clone(v.Truncated), slices.Clone(v.EpisodeSuccess),
			slices.Clone(v.EpisodeReturn), slices.Clone(v.EpisodeLength),
		}
	}
	return recs
}

func sameRecords(a, b []vecRecord) error {
	for k := range a {
		x, y := a[k], b[k]
		if !sameBits(x.obs, y.obs) || !sameBits(x.rewards, y.rewards) ||
			!slices.Equal(x.term, y.term) || !slices.Equal(x.trunc, y.trunc) {
			return fmt.Errorf("step %d differs:\n%+v\n%+v", k, x, y)
		}
		// The rest is only defined where an episode ended.
		d := len(x.obs) / len(x.term)
		for i := range x.term {
			if (x.term[i] || x.trunc[i]) && (!sameBits(x.final[i*d:(i+1)*d], y.final[i*d:(i+1)*d]) ||
				math.Float64bits(x.ret[i]) != math.Float64bits(y.ret[i]) ||
				x.length[i] != y.length[i] || x.succ[i] != y.succ[i]) {
				return fmt.Errorf("step %d env %d: ended episodes differ", k, i)
			}
		}
	}
	return nil
}

func TestVecWorkersAgree(t *testing.T) {
	for _, id := range IDs() {
		var runs [][]vecRecord
		for _, workers := range []int{1, 4, 0} {
			v, err := NewVec(id, 10, workers, 7)
			if err != nil {
				t.Fatal(err)
			}
			v.Reset()
			runs = append(runs, recordVec(v, 450, 3))
			v.Close()
		}
		for k := 1; k < len(runs); k++ {
			if err := sameRecords(runs[0], runs[k]); err != nil {
				t.Errorf("%s: 1 worker and run %d differ: %v", id, k, err)
			}
		}
	}
}

func TestVecMarshal(t *testing.T) {
	for _, id := range IDs() {
		t.Run(id, func(t *testing.T) {
			v, _ := NewVec(id, 8, 3, 1)
			defer v.Close()
			v.Reset()
			recordVec(v, 137, 4)
			state, err := v.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			want := recordVec(v, 450, 5)

			restored, _ := NewVec(id, 8, 1, 999)
			defer restored.Close()
			if err := restored.UnmarshalBinary(state); err != nil {
				t.Fatal(err)
			}
			if err := sameRecords(recordVec(restored, 450, 5), want); err != nil {
				t.Errorf("restored Vec diverges: %v", err)
			}

			other, _ := NewVec(id, 7, 1, 0)
			defer other.Close()
			if err := other.UnmarshalBinary(state); err == nil {
				t.Error("state of 8 envs restored into 7: no error")
			}
			if err := restored.UnmarshalBinary(state[:len(state)-1]); err == nil {
				t.Error("truncated state: no error")
			}
		})
	}
}

func TestVecStepDoesNotAllocate(t *testing.T) {
	v, err := NewVec("CartPole-v1", 64, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	v.Reset()
	actions := make([]float32, 64)
	for i := range actions {
		actions[i] = float32(i % 2)
	}
	if n := testing.AllocsPerRun(200, func() { v.Step(actions) }); n != 0 {
		t.Errorf("Vec.Step allocates %v times per call", n)
	}
}

func TestVecStepPanics(t *testing.T) {
	tests := []struct {
		name string
		use  func(v *Vec)
	}{
		{"before Reset", func(v *Vec) { v.Step(make([]float32, 2)) }},
		{"wrong action count", func(v *Vec) { v.Reset(); v.Step(make([]float32, 3)) }},
		{"after Close", func(v *Vec) { v.Reset(); v.Close(); v.Step(make([]float32, 2)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newScriptVec(t, 2, 0, 2, 0)
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tt.use(v)
		})
	}
}

// benchActions returns batches of random CartPole actions to cycle
// through, so that episodes last and end as under a random policy. There
// are 4096 actions in all, too many for a branch predictor to learn.
func benchActions(numEnvs int) [][]float32 {
	rng := rand.New(rand.NewPCG(1, 2))
	batches := make([][]float32, max(4096/numEnvs, 1))
	for k := range batches {
		batches[k] = make([]float32, numEnvs)
		for i := range batches[k] {
			batches[k][i] = float32(rng.IntN(2))
		}
	}
	return batches
}

func benchmarkVec(b *testing.B, workers int) {
	const numEnvs = 64
	v, err := NewVec("CartPole-v1", numEnvs, workers, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	v.Reset()
	batches := benchActions(numEnvs)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v.Step(batches[i%len(batches)])
	}
	b.ReportMetric(float64(b.N*numEnvs)/b.Elapsed().Seconds(), "env-steps/s")
}

// BenchmarkVecStep steps 64 CartPoles over one worker per CPU.
func BenchmarkVecStep(b *testing.B) {
	b.Logf("%d CPUs", runtime.NumCPU())
	benchmarkVec(b, 0)
}

// BenchmarkVecStepOneWorker steps 64 CartPoles on the calling goroutine,
// the baseline for what the workers gain.
func BenchmarkVecStepOneWorker(b *testing.B) { benchmarkVec(b, 1) }

// BenchmarkEnvStep steps a single env, resetting it when it terminates.
func BenchmarkEnvStep(b *testing.B) {
	for _, id := range IDs() {
		b.Run(id, func(b *testing.B) {
			e, _ := Make(id)
			obs := make([]float32, e.ObservationSpace().Dim())
			e.Reset(obs)
			batches := benchActions(1)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if e.Step(batches[i%len(batches)], obs).Terminated {
					e.Reset(obs)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "env-steps/s")
		})
	}
}

// blockEnv is a scriptEnv whose steps wait for release once it is set.
type blockEnv struct {
	scriptEnv
	release chan struct{}
}

func (b *blockEnv) Step(action []float32, obs []float32) Transition {
	if b.release != nil {
		<-b.release
	}
	return b.scriptEnv.Step(action, obs)
}

// countEnv is a scriptEnv that counts its steps where other goroutines
// may read the count.
type countEnv struct {
	scriptEnv
	n atomic.Int64
}

func (c *countEnv) Step(action []float32, obs []float32) Transition {
	defer c.n.Add(1)
	return c.scriptEnv.Step(action, obs)
}

// TestVecStepTakesOtherShardsEnvs: a worker that has finished its shard
// steps the envs another worker has not reached yet, instead of waiting
// at the end of the step while they are left. Env 2, the first of worker
// 1's shard, holds its worker until env 3, the second, has stepped: only a
// worker that takes env 3 from worker 1's shard lets the step finish.
func TestVecStepTakesOtherShardsEnvs(t *testing.T) {
	slow, last := &blockEnv{}, &countEnv{}
	v, err := NewVecFrom([]Env{&scriptEnv{}, &scriptEnv{}, slow, last}, 2, 0) // shards {0, 1} and {2, 3}
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	v.Reset()
	slow.release = make(chan struct{})
	stolen := make(chan bool, 1)
	go func() {
		deadline := time.Now().Add(5 * time.Second)
		for last.n.Load() == 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		stolen <- last.n.Load() == 1
		close(slow.release)
	}()
	v.Step([]float32{1, 2, 3, 4})
	if !<-stolen {
		t.Error("env 3 did not step while env 2 held its shard's worker")
	}
	if !slices.Equal(v.Rewards, []float32{1, 2, 3, 4}) {
		t.Errorf("rewards %v, want [1 2 3 4]", v.Rewards)
	}
}
