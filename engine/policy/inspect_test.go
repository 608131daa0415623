package policy

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lago-rl/lago/engine/env"
)

// textCorridor is the corridor with a text view: its position.
type textCorridor struct{ *corridor }

func (c textCorridor) TextView() string      { return fmt.Sprintf("at %d", c.pos) }
func (c textCorridor) ActionNames() []string { return []string{"left", "right"} }

func TestWalkStopsWhereTheEpisodeTerminates(t *testing.T) {
	cases := []struct {
		steps, want int
	}{
		{0, 0}, {2, 2}, {3, 3}, {50, 3}, // the terminal state stays, not reset
	}
	for _, c := range cases {
		co := &corridor{}
		if err := Walk(co, BuiltinExpert, 1, c.steps); err != nil {
			t.Fatal(err)
		}
		if co.pos != c.want {
			t.Errorf("expert walk of %d steps ends at %d, want %d", c.steps, co.pos, c.want)
		}
	}
}

// handWalk is Walk written out: seed, reset, Space.Sample from the random
// policy's generator, step until termination.
func handWalk(e env.Env, seed uint64, steps int) {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	act := make([]float32, e.ActionSpace().Dim())
	obs := make([]float32, e.ObservationSpace().Dim())
	e.Seed(seed)
	e.Reset(obs)
	for range steps {
		e.ActionSpace().Sample(r, act)
		if e.Step(act, obs).Terminated {
			return
		}
	}
}

func TestRandomWalkIsSeededAsByHand(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		got, want := &corridor{}, &corridor{}
		if err := Walk(got, BuiltinRandom, seed, 7); err != nil {
			t.Fatal(err)
		}
		handWalk(want, seed, 7)
		if got.pos != want.pos {
			t.Errorf("seed %d: Walk ends at %d, by hand at %d", seed, got.pos, want.pos)
		}
	}
	// CartPole's own seeding: the observation after the walk matches.
	for seed := uint64(1); seed <= 4; seed++ {
		got, _ := env.Make("CartPole-v1")
		want, _ := env.Make("CartPole-v1")
		if err := Walk(got, BuiltinRandom, seed, 5); err != nil {
			t.Fatal(err)
		}
		handWalk(want, seed, 5)
		a, _ := got.(interface{ MarshalBinary() ([]byte, error) }).MarshalBinary()
		b, _ := want.(interface{ MarshalBinary() ([]byte, error) }).MarshalBinary()
		if string(a) != string(b) {
			t.Errorf("seed %d: CartPole state after Walk differs from the hand walk", seed)
		}
	}
}

// handCount is CountKeys written out: step the env by hand, apply the time
// limit, reset finished episodes, count distinct text views.
func handCount(e env.Env, seed uint64, steps int) KeyCount {
	d := e.(env.Describer)
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	act := make([]float32, e.ActionSpace().Dim())
	obs := make([]float32, e.ObservationSpace().Dim())
	e.Seed(seed)
	e.Reset(obs)
	limit := e.Spec().MaxEpisodeSteps
	seen := map[string]bool{}
	c := KeyCount{Steps: steps}
	elapsed := 0
	for range steps {
		seen[d.TextView()] = true
		e.ActionSpace().Sample(r, act)
		tr := e.Step(act, obs)
		elapsed++
		if tr.Terminated || elapsed >= limit {
			c.Episodes++
			if tr.Success {
				c.Successes++
			}
			e.Reset(obs)
			elapsed = 0
		}
	}
	c.Keys = len(seen)
	return c
}

func TestCountKeys(t *testing.T) {
	// The expert acts on positions 0, 1, 2 in each 3-step episode.
	got, err := CountKeys(textCorridor{&corridor{}}, BuiltinExpert, 1, 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := (KeyCount{Steps: 10, Episodes: 3, Successes: 3, Keys: 3}); got != want {
		t.Errorf("expert: %+v, want %+v", got, want)
	}
	// A random walk times out at 20 steps now and then; the counts are
	// those of stepping by hand.
	for seed := uint64(1); seed <= 6; seed++ {
		got, err := CountKeys(textCorridor{&corridor{}}, BuiltinRandom, seed, 200)
		if err != nil {
			t.Fatal(err)
		}
		if want := handCount(textCorridor{&corridor{}}, seed, 200); got != want {
			t.Errorf("random, seed %d: %+v, by hand %+v", seed, got, want)
		}
	}
}

func TestInspectErrors(t *testing.T) {
	cases := []struct {
		name string
		run  func() error
		want string
	}{
		{"walk back", func() error { return Walk(&corridor{}, BuiltinRandom, 1, -1) }, "policy: walk of -1 steps: want 0 or more"},
		{"walk no expert", func() error { return Walk(noExpert{&corridor{}}, BuiltinExpert, 1, 3) }, "policy: PolicyTestCorridor-v0 has no scripted expert"},
		{"walk unknown", func() error { return Walk(&corridor{}, "greedy", 1, 3) }, `policy: unknown built-in policy "greedy": want one of random, expert`},
		{"count none", func() error { _, err := CountKeys(textCorridor{&corridor{}}, BuiltinRandom, 1, 0); return err }, "want 1 or more"},
		{"count no text", func() error { _, err := CountKeys(&corridor{}, BuiltinRandom, 1, 5); return err }, "policy: PolicyTestCorridor-v0 has no text view (it does not implement env.Describer)"},
		{"count unknown", func() error { _, err := CountKeys(textCorridor{&corridor{}}, "greedy", 1, 5); return err }, "unknown built-in policy"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.run(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}
