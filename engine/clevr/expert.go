package clevr

import (
	"math"
)

// The expert's targets: points of the goal region around the destination
// ball, as (distance, angle from the relation's direction). They stay off
// the region's edges (0.26 is contact, 0.39 the success radius, ±45° the
// sector) so that a push landing near a target still counts.
var expertTargets = func() [][2]float64 {
	var t [][2]float64
	for _, r := range []float64{0.29, 0.33} {
		for _, deg := range []float64{0, -20, 20, -35, 35} {
			t = append(t, [2]float64{r, deg * math.Pi / 180})
		}
	}
	return t
}()

// Where ball centres can be: inside the walls by a radius.
const (
	reachXMin, reachXMax = WallXMin + BallRadius, WallXMax - BallRadius
	reachYMin, reachYMax = WallYMin + BallRadius, WallYMax - BallRadius
)

// ExpertAction writes the expert's push for the current task (env.Expert):
// the named push of an easy task; for the other tasks a one-push lookahead
// on the simulator (privileged: it reads and restores the physics state),
// [Env.relationExpert] for one relation, [Env.relationsExpert] for several,
// and a lookahead over the balls' pushes against [Task.Potential] for the
// ordered row and the gathering. The Env's state is unchanged.
func (e *Env) ExpertAction(action []float32) {
	switch t := &e.task; t.Kind {
	case KindPush:
		action[0] = float32(t.Ball*NumDirs + cardinalDir[t.Dir])
	case KindRelations:
		if t.N == 1 {
			e.relationExpert(action)
		} else {
			e.relationsExpert(action)
		}
	default:
		e.arrangementExpert(action, t.Kind)
	}
}

// cardinalDir is the index in Dirs of the push straight along each
// relation's direction.
var cardinalDir = [NumRelations]int{Left: 2, Right: 0, Front: 1, Behind: 3}

// relationExpert writes the push that brings the goal e.goal closest to
// success, by a one-push lookahead. It tries every push of the source
// ball; a push that succeeds wins, and otherwise the one that minimises
// [expertCost]. Only when no push of the source improves on the current
// cost does it also try the destination ball's pushes: moving the
// destination away from a wall that leaves no room for the source on the
// goal's side. Trying the source first halves the simulated pushes of the
// usual case, which matters because a scripted prior asks the expert at
// every state of a rollout.
func (e *Env) relationExpert(action []float32) {
	now := e.Positions()
	g := e.goal
	best, _ := e.lookahead([][]int{{g.Src}, {g.Dst}}, expertCost(&now, g), func(pos *[NumBalls][2]float64) float64 {
		if g.Satisfied(pos) {
			return -1
		}
		return expertCost(pos, g)
	})
	action[0] = float32(best)
}

// relationsExpert plans a hard goal's relations greedily, one at a time in
// the order of [Task.plan], each as the single-relation expert would, with
// the relations already met kept: the cost of a push is, over the plan up to
// the first relation unmet now, 1 plus [expertCost] for each relation unmet
// after it, so that meeting the current relation is worth more than any
// progress and breaking an earlier one costs more than any. It tries the
// current relation's moving ball, then its fixed ball, then the other balls
// together, each only when none before improved on the current cost.
func (e *Env) relationsExpert(action []float32) {
	plan := e.task.plan()
	now := e.Positions()
	cur := 0
	for cur < e.task.N-1 && plan[cur].Satisfied(&now) {
		cur++
	}
	cost := func(pos *[NumBalls][2]float64) float64 {
		if e.task.Satisfied(pos) {
			return -1
		}
		c := 0.0
		for _, g := range plan[:cur+1] {
			if !g.Satisfied(pos) {
				c += 1 + expertCost(pos, g)
			}
		}
		return c
	}
	others := make([]int, 0, NumBalls-2)
	for b := range NumBalls {
		if b != plan[cur].Src && b != plan[cur].Dst {
			others = append(others, b)
		}
	}
	current := cost(&now)
	best, bestCost := e.lookahead([][]int{{plan[cur].Src}, {plan[cur].Dst}, others}, current, cost)
	if bestCost >= current {
		// Stuck: the relations met so far leave no way forward (often
		// they were built against a wall). Then the push that brings all
		// the relations closest together, met ones included, whichever it
		// breaks.
		total := func(pos *[NumBalls][2]float64) float64 {
			if e.task.Satisfied(pos) {
				return -1
			}
			c := 0.0
			for _, g := range plan[:e.task.N] {
				if !g.Satisfied(pos) {
					c += expertCost(pos, g)
				}
			}
			return c
		}
		best, _ = e.lookahead([][]int{{0, 1, 2, 3, 4}}, total(&now), total)
	}
	action[0] = float32(best)
}

