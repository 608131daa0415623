package clevr

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// relScene returns positions with src at dst+offset and the other balls far
// away; offset is given in the frame of rel: along its direction and across.
func relScene(rel Relation, along, across float64) *[NumBalls][2]float64 {
	dst := [2]float64{0.1, 0.2}
	u := relDirs[rel]
	return &[NumBalls][2]float64{
		{dst[0] + along*u[0] - across*u[1], dst[1] + along*u[1] + across*u[0]},
		dst,
		{0.45, 0.55}, {-0.45, 0.55}, {0.45, -0.15},
	}
}

func TestGoalSatisfiedPerRelation(t *testing.T) {
	tests := []struct {
		along, across float64
		want          bool
	}{
		{0.3, 0, true},
		{0.26, 0, true},   // touching
		{0.385, 0, true},  // just inside the radius
		{0.395, 0, false}, // just outside
		{0.3, 0.2, true},  // 33.7° off the axis
		{0.25, 0.24, true},
		{0.24, 0.25, false}, // just past 45°
		{0.25, -0.24, true},
		{0.24, -0.25, false},
		{-0.3, 0, false}, // the opposite relation
		{0, 0.3, false},  // a perpendicular one
		{0, -0.3, false},
	}
	for rel := range Relation(NumRelations) {
		for _, tt := range tests {
			pos := relScene(rel, tt.along, tt.across)
			g := Goal{Src: 0, Dst: 1, Rel: rel}
			if got := g.Satisfied(pos); got != tt.want {
				t.Errorf("%v with src at (along %v, across %v): Satisfied = %v, want %v",
					g, tt.along, tt.across, got, tt.want)
			}
		}
	}
}

func TestGoalSatisfiedHandPlaced(t *testing.T) {
	// red at (-0.2, 0.2), blue at (0.1, 0.2), green at (0.1, 0.5),
	// purple at (0.4, -0.1), cyan at (-0.45, 0.55).
	pos := &[NumBalls][2]float64{{-0.2, 0.2}, {0.1, 0.2}, {0.1, 0.5}, {0.4, -0.1}, {-0.45, 0.55}}
	tests := []struct {
		g    Goal
		want bool
	}{
		{Goal{0, 1, Left}, true},
		{Goal{1, 0, Right}, true},
		{Goal{0, 1, Right}, false},
		{Goal{0, 1, Front}, false},
		{Goal{0, 1, Behind}, false},
		{Goal{2, 1, Front}, true},
		{Goal{1, 2, Behind}, true},
		{Goal{2, 1, Behind}, false},
		{Goal{3, 1, Right}, false}, // (0.3, -0.3): on the 45° edge but 0.42 away
		{Goal{0, 2, Left}, false},  // (-0.3, -0.3): too far and on the edge
		{Goal{4, 0, Front}, false}, // 0.43 away
	}
	for _, tt := range tests {
		if got := tt.g.Satisfied(pos); got != tt.want {
			t.Errorf("%v: Satisfied = %v, want %v", tt.g, got, tt.want)
		}
	}
}

func TestGoalByIndex(t *testing.T) {
	seen := map[Goal]bool{}
	for i := range NumGoals {
		g := GoalByIndex(i)
		if !g.valid() {
			t.Errorf("GoalByIndex(%d) = %+v is not a valid goal", i, g)
		}
		if seen[g] {
			t.Errorf("GoalByIndex(%d) = %v repeats", i, g)
		}
		seen[g] = true
	}
	if len(seen) != 80 {
		t.Errorf("%d distinct goals, want 80", len(seen))
	}
}

func TestGoalString(t *testing.T) {
	for _, tt := range []struct {
		g    Goal
		want string
	}{
		{Goal{0, 1, Left}, "red left of blue"},
		{Goal{0, 1, Right}, "red right of blue"},
		{Goal{2, 4, Front}, "green in front of cyan"},
		{Goal{3, 0, Behind}, "purple behind red"},
	} {
		if got := tt.g.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", [3]int{tt.g.Src, tt.g.Dst, int(tt.g.Rel)}, got, tt.want)
		}
	}
	two := Task{Level: LevelHard, Kind: KindRelations, N: 2, Rels: [MaxRelations]Goal{{0, 1, Front}, {3, 1, Behind}}}
	if got, want := two.String(), "red in front of blue and purple behind blue"; got != want {
		t.Errorf("Task.String() = %q, want %q", got, want)
	}
}

// bruteDistance is the distance from p to the goal sector, by sampling the
// sector's boundary finely: the nearest point of a convex set to a point
// outside lies on its boundary.
func bruteDistance(along, across float64) float64 {
	best := math.Inf(1)
	const n = 20000
	for i := range n + 1 {
		t := SuccessRadius * float64(i) / n
		for _, s := range []float64{1, -1} {
			best = min(best, math.Hypot(along-t/math.Sqrt2, across-s*t/math.Sqrt2))
		}
		a := -math.Pi/4 + math.Pi/2*float64(i)/n
		best = min(best, math.Hypot(along-SuccessRadius*math.Cos(a), across-SuccessRadius*math.Sin(a)))
	}
	return best
}

func TestGoalDistance(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		rel := Relation(r.IntN(NumRelations))
		along, across := uniform(r, -1, 1), uniform(r, -1, 1)
		pos := relScene(rel, along, across)
		g := Goal{Src: 0, Dst: 1, Rel: rel}
		got := g.Distance(pos)
		if g.Satisfied(pos) {
			if got != 0 {
				t.Errorf("%v at (%.3f, %.3f): Distance %v inside the region, want 0", g, along, across, got)
			}
			continue
		}
		want := 0.0
		if !(along >= math.Abs(across) && math.Hypot(along, across) <= SuccessRadius) {
			want = bruteDistance(along, across)
		}
		if math.Abs(got-want) > 1e-4 {
			t.Errorf("%v at (%.3f, %.3f): Distance = %.5f, want %.5f", g, along, across, got, want)
		}
	}
}

func TestInstructions(t *testing.T) {
	train := map[string]bool{}
	for _, f := range trainFrames {
		train[f] = true
	}
	for _, f := range heldOutFrames {
		if train[f] {
			t.Errorf("held-out frame %q is also a training frame", f)
		}
	}
	for _, frames := range [][]string{trainFrames, heldOutFrames} {
		for i := range frames {
			for gi := range NumGoals {
				g := GoalByIndex(gi)
				s := instruction(frames, i, g)
				if strings.ContainsAny(s, "{}") {
					t.Fatalf("template %d for %v left a placeholder: %q", i, g, s)
				}
				if !strings.Contains(s, Colours[g.Src]) || !strings.Contains(s, Colours[g.Dst]) ||
					!strings.Contains(s, relPhrases[g.Rel][i%3]) {
					t.Fatalf("template %d for %v: %q lacks a colour or the relation", i, g, s)
				}
				if strings.Index(s, Colours[g.Src]) > strings.Index(s, Colours[g.Dst]) {
					t.Fatalf("template %d for %v names the balls in the wrong order: %q", i, g, s)
				}
			}
		}
	}
	if got := instruction(trainFrames, 0, Goal{0, 1, Left}); got != "Push the red ball to the left of the blue ball" {
		t.Errorf("first training instruction = %q", got)
	}
}
