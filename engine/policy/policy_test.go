package policy

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/lago-rl/lago/engine/env"
)

// corridor is a test env with a scripted expert: walk right (action 1) to
// the end of a corridor of length 3; each step costs −1, reaching the end
// gives +10 and success. Action 0 steps left (a wall at 0).
type corridor struct{ pos int }

const corridorID = "PolicyTestCorridor-v0"

// noExpert hides the corridor's expert: only env.Env's methods are promoted.
type noExpert struct{ env.Env }

const noExpertID = "PolicyTestNoExpert-v0"

func init() {
	env.Register(corridorID, func() env.Env { return &corridor{} })
	env.Register(noExpertID, func() env.Env { return noExpert{&corridor{}} })
}

func (c *corridor) Spec() env.Spec {
	return env.Spec{ID: corridorID, MaxEpisodeSteps: 20, HasSuccess: true}
}
func (c *corridor) ObservationSpace() env.Space { return env.Box([]float32{0}, []float32{3}) }
func (c *corridor) ActionSpace() env.Space      { return env.Discrete(2) }
func (c *corridor) Seed(uint64)                 {}
func (c *corridor) Reset(obs []float32)         { c.pos = 0; obs[0] = 0 }
func (c *corridor) Step(a, obs []float32) env.Transition {
	if a[0] == 1 {
		c.pos++
	} else if c.pos > 0 {
		c.pos--
	}
	obs[0] = float32(c.pos)
	if c.pos == 3 {
		return env.Transition{Reward: 10, Terminated: true, Success: true}
	}
	return env.Transition{Reward: -1}
}
func (c *corridor) ExpertAction(a []float32)       { a[0] = 1 }
func (c *corridor) MarshalBinary() ([]byte, error) { return []byte{byte(c.pos)}, nil }
func (c *corridor) UnmarshalBinary(b []byte) error { c.pos = int(b[0]); return nil }

func TestExpertIsEvaluated(t *testing.T) {
	// 3 steps to the end: return −1 −1 +10 = 8, length 3, always a success.
	res, err := EvaluateBuiltin(corridorID, "expert", 7, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := EvalResult{Episodes: 7, MeanReturn: 8, StdReturn: 0, MeanLength: 3, SuccessRate: 1}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("expert: %+v, want %+v", res, want)
	}
}

func TestRandomIsEvaluated(t *testing.T) {
	res, err := EvaluateBuiltin(corridorID, "random", 40, 3)
	if err != nil {
		t.Fatal(err)
	}
	if res.Episodes != 40 || res.MeanLength <= 3 || res.SuccessRate <= 0 || res.SuccessRate >= 1 {
		t.Fatalf("random walk: %+v, want 40 episodes longer than the expert's and some time-outs", res)
	}
	again, err := EvaluateBuiltin(corridorID, "random", 40, 3)
	if err != nil || !reflect.DeepEqual(again, res) {
		t.Fatalf("same seed: %+v then %+v (%v)", res, again, err)
	}
}

// TestRandomDrawsAsSpaceSample: the random policy's actions are
// env.Space.Sample's, env by env, so one seed gives the same actions in
// `lago env` and `lago eval -policy random`.
func TestRandomDrawsAsSpaceSample(t *testing.T) {
	for _, id := range []string{"CartPole-v1", "Pendulum-v1"} {
		v, err := env.NewVec(id, 3, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, v.NumEnvs*v.ActDim)
		if err := Random(9)(v, got); err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(9, 0x5eed))
		want := make([]float32, len(got))
		for i := 0; i < v.NumEnvs; i++ {
			v.ActSpace.Sample(r, want[i*v.ActDim:(i+1)*v.ActDim])
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: Random gave %v, Space.Sample %v", id, got, want)
		}
		v.Close()
	}
}

func TestEvaluateQuotas(t *testing.T) {
	// 5 episodes over min(5, 16) = 5 envs: one each; 20 over 16 envs: the
	// first 4 envs give two. Either way exactly the episodes asked for.
	for _, n := range []int{1, 5, 20} {
		res, err := EvaluateBuiltin(corridorID, "expert", n, 1)
		if err != nil || res.Episodes != n {
			t.Fatalf("%d episodes asked: %+v, %v", n, res, err)
		}
	}
}

func TestEvaluateErrors(t *testing.T) {
	cases := []struct {
		name, env, policy string
		episodes          int
		want              string
	}{
		{"no episodes", corridorID, "random", 0, "policy: evaluation needs at least 1 episode, got 0"},
		{"negative episodes", corridorID, "random", -3, "at least 1 episode, got -3"},
		{"unknown policy", corridorID, "greedy", 5, `policy: unknown built-in policy "greedy": want one of random, expert`},
		{"no expert", noExpertID, "expert", 5, "has no scripted expert"},
		{"unknown env", "Nope-v0", "random", 5, "Nope-v0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := EvaluateBuiltin(c.env, c.policy, c.episodes, 1)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}