// plan orders the relations of a relations task so that each after the
// first joins a ball that an earlier one placed (the relations form a
// forest, see compatible), and states each as "moving ball in relation to
// fixed ball": "S left of D" with S already placed becomes "D right of S".
func (t Task) plan() [MaxRelations]Goal {
	var plan [MaxRelations]Goal
	var placed [NumBalls]bool
	var done [MaxRelations]bool
	for n := range t.N {
		next := -1
		for k, g := range t.Rels[:t.N] {
			if !done[k] && (next < 0 || !placed[t.Rels[next].Src] && !placed[t.Rels[next].Dst] && (placed[g.Src] || placed[g.Dst])) {
				next = k
			}
		}
		g := t.Rels[next]
		if placed[g.Src] {
			g = Goal{Src: g.Dst, Dst: g.Src, Rel: g.Rel.opposite()}
		}
		plan[n], done[next] = g, true
		placed[g.Src], placed[g.Dst] = true, true
	}
	return plan
}

// arrangementExpert pushes towards the ordered row (KindOrder) or the
// gathering (KindGather): of every push of every ball (the gathering: of
// every ball but green, then of green), the one that minimises the task's
// shaped [Task.Potential] (the row: plus orderSpread·[rowSpacing]), a push
// that succeeds first.
func (e *Env) arrangementExpert(action []float32, kind Kind) {
	t := Task{Level: LevelHard, Kind: kind}
	cost := func(pos *[NumBalls][2]float64) float64 {
		if t.Satisfied(pos) {
			return -1
		}
		c := t.Potential(pos, false)
		if kind == KindOrder {
			c += orderSpread * rowSpacing(pos)
		}
		return c
	}
	// The other balls first; green only when none of their pushes helps
	// (say green is against a wall, with no room around it).
	balls := [][]int{{0, 1, 2, 3, 4}}
	if kind == KindGather {
		balls = [][]int{{0, 1, 3, 4}, {GatherBall}}
	}
	now := e.Positions()
	best, _ := e.lookahead(balls, cost(&now), cost)
	action[0] = float32(best)
}

// A row of five balls within 30° of +x spans at least 4·0.26·cos 30° = 0.90
// of the 0.94 that the walls leave ball centres: it only fits with the
// balls close together from wall to wall. orderSpread weighs, in the order
// expert's cost, rowSpacing: how far the balls' x are from that even
// spacing.
const orderSpread = 0.5

// rowSpacing sums the distances of the balls' x from evenly spaced slots
// between the walls' reach, in colour order.
func rowSpacing(pos *[NumBalls][2]float64) float64 {
	sum := 0.0
	for i, p := range pos {
		slot := reachXMin + (reachXMax-reachXMin)*float64(i)/(NumBalls-1)
		sum += math.Abs(p[0] - slot)
	}
	return sum
}

// lookahead simulates each push of each group of balls from the current
// state and returns the action whose cost is least, the first of equals,
// and its cost; a negative cost marks success and ends the search. A group
// is tried only while no push of the groups before it has brought the cost
// below current. The Env's physics state is restored.
func (e *Env) lookahead(groups [][]int, current float64, cost func(*[NumBalls][2]float64) float64) (action int, actionCost float64) {
	e.data.State(e.expertSaved)
	best, bestCost := 0, math.Inf(1)
search:
	for k, group := range groups {
		if k > 0 && bestCost < current {
			break
		}
		for _, ball := range group {
			for dir := range NumDirs {
				// Restoring a state of this very Data cannot fail.
				_ = e.data.SetState(e.expertSaved)
				e.push(ball, dir)
				pos := e.Positions()
				c := cost(&pos)
				if c < bestCost {
					best, bestCost = ball*NumDirs+dir, c
				}
				if c < 0 {
					break search // a push that succeeds cannot be beaten: the first one wins
				}
			}
		}
	}
	_ = e.data.SetState(e.expertSaved)
	return best, bestCost
}

