package lago

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/lago-rl/lago/bindings/torch"
	_ "github.com/lago-rl/lago/engine/clevr"
	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/ppo"
)

// priorRun is what a short LaGO run stored and logged, per iteration.
type priorRun struct {
	logPrior [][]float32 // the regulariser's per-sample log-prior rows
	known    [][]bool
	metrics  []ppo.Metrics
	params   []float32 // after the last iteration
}

// runWithPrior trains cfg with its prior and records each iteration.
func runWithPrior(t *testing.T, cfg config.Config) priorRun {
	t.Helper()
	reg, closePrior, err := FromConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer closePrior()
	tr, err := ppo.New(cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	r := reg.(*Regularizer)
	var out priorRun
	for !tr.Done() {
		m, err := tr.Iterate(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out.logPrior = append(out.logPrior, slices.Clone(r.logPrior))
		out.known = append(out.known, slices.Clone(r.known))
		out.metrics = append(out.metrics, m)
	}
	for _, p := range tr.Agent.Parameters() {
		v, err := torch.ToSlice[float32](p)
		if err != nil {
			t.Fatal(err)
		}
		out.params = append(out.params, v...)
	}
	return out
}

// TestAsyncWithAPrior: LaGO in the asynchronous mode, which observes the
// prior a group at a time while the other group steps. With the scripted
// prior (known at lookup, a function of the state) a run is the same bit
// for bit with 1 and 2 workers, and it looks up exactly the prior rows
// lockstep does (discrete actions: the two modes take the same actions, so
// they see the same states); its KL terms are lockstep's up to the float
// rounding of half-batch forward passes.
func TestAsyncWithAPrior(t *testing.T) {
	cfg := config.Default()
	cfg.Device = "cpu"
	cfg.EnvID = "CLEVR-Robot-v0"
	cfg.NumEnvs, cfg.NumSteps = 4, 8
	cfg.TotalTimesteps = 4 * 8 * 3
	cfg.NumMinibatches, cfg.UpdateEpochs = 2, 2
	cfg.Prior, cfg.Beta = "scripted:0.9", 0.1
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	cfg.VecMode = "lockstep"
	lock := runWithPrior(t, cfg)
	cfg.VecMode = "async"
	cfg.NumWorkers = 1
	async1 := runWithPrior(t, cfg)
	cfg.NumWorkers = 2
	async2 := runWithPrior(t, cfg)

	for k := range lock.metrics {
		if !slices.Equal(async1.logPrior[k], async2.logPrior[k]) || !slices.Equal(async1.known[k], async2.known[k]) {
			t.Fatalf("iteration %d: async prior rows differ between 1 and 2 workers", k+1)
		}
		if a, b := async1.metrics[k].Regularizer, async2.metrics[k].Regularizer; a["lago_kl"] != b["lago_kl"] || a["lago_agreement"] != b["lago_agreement"] {
			t.Fatalf("iteration %d: async regulariser metrics %v (1 worker) vs %v (2 workers)", k+1, a, b)
		}
		if !slices.Equal(lock.logPrior[k], async1.logPrior[k]) || !slices.Equal(lock.known[k], async1.known[k]) {
			t.Fatalf("iteration %d: async looked up other prior rows than lockstep", k+1)
		}
		for _, key := range []string{"lago_kl", "lago_agreement", "lago_coverage", "lago_beta"} {
			l, a := lock.metrics[k].Regularizer[key], async1.metrics[k].Regularizer[key]
			if math.Abs(l-a) > 1e-5*math.Max(1, math.Abs(l)) {
				t.Fatalf("iteration %d: %s = %v lockstep, %v async", k+1, key, l, a)
			}
		}
		if c := async1.metrics[k].Regularizer["lago_coverage"]; c != 1 {
			t.Fatalf("iteration %d: coverage %v, want 1 (the scripted prior is known at lookup)", k+1, c)
		}
	}
	if !slices.Equal(async1.params, async2.params) {
		t.Fatal("async parameters differ between 1 and 2 workers")
	}
	for i := range lock.params {
		if d := math.Abs(float64(lock.params[i] - async1.params[i])); d > 1e-5*math.Max(1, math.Abs(float64(lock.params[i]))) {
			t.Fatalf("parameter %d: %v lockstep, %v async", i, lock.params[i], async1.params[i])
		}
	}
}
