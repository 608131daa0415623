package ppo

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/bindings/torch/torchtest"
)

// Covered makes klReg a Coverage, so it can train data-parallel.
func (r *klReg) Covered(idx []int64) int {
	n := 0
	for _, k := range idx {
		if r.known[k] {
			n++
		}
	}
	return n
}

// TestDistUpdateMatchesOneProcess: one update of 2 ranks × 2 envs, on the
// halves of one rollout, moves the parameters as one process × 4 envs does
// on the whole rollout (within float rounding: the sums run in another
// order), with advantage normalisation and a LaGO-style KL over covered
// samples, both of which need the whole minibatch's statistics. The
// minibatch is the whole batch so that both sides see the same samples in
// every minibatch; two epochs, so the second runs on updated parameters.
func TestDistUpdateMatchesOneProcess(t *testing.T) {
	const world = 2
	cfg := smallConfig(t, "CartPole-v1")
	cfg.NumMinibatches, cfg.UpdateEpochs = 1, 2
	cfg.NormAdv = true
	ctx := context.Background()

	singleReg := newKLReg(0.5, 2, false)
	single, err := New(cfg, singleReg)
	if err != nil {
		t.Fatal(err)
	}
	defer single.Close()
	single.path = pathFlat
	if err := single.collect(ctx); err != nil {
		t.Fatal(err)
	}
	state, err := torch.SaveState(single.Agent.Parameters(), single.Opt)
	if err != nil {
		t.Fatal(err)
	}
	before := params(t, single)

	gs := torchtest.Groups(t, world)
	ranks := make([]*Trainer, world)
	regs := make([]*klReg, world)
	torchtest.Must(t, torchtest.OnRanks(world, func(r int) error {
		regs[r] = newKLReg(0.5, 2, false)
		var err error
		ranks[r], err = NewRank(cfg, regs[r], RankOptions{Group: gs[r]})
		return err
	}))
	for _, tr := range ranks {
		defer tr.Close()
	}
	n, od := cfg.NumEnvs/world, single.Vec.ObsDim
	for r, tr := range ranks {
		if tr.Vec.NumEnvs != n || tr.Cfg.Seed != cfg.Seed+int64(r) {
			t.Fatalf("rank %d: %d envs, seed %d; want %d, %d", r, tr.Vec.NumEnvs, tr.Cfg.Seed, n, cfg.Seed+int64(r))
		}
		if err := torch.LoadState(state, tr.Agent.Parameters(), tr.Opt); err != nil {
			t.Fatal(err)
		}
		// Rank r's sample τ·n+i is the single process's τ·2n + r·n + i.
		if err := regs[r].BeginRollout(cfg.NumSteps * n); err != nil {
			t.Fatal(err)
		}
		a, b := &single.buf, &tr.buf
		for step := 0; step < cfg.NumSteps; step++ {
			for i := 0; i < n; i++ {
				k, j := step*cfg.NumEnvs+r*n+i, step*n+i
				copy(b.obs[j*od:(j+1)*od], a.obs[k*od:(k+1)*od])
				b.actions[j], b.logprobs[j], b.values[j] = a.actions[k], a.logprobs[k], a.values[k]
				b.rewards[j], b.ends[j], b.adv[j], b.ret[j] = a.rewards[k], a.ends[k], a.adv[k], a.ret[k]
				regs[r].known[j] = singleReg.known[k]
				copy(regs[r].logPrior[j*2:(j+1)*2], singleReg.logPrior[k*2:(k+1)*2])
			}
		}
	}
	if _, err := single.update(ctx); err != nil {
		t.Fatal(err)
	}
	torchtest.Must(t, torchtest.OnRanks(world, func(r int) error {
		_, err := ranks[r].update(ctx)
		return err
	}))
	want := params(t, single)
	got0, got1 := params(t, ranks[0]), params(t, ranks[1])
	if i := bitsEqual(got0, got1); i >= 0 {
		t.Fatalf("the ranks' parameters differ at %d: %v vs %v", i, got0[i], got1[i])
	}
	var moved, diff float64
	for i := range want {
		moved = math.Max(moved, math.Abs(float64(want[i]-before[i])))
		d := math.Abs(float64(got0[i] - want[i]))
		if d > 1e-6+1e-4*math.Abs(float64(want[i]-before[i])) {
			t.Errorf("parameter %d: 2 ranks %v, 1 process %v (moved by %v)", i, got0[i], want[i], want[i]-before[i])
		}
		diff = math.Max(diff, d)
	}
	t.Logf("max |2 ranks − 1 process| = %.3g; the update moved parameters by up to %.3g", diff, moved)
	if moved < 100*1e-6 {
		t.Fatalf("the update moved parameters by only %v: the comparison proves nothing", moved)
	}
}