// expertCost estimates how far the goal is from being met: the length of
// the shortest path of the source ball to the nearest target around the
// destination ball, going around the destination rather than through it,
// plus twice the distance by which that target lies beyond the walls' reach.
func expertCost(pos *[NumBalls][2]float64, g Goal) float64 {
	src, dst := pos[g.Src], pos[g.Dst]
	u := relDirs[g.Rel]
	best := math.Inf(1)
	for _, t := range expertTargets {
		sin, cos := math.Sincos(t[1])
		// Rotate u by the target's angle and scale by its distance.
		tx := dst[0] + t[0]*(cos*u[0]-sin*u[1])
		ty := dst[1] + t[0]*(sin*u[0]+cos*u[1])
		out := math.Hypot(
			max(reachXMin-tx, tx-reachXMax, 0),
			max(reachYMin-ty, ty-reachYMax, 0))
		best = min(best, pathAround(src, [2]float64{tx, ty}, dst, 2*BallRadius)+2*out)
	}
	return best
}

// pathAround returns the length of the shortest path from a to b that does
// not enter the disc of radius rho around c: the straight segment if it
// clears the disc, else the tangent from a, the arc and the tangent to b.
// A point inside the disc is treated as on its edge.
func pathAround(a, b, c [2]float64, rho float64) float64 {
	ax, ay := a[0]-c[0], a[1]-c[1]
	bx, by := b[0]-c[0], b[1]-c[1]
	dx, dy := bx-ax, by-ay
	// The point of the segment a–b nearest to c.
	s := 0.0
	if l2 := dx*dx + dy*dy; l2 > 0 {
		s = min(max(-(ax*dx+ay*dy)/l2, 0), 1)
	}
	if math.Hypot(ax+s*dx, ay+s*dy) >= rho {
		return math.Hypot(dx, dy)
	}
	ra := max(math.Hypot(ax, ay), rho)
	rb := max(math.Hypot(bx, by), rho)
	theta := math.Acos(min(max((ax*bx+ay*by)/(math.Hypot(ax, ay)*math.Hypot(bx, by)), -1), 1))
	arc := max(theta-math.Acos(rho/ra)-math.Acos(rho/rb), 0)
	return math.Sqrt(ra*ra-rho*rho) + math.Sqrt(rb*rb-rho*rho) + rho*arc
}

// wrongSource is the ball a wrong-goal expert moves instead of the goal's
// source: the first ball that is neither the source nor the destination.
func wrongSource(g Goal) int {
	for b := range NumBalls {
		if b != g.Src && b != g.Dst {
			return b
		}
	}
	panic("clevr: fewer than three balls")
}

// WrongExpertAction is the expert aimed at a wrong goal (env.WrongExpert).
// For a relation: the same relation to the same destination, but for
// another ball than the named one; for a hard goal of several relations,
// that wrong goal of its first relation alone. It never pushes the ball the
// instruction names first, so a prior built on it is confidently
// misleading: the test that rewards still win over it. (An expert for the
// opposite relation between the right balls was tried first and is not
// wrong enough: it pushes the named ball towards the named destination
// until the last push, and as a prior it beat vanilla PPO,
// bench/results/compare-clevr-wrong-opposite.) For a push task it pushes
// the next ball in colour order the named way; for the ordered row it
// gathers the balls, and for the gathering it lines them up.
func (e *Env) WrongExpertAction(action []float32) {
	switch t := &e.task; t.Kind {
	case KindPush:
		action[0] = float32((t.Ball+1)%NumBalls*NumDirs + cardinalDir[t.Dir])
	case KindOrder:
		e.arrangementExpert(action, KindGather)
	case KindGather:
		e.arrangementExpert(action, KindOrder)
	default:
		goal := e.goal
		e.goal.Src = wrongSource(goal)
		defer func() { e.goal = goal }()
		e.relationExpert(action)
	}
}
