package clevr

import (
	"fmt"
	"math"
	"strings"
)

// Relation is a spatial relation between two balls, seen from above with x
// to the right and y to the front: Left is −x, Right +x, Front +y and
// Behind −y.
type Relation int

// The relations, in the order of their one-hot in the observation.
const (
	Left Relation = iota
	Right
	Front
	Behind
	NumRelations = 4
)

var relationNames = [NumRelations]string{"left", "right", "front", "behind"}

// relDirs are the unit vectors the relations point along.
var relDirs = [NumRelations][2]float64{{-1, 0}, {1, 0}, {0, 1}, {0, -1}}

// String returns "left", "right", "front" or "behind".
func (r Relation) String() string {
	if r < 0 || r >= NumRelations {
		return fmt.Sprintf("Relation(%d)", int(r))
	}
	return relationNames[r]
}

// SuccessRadius bounds the distance between the centres of the two balls of
// a satisfied goal. Touching balls are 0.26 apart, so a goal is met by
// placing the source ball within about half a ball's width of the other.
const SuccessRadius = 0.39

// Goal asks for ball Src to be placed in relation Rel to ball Dst: the
// direction of p_Src − p_Dst within 45° of Rel's direction (a 90° sector)
// and |p_Src − p_Dst| < SuccessRadius.
type Goal struct {
	Src, Dst int
	Rel      Relation
}

// NumGoals is the number of goals: 20 ordered pairs of balls × 4 relations.
const NumGoals = NumBalls * (NumBalls - 1) * NumRelations

// GoalByIndex returns goal i of the NumGoals, ordered by Src, Dst, Rel.
func GoalByIndex(i int) Goal {
	rel := Relation(i % NumRelations)
	pair := i / NumRelations
	src, k := pair/(NumBalls-1), pair%(NumBalls-1)
	dst := k
	if k >= src {
		dst++ // skip src itself
	}
	return Goal{Src: src, Dst: dst, Rel: rel}
}

func (g Goal) valid() bool {
	return g.Src >= 0 && g.Src < NumBalls && g.Dst >= 0 && g.Dst < NumBalls &&
		g.Src != g.Dst && g.Rel >= 0 && g.Rel < NumRelations
}

// goalPreps are the prepositions of Goal.String, by relation.
var goalPreps = [NumRelations]string{"left of", "right of", "in front of", "behind"}

// String describes the goal canonically, e.g. "red left of blue", "red
// behind blue". It is a display string (renders, test messages): the
// instructions, text views and prompts are phrased elsewhere (phrases.go).
func (g Goal) String() string {
	if g.Rel < 0 || g.Rel >= NumRelations {
		return fmt.Sprintf("%s %v %s", Colours[g.Src], g.Rel, Colours[g.Dst])
	}
	return fmt.Sprintf("%s %s %s", Colours[g.Src], goalPreps[g.Rel], Colours[g.Dst])
}

// Satisfied reports whether the goal holds for the ball positions pos.
func (g Goal) Satisfied(pos *[NumBalls][2]float64) bool {
	along, across := g.frame(pos)
	return along > 0 && along >= math.Abs(across) && math.Hypot(along, across) < SuccessRadius
}

// frame returns p_Src − p_Dst in the relation's frame: the component along
// the relation's direction and the one across it.
func (g Goal) frame(pos *[NumBalls][2]float64) (along, across float64) {
	vx, vy := pos[g.Src][0]-pos[g.Dst][0], pos[g.Src][1]-pos[g.Dst][1]
	u := relDirs[g.Rel]
	return vx*u[0] + vy*u[1], -vx*u[1] + vy*u[0]
}

// Distance is how far ball Src is from the goal region around Dst: the
// Euclidean distance from p_Src to the closed sector of radius
// SuccessRadius and 90° around Dst; 0 inside it.
func (g Goal) Distance(pos *[NumBalls][2]float64) float64 {
	along, across := g.frame(pos)
	across = math.Abs(across) // the sector is symmetric about its axis
	r := math.Hypot(along, across)
	if along >= across {
		return max(r-SuccessRadius, 0)
	}
	// Outside the sector's angle: the nearest point lies on the edge
	// t·(1, 1)/√2, 0 ≤ t ≤ SuccessRadius.
	t := min(max((along+across)/math.Sqrt2, 0), SuccessRadius)
	return math.Hypot(along-t/math.Sqrt2, across-t/math.Sqrt2)
}

// Instruction templates. {src} and {dst} stand for colour names and {rel}
// for one of the relation's phrases. A template's phrase is chosen by its
// position (template i uses phrase i mod 3), so that each relation is said
// several ways within a set. The held-out set shares no sentence frame with
// the training set, to measure how a language-conditioned policy or prior
// copes with paraphrases it never saw.
var (
	trainFrames = []string{
		"Push the {src} ball {rel} the {dst} ball",
		"Move the {src} sphere so it sits {rel} the {dst} one",
		"Put the {src} ball {rel} the {dst} ball",
		"Get the {src} sphere {rel} the {dst} sphere",
		"The {src} ball should end up {rel} the {dst} ball",
		"Can you place the {src} ball {rel} the {dst} ball?",
	}
	heldOutFrames = []string{
		"Shove the {src} sphere until it is {rel} the {dst} sphere",
		"I want the {src} ball {rel} the {dst} ball",
		"Bring the {src} object {rel} the {dst} object",
	}
	relPhrases = [NumRelations][3]string{
		Left:   {"to the left of", "left of", "on the left side of"},
		Right:  {"to the right of", "right of", "on the right side of"},
		Front:  {"in front of", "ahead of", "on the front side of"},
		Behind: {"behind", "in back of", "on the back side of"},
	}
)

// instruction renders template i of frames for goal g.
func instruction(frames []string, i int, g Goal) string {
	return strings.NewReplacer(
		"{src}", Colours[g.Src],
		"{dst}", Colours[g.Dst],
		"{rel}", relPhrases[g.Rel][i%len(relPhrases[g.Rel])],
	).Replace(frames[i])
}
