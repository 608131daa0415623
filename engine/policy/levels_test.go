package policy

import (
	"testing"

	"github.com/lago-rl/lago/engine/env"
)

// levelsEnv ends every episode after one step; episodes alternate between
// the levels "a" (always succeeds) and "b" (succeeds every other time).
type levelsEnv struct{ episode int }

func (e *levelsEnv) Spec() env.Spec {
	return env.Spec{ID: "Levels-v0", MaxEpisodeSteps: 1, HasSuccess: true}
}
func (e *levelsEnv) ObservationSpace() env.Space { return env.Box([]float32{0}, []float32{1}) }
func (e *levelsEnv) ActionSpace() env.Space      { return env.Discrete(2) }
func (e *levelsEnv) Seed(uint64)                 {}
func (e *levelsEnv) Reset(obs []float32)         { e.episode++; obs[0] = 0 }
func (e *levelsEnv) Step(_, obs []float32) env.Transition {
	success := e.episode%2 == 1 || e.episode%4 == 0
	return env.Transition{Reward: 1, Terminated: true, Success: success}
}
func (e *levelsEnv) EpisodeLevel() string {
	if e.episode%2 == 1 {
		return "a"
	}
	return "b"
}
func (e *levelsEnv) MarshalBinary() ([]byte, error) { return nil, nil }
func (e *levelsEnv) UnmarshalBinary([]byte) error   { return nil }

func TestEvaluateSuccessByLevel(t *testing.T) {
	v, err := env.NewVecFrom([]env.Env{&levelsEnv{}}, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	v.Reset()
	res, err := Evaluate(v, 8, Random(1))
	if err != nil {
		t.Fatal(err)
	}
	// Episodes 1..8: a, b, a, b, ...; b succeeds on episodes 4 and 8.
	if res.SuccessRate != 0.75 || len(res.SuccessByLevel) != 2 || res.SuccessByLevel["a"] != 1 || res.SuccessByLevel["b"] != 0.5 {
		t.Errorf("success %v by level %v, want 0.75, a 1, b 0.5", res.SuccessRate, res.SuccessByLevel)
	}
}
