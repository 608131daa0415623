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

// ExpertAction writes the push that brings the goal closest to success, by a
// one-push lookahead on the simulator itself (privileged: it reads and
// restores the physics state). It tries every push of the source ball; a
// push that succeeds wins, and otherwise the one that minimises
// [expertCost]. Only when no push of the source improves on the current
// cost does it also try the destination ball's pushes: moving the
// destination away from a wall that leaves no room for the source on the
// goal's side. Trying the source first halves the simulated pushes of the
// usual case, which matters because a scripted prior asks the expert at
// every state of a rollout. The Env's state is unchanged.
func (e *Env) ExpertAction(action []float32) {
	e.data.State(e.expertSaved)
	now := e.Positions()
	current := expertCost(&now, e.goal)
	best, bestCost := 0, math.Inf(1)
search:
	for _, ball := range [2]int{e.goal.Src, e.goal.Dst} {
		if ball == e.goal.Dst && bestCost < current {
			break
		}
		for dir := range NumDirs {
			// Restoring a state of this very Data cannot fail.
			_ = e.data.SetState(e.expertSaved)
			e.push(ball, dir)
			pos := e.Positions()
			cost := -1.0 // below any expertCost
			if !e.goal.Satisfied(&pos) {
				cost = expertCost(&pos, e.goal)
			}
			if cost < bestCost {
				best, bestCost = ball*NumDirs+dir, cost
			}
			if cost < 0 {
				break search // a push that succeeds cannot be beaten: the first one wins
			}
		}
	}
	_ = e.data.SetState(e.expertSaved)
	action[0] = float32(best)
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

// WrongExpertAction is the expert aimed at a wrong goal: the same relation to
// the same destination, but for another ball than the named one
// (env.WrongExpert). It never pushes the ball the instruction names, so a
// prior built on it is confidently misleading: the test that rewards still
// win over it. (An expert for the opposite relation between the right balls
// was tried first and is not wrong enough: it pushes the named ball towards
// the named destination until the last push, and as a prior it beat vanilla
// PPO, bench/results/compare-clevr-wrong-opposite.)
func (e *Env) WrongExpertAction(action []float32) {
	goal := e.goal
	e.goal.Src = wrongSource(goal)
	defer func() { e.goal = goal }()
	e.ExpertAction(action)
}
