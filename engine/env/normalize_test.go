package env

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

func TestRunningMeanStd(t *testing.T) {
	const dim = 3
	rng := rand.New(rand.NewPCG(1, 1))
	r := NewRunningMeanStd(dim)
	var all []float32
	// Batches of uneven sizes, a single row included, from a distribution
	// that drifts, so that the merge of means and variances is exercised.
	for k, rows := range []int{1, 7, 100, 0, 33, 250} {
		batch := make([]float32, rows*dim)
		for i := range batch {
			j := i % dim
			batch[i] = float32(float64(j*10+k) + float64(j+1)*rng.NormFloat64())
		}
		r.Update(batch, rows)
		all = append(all, batch...)
	}

	n := len(all) / dim
	if want := 1e-4 + float64(n); math.Abs(r.Count-want) > 1e-9 {
		t.Errorf("Count = %v, want %v", r.Count, want)
	}
	// Two passes over all the data, with the prior counted as a point of
	// weight 1e-4 at 0 that has a variance of 1 of its own.
	const c = 1e-4
	for j := range dim {
		mean := 0.0
		for i := j; i < len(all); i += dim {
			mean += float64(all[i])
		}
		mean /= c + float64(n)
		m2 := c * (1 + mean*mean)
		for i := j; i < len(all); i += dim {
			d := float64(all[i]) - mean
			m2 += d * d
		}
		variance := m2 / (c + float64(n))
		if math.Abs(r.Mean[j]-mean) > 1e-9*(1+math.Abs(mean)) {
			t.Errorf("Mean[%d] = %v, want %v", j, r.Mean[j], mean)
		}
		if math.Abs(r.Var[j]-variance) > 1e-9*(1+variance) {
			t.Errorf("Var[%d] = %v, want %v", j, r.Var[j], variance)
		}
	}
}

func TestNormalizeObsClip(t *testing.T) {
	tests := []struct {
		clip, x, want float64
	}{
		{10, 3, 3},
		{10, 100, 10},
		{10, -100, -10},
		{5, 7, 5},
		{0, 100, 100}, // 0 disables clipping
	}
	for _, tt := range tests {
		n := NewNormalizer(1, 1, 0.99, true, true, tt.clip, tt.clip)
		n.Obs.Mean[0], n.Obs.Var[0] = 2, 4 // normalised x is (x-2)/2
		obs := []float32{float32(2 + 2*tt.x)}
		n.NormalizeObs(obs, 1)
		if math.Abs(float64(obs[0])-tt.want) > 1e-5 {
			t.Errorf("clip %v: obs normalised to %v, want %v", tt.clip, obs[0], tt.want)
		}
	}
}

func TestNormalizerRewards(t *testing.T) {
	tests := []struct {
		name           string
		clip, gamma    float64
		rewards        []float32
		wantReturnsNow []float64
	}{
		{"scaled", 10, 0.5, []float32{1, -3}, []float64{1, -3}},
		{"clipped", 10, 0.5, []float32{100, -100}, []float64{100, -100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newScriptVec(t, 2, 0, 1, 0)
			v.Reset()
			n := NewNormalizer(2, 2, tt.gamma, false, true, tt.clip, tt.clip)
			n.ObserveReset(v, true)
			n.Ret.Var[0] = 4
			v.Step(tt.rewards)
			n.ObserveStep(v, false)
			for i, r := range tt.rewards {
				want := min(max(float64(r)/2, -tt.clip), tt.clip)
				if math.Abs(float64(v.Rewards[i])-want) > 1e-6 {
					t.Errorf("reward %v scaled to %v, want %v", r, v.Rewards[i], want)
				}
				if n.Returns[i] != tt.wantReturnsNow[i] {
					t.Errorf("Returns[%d] = %v, want %v", i, n.Returns[i], tt.wantReturnsNow[i])
				}
			}
		})
	}
}

func TestNormalizerReturnsAndFinalObs(t *testing.T) {
	v := newScriptVec(t, 2, 0, 1, 0)
	v.Reset()
	n := NewNormalizer(2, 2, 0.5, true, true, 0, 0)
	n.ObserveReset(v, true)
	v.Step([]float32{2, 2})
	n.ObserveStep(v, true)
	v.Step([]float32{-1, 4}) // env 0 terminates
	n.ObserveStep(v, true)
	if n.Returns[0] != 0 || n.Returns[1] != 5 {
		t.Errorf("Returns = %v, want [0 5]: reset where the episode ended, 2*0.5+4 elsewhere", n.Returns)
	}
	// FinalObs of env 0 was [0, 2] raw and is normalised with the same
	// statistics as Obs.
	want := []float32{0, 2}
	n.NormalizeObs(want, 1)
	if !sameBits(v.FinalObs[:2], want) {
		t.Errorf("FinalObs = %v, want normalised %v", v.FinalObs[:2], want)
	}
}

func TestNormalizerJSON(t *testing.T) {
	run := func(n *Normalizer, v *Vec) []float32 {
		var out []float32
		for range 20 {
			v.Step([]float32{1, 3})
			n.ObserveStep(v, true)
			out = append(out, v.Obs...)
			out = append(out, v.Rewards...)
		}
		return out
	}
	a := newScriptVec(t, 2, 7, 1, 0)
	a.Reset()
	n := NewNormalizer(2, 2, 0.99, true, true, 10, 10)
	n.ObserveReset(a, true)
	run(n, a)

	b := newScriptVec(t, 2, 7, 1, 0)
	if err := b.UnmarshalBinary(must(a.MarshalBinary())); err != nil {
		t.Fatal(err)
	}
	var restored Normalizer
	if err := json.Unmarshal(must(json.Marshal(n)), &restored); err != nil {
		t.Fatal(err)
	}
	if !sameBits(run(n, a), run(&restored, b)) {
		t.Error("Normalizer restored from JSON diverges")
	}
}

func must[T any](x T, err error) T {
	if err != nil {
		panic(err)
	}
	return x
}

func TestNormalizerDoesNotAllocate(t *testing.T) {
	v, err := NewVec("Pendulum-v1", 16, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	v.Reset()
	n := NewNormalizer(16, 3, 0.99, true, true, 10, 10)
	n.ObserveReset(v, true)
	actions := make([]float32, 16)
	if allocs := testing.AllocsPerRun(300, func() { v.Step(actions); n.ObserveStep(v, true) }); allocs != 0 {
		t.Errorf("Step and ObserveStep allocate %v times", allocs)
	}
}
