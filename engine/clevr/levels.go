package clevr

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// Kind is the shape of a task's goal.
type Kind int

// The kinds of goal.
const (
	// KindRelations: every one of Rels[:N] holds (the relation and
	// rephrase levels have one; the hard level two or three).
	KindRelations Kind = iota
	// KindPush (easy level): the one push of the episode moves ball Ball
	// in direction Dir: it is one of the three push directions with a
	// component along Dir.
	KindPush
	// KindOrder (hard level): the balls lie in colour order from left to
	// right: each difference p[i+1] − p[i] is within OrderAngle of +x.
	KindOrder
	// KindGather (hard level): every other ball is closer than
	// GatherRadius to the green ball.
	KindGather
	numKinds
)

var kindNames = [numKinds]string{"relations", "push", "order", "gather"}

// String names the kind.
func (k Kind) String() string {
	if k < 0 || k >= numKinds {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindNames[k]
}

// The hard level's thresholds, those of ImagineBench's task-level judge.
const (
	// MaxRelations is the most relations a hard goal joins.
	MaxRelations = 3
	// OrderAngle bounds the angle between +x and the difference of two
	// consecutive balls of an ordered row.
	OrderAngle = math.Pi / 6
	// GatherRadius bounds the distance of every ball from the gathering
	// ball: 2.5 ball radii.
	GatherRadius = 2.5 * BallRadius
	// GatherBall is the ball the others gather around: green.
	GatherBall = 2
)

// Task is the goal of an episode.
type Task struct {
	// Level is the episode's level: relation, easy, hard or rephrase.
	Level Level
	Kind  Kind
	// N relations Rels[:N] of a KindRelations task.
	N    int
	Rels [MaxRelations]Goal
	// Ball and Dir of a KindPush task.
	Ball int
	Dir  Relation
}

// String describes the task canonically, e.g. "red left of blue and green
// in front of cyan", "push red left", "colour order left to right", "gather
// around green".
func (t Task) String() string {
	switch t.Kind {
	case KindRelations:
		parts := make([]string, t.N)
		for i, g := range t.Rels[:t.N] {
			parts[i] = g.String()
		}
		return strings.Join(parts, " and ")
	case KindPush:
		return fmt.Sprintf("push %s %s", Colours[t.Ball], t.Dir)
	case KindOrder:
		return "colour order left to right"
	case KindGather:
		return "gather around " + Colours[GatherBall]
	}
	return t.Kind.String()
}

// valid reports whether t is a task that Reset could draw, with the fields
// its kind does not use at zero.
func (t Task) valid() bool {
	if t.Level < 0 || t.Level >= LevelMixed || t.Kind < 0 || t.Kind >= numKinds {
		return false
	}
	if t.Kind != KindRelations && (t.N != 0 || t.Rels != [MaxRelations]Goal{}) ||
		t.Kind != KindPush && (t.Ball != 0 || t.Dir != 0) {
		return false
	}
	switch t.Kind {
	case KindRelations:
		if t.N < 1 || t.N > MaxRelations {
			return false
		}
		for k, g := range t.Rels {
			if k < t.N && !g.valid() || k >= t.N && g != (Goal{}) {
				return false
			}
		}
	case KindPush:
		return t.Ball >= 0 && t.Ball < NumBalls && t.Dir >= 0 && t.Dir < NumRelations
	}
	return true
}

// Satisfied reports whether the goal holds for the ball positions pos. A
// push task's success depends on the push, not on the positions
// ([Task.PushSucceeds]); Satisfied is false for it.
func (t Task) Satisfied(pos *[NumBalls][2]float64) bool {
	switch t.Kind {
	case KindRelations:
		for _, g := range t.Rels[:t.N] {
			if !g.Satisfied(pos) {
				return false
			}
		}
		return true
	case KindOrder:
		for i := range NumBalls - 1 {
			if !inOrder(pos[i], pos[i+1]) {
				return false
			}
		}
		return true
	case KindGather:
		for i := range NumBalls {
			if i != GatherBall && dist(pos[i], pos[GatherBall]) >= GatherRadius {
				return false
			}
		}
		return true
	}
	return false
}

// PushSucceeds reports whether pushing ball in direction dir (an index of
// [Dirs]) meets a push task: the named ball, pushed in one of the three
// directions with a positive component along the named one.
func (t Task) PushSucceeds(ball, dir int) bool {
	u, d := relDirs[t.Dir], Dirs[dir]
	return t.Kind == KindPush && ball == t.Ball && u[0]*d[0]+u[1]*d[1] > 0
}

// inOrder reports whether b − a lies within OrderAngle of +x.
func inOrder(a, b [2]float64) bool {
	dx, dy := b[0]-a[0], b[1]-a[1]
	return dx > 0 && math.Abs(dy) <= math.Tan(OrderAngle)*dx
}

func dist(a, b [2]float64) float64 { return math.Hypot(a[0]-b[0], a[1]-b[1]) }

// orderDistance is how far b is from the cone of directions within
// OrderAngle of +x at a: 0 inside it, else the distance to its nearer edge
// (or to a, behind it).
func orderDistance(a, b [2]float64) float64 {
	dx, dy := b[0]-a[0], math.Abs(b[1]-a[1])
	sin, cos := math.Sincos(OrderAngle)
	if dy <= dx*sin/cos && dx > 0 {
		return 0
	}
	// Project onto the edge (cos, sin), clamped at the apex.
	t := max(dx*cos+dy*sin, 0)
	return math.Hypot(dx-t*cos, dy-t*sin)
}

// Potential is the quantity whose decrease a step is rewarded for.
//
// With the shaped reward it is the distance of the scene from the goal: the
// sum, over the goal's parts, of how far each part is from holding (a
// relation's [Goal.Distance], a gathered ball's distance beyond
// GatherRadius, an ordered pair's distance from its cone), so that each
// part's progress counts and a met part counts 0.
//
// With the distance reward it is ImagineBench's source-destination
// distance: |p_Src − p_Dst| of a relation, summed over a hard goal's
// relations; for gathering, the sum of the balls' distances from the green
// one. An ordered row has no source and destination; its potential is the
// shaped one.
//
// For a push task it is minus the named ball's coordinate along the named
// direction, with either reward, so a step is rewarded for the distance
// the ball moved that way.
func (t Task) Potential(pos *[NumBalls][2]float64, distance bool) float64 {
	switch t.Kind {
	case KindRelations:
		sum := t.Rels[0].potential(pos, distance)
		for _, g := range t.Rels[1:t.N] {
			sum += g.potential(pos, distance)
		}
		return sum
	case KindPush:
		u := relDirs[t.Dir]
		return -(pos[t.Ball][0]*u[0] + pos[t.Ball][1]*u[1])
	case KindOrder:
		sum := 0.0
		for i := range NumBalls - 1 {
			sum += orderDistance(pos[i], pos[i+1])
		}
		return sum
	case KindGather:
		sum := 0.0
		for i := range NumBalls {
			if i == GatherBall {
				continue
			}
			d := dist(pos[i], pos[GatherBall])
			if !distance {
				d = max(d-GatherRadius, 0)
			}
			sum += d
		}
		return sum
	}
	return 0
}

func (g Goal) potential(pos *[NumBalls][2]float64, distance bool) float64 {
	if distance {
		return dist(pos[g.Src], pos[g.Dst])
	}
	return g.Distance(pos)
}

// opposite returns the relation pointing the other way: "S left of D"
// holds exactly when "D right of S" does.
func (r Relation) opposite() Relation {
	return [NumRelations]Relation{Left: Right, Right: Left, Front: Behind, Behind: Front}[r]
}

// sampleEasy draws a push task: any ball, any of the four directions.
func sampleEasy(r *rand.Rand) Task {
	return Task{Level: LevelEasy, Kind: KindPush, Ball: r.IntN(NumBalls), Dir: Relation(r.IntN(NumRelations))}
}

// Hard goals drawn in equal shares: two relations, three relations, the
// ordered row, the gathering.
const numHardGoals = 4

// sampleHard draws a hard task that is not met at pos; a relation task has
// none of its relations met.
func sampleHard(r *rand.Rand, pos *[NumBalls][2]float64) Task {
	switch r.IntN(numHardGoals) {
	case 0:
		return sampleRelations(r, pos, 2)
	case 1:
		return sampleRelations(r, pos, 3)
	case 2:
		t := Task{Level: LevelHard, Kind: KindOrder}
		if !t.Satisfied(pos) {
			return t
		}
		// A scene already in order (rare) gets the gathering instead,
		// which no reset scene meets: balls start 0.36 apart, farther
		// than GatherRadius.
	}
	return Task{Level: LevelHard, Kind: KindGather}
}

// sampleRelations draws n relations one at a time, each uniformly among
// those that are false at pos and compatible with the ones drawn before
// ([compatible]).
func sampleRelations(r *rand.Rand, pos *[NumBalls][2]float64, n int) Task {
	t := Task{Level: LevelHard, Kind: KindRelations}
	for t.N < n {
		count := 0
		for i := range NumGoals {
			if g := GoalByIndex(i); !g.Satisfied(pos) && t.compatible(g) {
				count++
			}
		}
		k := r.IntN(count)
		for i := range NumGoals {
			g := GoalByIndex(i)
			if g.Satisfied(pos) || !t.compatible(g) {
				continue
			}
			if k == 0 {
				t.Rels[t.N] = g
				t.N++
				break
			}
			k--
		}
	}
	return t
}

// compatible reports whether g can join the relations of t in a goal that
// can be met: the relations form a forest over the balls (g joins two
// balls not already connected, so no pair is named twice and no cycle such
// as "a left of b, b left of c, c left of a" arises), and no ball gets two
// balls in the same sector (two balls both left of one ball crowd the
// 90° sector). With five balls and at most three relations some
// compatible relation always remains false at reset.
func (t *Task) compatible(g Goal) bool {
	var component [NumBalls]int
	for i := range component {
		component[i] = i
	}
	find := func(i int) int {
		for component[i] != i {
			i = component[i]
		}
		return i
	}
	type sector struct {
		ball int
		rel  Relation
	}
	used := map[sector]bool{}
	for _, h := range t.Rels[:t.N] {
		component[find(h.Src)] = find(h.Dst)
		used[sector{h.Dst, h.Rel}] = true
		used[sector{h.Src, h.Rel.opposite()}] = true
	}
	return find(g.Src) != find(g.Dst) && !used[sector{g.Dst, g.Rel}] && !used[sector{g.Src, g.Rel.opposite()}]
}
