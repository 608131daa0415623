package ppo

import "testing"

func TestSuccessByLevel(t *testing.T) {
	succ, n := SuccessByLevel([]Episode{{Success: true}, {Success: false}})
	if succ != nil || n != nil {
		t.Errorf("episodes without levels: %v %v, want nil maps (no key in summary.json)", succ, n)
	}
	succ, n = SuccessByLevel([]Episode{
		{Success: true, Level: "easy"}, {Level: "easy"}, {Level: "easy"}, {Success: true, Level: "easy"},
		{Level: "hard"}, {Success: true}})
	if succ["easy"] != 0.5 || n["easy"] != 4 || succ["hard"] != 0 || n["hard"] != 1 || len(succ) != 2 || len(n) != 2 {
		t.Errorf("SuccessByLevel = %v, %v", succ, n)
	}
}