// TestDistRanksStayBitIdentical: after iterations of full data-parallel
// training (own envs per rank, several minibatches, a KL term over covered
// samples) every rank holds the same parameters bit for bit, and sees the
// same merged metrics.
func TestDistRanksStayBitIdentical(t *testing.T) {
	const world, iterations = 2, 3
	cfg := smallConfig(t, "CartPole-v1")
	cfg.NumMinibatches, cfg.UpdateEpochs, cfg.TargetKL = 2, 2, 0.5
	gs := torchtest.Groups(t, world)
	ranks := make([]*Trainer, world)
	torchtest.Must(t, torchtest.OnRanks(world, func(r int) error {
		var err error
		ranks[r], err = NewRank(cfg, newKLReg(0.5, 2, false), RankOptions{Group: gs[r], Cores: 1})
		return err
	}))
	for _, tr := range ranks {
		defer tr.Close()
	}
	if i := bitsEqual(params(t, ranks[0]), params(t, ranks[1])); i >= 0 {
		t.Fatalf("initial parameters differ at %d: rank 0's were not broadcast", i)
	}
	ms := make([][]Metrics, world)
	for it := 1; it <= iterations; it++ {
		torchtest.Must(t, torchtest.OnRanks(world, func(r int) error {
			m, err := ranks[r].Iterate(context.Background())
			ms[r] = append(ms[r], m)
			if err != nil {
				return err
			}
			return ranks[r].CheckReplicas()
		}))
		if i := bitsEqual(params(t, ranks[0]), params(t, ranks[1])); i >= 0 {
			t.Fatalf("iteration %d: parameters differ at %d", it, i)
		}
		m0, m1 := ms[0][it-1], ms[1][it-1]
		if m0.GlobalStep != int64(it*cfg.NumEnvs*cfg.NumSteps) {
			t.Errorf("iteration %d: global step %d, want %d", it, m0.GlobalStep, it*cfg.NumEnvs*cfg.NumSteps)
		}
		if fmt.Sprint(m0.Episodes) != fmt.Sprint(m1.Episodes) || m0.PolicyLoss != m1.PolicyLoss || m0.Regularizer["kl"] != m1.Regularizer["kl"] {
			t.Errorf("iteration %d: the ranks' merged metrics differ:\n%+v\n%+v", it, m0, m1)
		}
	}
	if ranks[0].Recent.Last(100) == nil || len(ranks[0].Recent.Last(100)) != len(ranks[1].Recent.Last(100)) {
		t.Errorf("episode windows differ")
	}
	if ranks[0].NumIterations != 6 {
		t.Errorf("%d iterations, want the config's 6", ranks[0].NumIterations)
	}
}

func TestRankConfig(t *testing.T) {
	cfg := smallConfig(t, "CartPole-v1") // 4 envs × 16 steps, 4 minibatches
	for _, c := range []struct {
		envs, minibatches, world int
		want                     string
	}{
		{4, 4, 2, ""},
		{4, 4, 3, "config key num_envs: 4 envs do not split over 3 ranks"},
		{4, 64, 2, "config key num_minibatches: each of 2 ranks collects 2 envs × 16 steps = 32 samples"},
		{4, 64, 1, ""},
	} {
		cfg.NumEnvs, cfg.NumMinibatches = c.envs, c.minibatches
		local, err := RankConfig(cfg, 1, c.world)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: %v", c, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: error %v, want %q", c, err, c.want)
		case c.want == "" && c.world > 1 && (local.NumEnvs != c.envs/c.world || local.Seed != cfg.Seed+1 || local.TotalTimesteps != cfg.TotalTimesteps/int64(c.world)):
			t.Errorf("%+v: rank config %d envs, seed %d, %d steps", c, local.NumEnvs, local.Seed, local.TotalTimesteps)
		}
	}
}
