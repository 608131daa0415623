package env

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestMakeAndIDs(t *testing.T) {
	if got, want := IDs(), []string{"CartPole-v1", "Pendulum-v1"}; !slices.Equal(got, want) {
		t.Fatalf("IDs() = %v, want %v", got, want)
	}
	for _, id := range IDs() {
		e, err := Make(id)
		if err != nil {
			t.Fatalf("Make(%q): %v", id, err)
		}
		if e.Spec().ID != id {
			t.Errorf("Make(%q).Spec().ID = %q", id, e.Spec().ID)
		}
	}
	_, err := Make("CartPol-v1")
	const want = `unknown env_id "CartPol-v1"; known: CartPole-v1, Pendulum-v1`
	if err == nil || err.Error() != want {
		t.Errorf("Make(unknown) error = %v, want %s", err, want)
	}
}

func TestRegisterPanics(t *testing.T) {
	newEnv := func() Env { return NewCartPole() }
	tests := []struct {
		name string
		id   string
		make func() Env
	}{
		{"duplicate", "CartPole-v1", newEnv},
		{"empty id", "", newEnv},
		{"nil constructor", "Nil-v0", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q) did not panic", tt.id)
				}
			}()
			Register(tt.id, tt.make)
		})
	}
}

func TestSpace(t *testing.T) {
	tests := []struct {
		s    Space
		dim  int
		name string
	}{
		{Discrete(2), 1, "Discrete(2)"},
		{Box([]float32{-1, -1, -8}, []float32{1, 1, 8}), 3, "Box(3)"},
		{Box([]float32{-2}, []float32{2}), 1, "Box(1)"},
	}
	for _, tt := range tests {
		if got := tt.s.Dim(); got != tt.dim {
			t.Errorf("%v.Dim() = %d, want %d", tt.s, got, tt.dim)
		}
		if got := tt.s.String(); got != tt.name {
			t.Errorf("String() = %q, want %q", got, tt.name)
		}
		if !tt.s.Equal(tt.s) {
			t.Errorf("%v not Equal to itself", tt.s)
		}
	}
	if Discrete(2).Equal(Discrete(3)) || Box([]float32{0}, []float32{1}).Equal(Box([]float32{0}, []float32{2})) {
		t.Error("different spaces are Equal")
	}
	low := []float32{0}
	b := Box(low, []float32{1})
	low[0] = 5
	if b.Low[0] != 0 {
		t.Error("Box aliases its bounds")
	}
}

// step records one step of a trajectory.
type step struct {
	obs []float32
	tr  Transition
}

// rollout runs n steps of random actions drawn from actSeed, resetting
// when an episode terminates or every resetEvery steps, and records them.
// It starts from e's current state: reset e first for a fresh episode.
func rollout(e Env, n, resetEvery int, actSeed uint64) []step {
	rng := rand.New(rand.NewPCG(actSeed, 1))
	act := make([]float32, e.ActionSpace().Dim())
	steps := make([]step, 0, n)
	for i := range n {
		randomAction(rng, e.ActionSpace(), act)
		obs := make([]float32, e.ObservationSpace().Dim())
		tr := e.Step(act, obs)
		steps = append(steps, step{obs, tr})
		if tr.Terminated || (i+1)%resetEvery == 0 {
			obs := make([]float32, len(obs))
			e.Reset(obs)
			steps = append(steps, step{obs: obs})
		}
	}
	return steps
}

func randomAction(rng *rand.Rand, s Space, act []float32) {
	if s.Kind == DiscreteKind {
		act[0] = float32(rng.IntN(s.N))
		return
	}
	for i := range act {
		act[i] = s.Low[i] + (s.High[i]-s.Low[i])*rng.Float32()
	}
}

// sameSteps reports the first difference between two trajectories,
// comparing bits so that -0 and 0, or NaNs, are not confused.
func sameSteps(a, b []step) error {
	if len(a) != len(b) {
		return fmt.Errorf("lengths %d and %d", len(a), len(b))
	}
	for i := range a {
		if math.Float64bits(a[i].tr.Reward) != math.Float64bits(b[i].tr.Reward) ||
			a[i].tr.Terminated != b[i].tr.Terminated || a[i].tr.Success != b[i].tr.Success {
			return fmt.Errorf("step %d: transition %+v and %+v", i, a[i].tr, b[i].tr)
		}
		if !sameBits(a[i].obs, b[i].obs) {
			return fmt.Errorf("step %d: obs %v and %v", i, a[i].obs, b[i].obs)
		}
	}
	return nil
}

