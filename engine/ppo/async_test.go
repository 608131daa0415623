package ppo

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/lago-rl/lago/engine/config"
)

// rolloutBits is everything one iteration's rollout stored, as bits.
func rolloutBits(tr *Trainer) []uint32 {
	b := &tr.buf
	var out []uint32
	for _, xs := range [][]float32{b.obs, b.actions, b.logprobs, b.values, b.rewards, b.adv, b.ret} {
		for _, x := range xs {
			out = append(out, math.Float32bits(x))
		}
	}
	for _, e := range b.ends {
		if e {
			out = append(out, 1)
		} else {
			out = append(out, 0)
		}
	}
	return out
}

// trainRollouts trains cfg for its iterations and returns each iteration's rollout
// and the final parameters.
func trainRollouts(t *testing.T, cfg config.Config) ([][]uint32, []float32) {
	t.Helper()
	tr, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	var rollouts [][]uint32
	for !tr.Done() {
		if _, err := tr.Iterate(context.Background()); err != nil {
			t.Fatal(err)
		}
		rollouts = append(rollouts, rolloutBits(tr))
	}
	return rollouts, params(t, tr)
}

// TestRolloutsDeterministicAcrossWorkers: the same seed gives bit for bit
// the same rollouts and parameters with 1, 2 and 3 workers, in lockstep
// and in the asynchronous mode (where a free worker takes whichever env
// is next, so which worker steps which env changes from run to run).
// Pendulum runs with observation and reward normalisation, which the
// asynchronous mode updates group by group.
func TestRolloutsDeterministicAcrossWorkers(t *testing.T) {
	for _, id := range []string{"CartPole-v1", "Pendulum-v1"} {
		for _, mode := range []string{"lockstep", "async"} {
			t.Run(id+"/"+mode, func(t *testing.T) {
				cfg := smallConfig(t, id)
				cfg.VecMode = mode
				cfg.NumEnvs = 5 // groups of 2 and 3
				cfg.TotalTimesteps = 5 * 16 * 3
				cfg.NumWorkers = 1
				want, wantParams := trainRollouts(t, cfg)
				for _, workers := range []int{2, 3} {
					cfg.NumWorkers = workers
					got, gotParams := trainRollouts(t, cfg)
					for k := range want {
						if !slices.Equal(got[k], want[k]) {
							t.Fatalf("%d workers: rollout %d differs from 1 worker's", workers, k+1)
						}
					}
					if !slices.Equal(gotParams, wantParams) {
						t.Fatalf("%d workers: parameters differ from 1 worker's", workers)
					}
				}
			})
		}
	}
}

// TestAsyncMatchesLockstepOnDiscreteActions: where the two modes are
// defined to match, they do. libtorch's CPU categorical sampler draws row
// after row from one stream, so sampling one half and then the other takes
// the same actions as sampling every env at once, and the envs then see the
// same actions; the networks' outputs may differ in float rounding when a
// half-batch takes another BLAS kernel than the full batch (at 8 envs,
// halves of 4, they are bit-identical here). With continuous actions the
// Gaussian noise of a half differs in rounding from that of the whole
// batch, and the normaliser merges its statistics per half, so there the
// two modes are close but not equal.
func TestAsyncMatchesLockstepOnDiscreteActions(t *testing.T) {
	cfg := smallConfig(t, "CartPole-v1")
	cfg.NumEnvs = 8
	cfg.TotalTimesteps = 8 * 16 * 3
	var bufs [2][]rollout
	var ps [2][]float32
	for k, mode := range []string{"lockstep", "async"} {
		cfg.VecMode = mode
		tr, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		for !tr.Done() {
			if _, err := tr.Iterate(context.Background()); err != nil {
				t.Fatal(err)
			}
			b := tr.buf
			bufs[k] = append(bufs[k], rollout{obs: slices.Clone(b.obs), actions: slices.Clone(b.actions),
				rewards: slices.Clone(b.rewards), ends: slices.Clone(b.ends), logprobs: slices.Clone(b.logprobs), values: slices.Clone(b.values)})
		}
		ps[k] = params(t, tr)
		tr.Close()
	}
	for k := range bufs[0] {
		l, a := bufs[0][k], bufs[1][k]
		if !slices.Equal(l.actions, a.actions) || !slices.Equal(l.obs, a.obs) || !slices.Equal(l.rewards, a.rewards) || !slices.Equal(l.ends, a.ends) {
			t.Fatalf("rollout %d: async took other actions or saw other states than lockstep", k+1)
		}
		for i := range l.values {
			if math.Abs(float64(l.values[i]-a.values[i])) > 1e-5 || math.Abs(float64(l.logprobs[i]-a.logprobs[i])) > 1e-5 {
				t.Fatalf("rollout %d, sample %d: value %v / %v, log-prob %v / %v (lockstep / async)", k+1, i, l.values[i], a.values[i], l.logprobs[i], a.logprobs[i])
			}
		}
	}
	lockParams, asyncParams := ps[0], ps[1]
	for i := range lockParams {
		if d := math.Abs(float64(lockParams[i] - asyncParams[i])); d > 1e-5*math.Max(1, math.Abs(float64(lockParams[i]))) {
			t.Fatalf("parameter %d: %v lockstep, %v async", i, lockParams[i], asyncParams[i])
		}
	}
}

// TestAsyncResumeIsExact: TestResumeIsExact's check in the asynchronous
// mode: a checkpoint between iterations holds no group in flight.
func TestAsyncResumeIsExact(t *testing.T) {
	cfg := smallConfig(t, "Pendulum-v1")
	cfg.VecMode = "async"
	straight, wantParams := trainRollouts(t, cfg)

	first, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := first.Iterate(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	state, err := first.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	first.Close()
	second, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if err := second.Restore(state); err != nil {
		t.Fatal(err)
	}
	for i := 3; !second.Done(); i++ {
		if _, err := second.Iterate(context.Background()); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rolloutBits(second), straight[i]) {
			t.Fatalf("rollout %d differs after resume", i+1)
		}
	}
	if !slices.Equal(params(t, second), wantParams) {
		t.Fatal("parameters differ after resume")
	}
}

// TestAsyncCancelLeavesNoGroupStepping: a rollout cancelled between steps
// returns with every group received, so the trainer can be closed and its
// envs are not stepped behind its back.
func TestAsyncCancelLeavesNoGroupStepping(t *testing.T) {
	cfg := smallConfig(t, "CartPole-v1")
	cfg.VecMode = "async"
	tr, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tr.Iterate(ctx); err == nil {
		t.Fatal("cancelled iteration: no error")
	}
	if g := tr.Vec.NumGroups(); g != 2 {
		t.Fatalf("%d groups, want 2", g)
	}
	if _, err := tr.Vec.MarshalBinary(); err != nil {
		t.Errorf("after a cancelled rollout: %v", err)
	}
}