func sameBits(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
}

func TestDeterminism(t *testing.T) {
	for _, id := range IDs() {
		t.Run(id, func(t *testing.T) {
			run := func(seed uint64) []step {
				e, _ := Make(id)
				e.Seed(seed)
				obs := make([]float32, e.ObservationSpace().Dim())
				e.Reset(obs)
				return append([]step{{obs: obs}}, rollout(e, 300, 100, 9)...)
			}
			if err := sameSteps(run(3), run(3)); err != nil {
				t.Errorf("same seed, different trajectories: %v", err)
			}
			if sameSteps(run(3), run(4)) == nil {
				t.Error("seeds 3 and 4 give the same trajectory")
			}
		})
	}
}

func TestMarshalMidEpisode(t *testing.T) {
	for _, id := range IDs() {
		t.Run(id, func(t *testing.T) {
			e, _ := Make(id)
			e.Seed(11)
			e.Reset(make([]float32, e.ObservationSpace().Dim()))
			rollout(e, 37, 1000, 1)
			state, err := e.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			// The continuation spans resets, so the generator state must
			// have been restored too, not only the physics.
			want := rollout(e, 400, 150, 2)

			restored, _ := Make(id)
			restored.Seed(99)
			if err := restored.UnmarshalBinary(state); err != nil {
				t.Fatal(err)
			}
			if err := sameSteps(rollout(restored, 400, 150, 2), want); err != nil {
				t.Errorf("restored env diverges: %v", err)
			}
		})
	}
}

func TestUnmarshalErrors(t *testing.T) {
	cp, _ := NewCartPole().MarshalBinary()
	pe, _ := NewPendulum().MarshalBinary()
	tests := []struct {
		name string
		env  Env
		data []byte
	}{
		{"empty", NewCartPole(), nil},
		{"truncated", NewCartPole(), cp[:len(cp)-3]},
		{"trailing bytes", NewCartPole(), append(slices.Clone(cp), 0)},
		{"pendulum into cartpole", NewCartPole(), pe},
		{"cartpole into pendulum", NewPendulum(), cp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.env.Seed(5)
			before, _ := tt.env.MarshalBinary()
			if err := tt.env.UnmarshalBinary(tt.data); err == nil {
				t.Fatal("no error")
			}
			if after, _ := tt.env.MarshalBinary(); !slices.Equal(before, after) {
				t.Error("failed UnmarshalBinary changed the env")
			}
		})
	}
}

func TestNoAllocsInStep(t *testing.T) {
	for _, id := range IDs() {
		e, _ := Make(id)
		obs := make([]float32, e.ObservationSpace().Dim())
		act := make([]float32, e.ActionSpace().Dim())
		e.Reset(obs)
		if n := testing.AllocsPerRun(100, func() { e.Step(act, obs) }); n != 0 {
			t.Errorf("%s: Step allocates %v times", id, n)
		}
	}
}

func TestMarshalKeepsStepCount(t *testing.T) {
	// Success is reported on the last step of an episode, so a restored
	// env must know how far into its episode it is.
	for _, id := range IDs() {
		t.Run(id, func(t *testing.T) {
			e, _ := Make(id)
			limit := e.Spec().MaxEpisodeSteps
			obs := make([]float32, e.ObservationSpace().Dim())
			act := make([]float32, e.ActionSpace().Dim())
			e.Seed(2)
			e.Reset(obs)
			for range limit - 20 {
				e.(Expert).ExpertAction(act)
				e.Step(act, obs)
			}
			restored, _ := Make(id)
			if err := restored.UnmarshalBinary(must(e.MarshalBinary())); err != nil {
				t.Fatal(err)
			}
			var tr Transition
			for range 20 {
				restored.(Expert).ExpertAction(act)
				tr = restored.Step(act, obs)
			}
			if !tr.Success {
				t.Errorf("no success on step %d of the restored expert episode", limit)
			}
		})
	}
}
