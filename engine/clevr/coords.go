package clevr

import "math"

// contactSlack is how far soft contacts let a resting ball sink into a wall
// or another ball (measured: under 5 mm in every reset, see TestReset).
const contactSlack = 0.005

// Coords appends the coordinates the text views render, the balls' centres
// x0, y0, x1, y1, … in metres, to dst. With ValidCoords and SetCoords it
// lets a probe redraw a state among those its text cannot tell apart
// (demos' jittered text ceiling).
func (e *Env) Coords(dst []float64) []float64 {
	for _, p := range e.Positions() {
		dst = append(dst, p[0], p[1])
	}
	return dst
}

// ValidCoords reports whether c (laid out as Coords) is a layout a resting
// scene can have: every centre inside the walls by a radius and no two
// balls overlapping, each within contactSlack.
func (e *Env) ValidCoords(c []float64) bool {
	if len(c) != 2*NumBalls {
		return false
	}
	for i := range NumBalls {
		x, y := c[2*i], c[2*i+1]
		// Written so that a NaN fails.
		if !(x >= reachXMin-contactSlack && x <= reachXMax+contactSlack && y >= reachYMin-contactSlack && y <= reachYMax+contactSlack) {
			return false
		}
		for j := range i {
			if !(math.Hypot(x-c[2*j], y-c[2*j+1]) >= 2*BallRadius-contactSlack) {
				return false
			}
		}
	}
	return true
}

// SetCoords moves the balls' centres to c (as Coords lays them out) and
// keeps everything else of the state: heights, orientations, velocities,
// the pusher, the solver's warm start and the task. It does not judge c
// (ValidCoords does) and panics if c has the wrong length.
func (e *Env) SetCoords(c []float64) {
	if len(c) != 2*NumBalls {
		panic("clevr: SetCoords needs the 10 coordinates Coords gives")
	}
	// Only positions change, as in UnmarshalBinary: what depends on them
	// (contacts, the solver's warm start) is recomputed by the next step
	// and by the expert's lookahead, so no mj_forward here (it would
	// rewrite the warm start, which the state keeps).
	q := e.data.QPos()
	for i, a := range e.ballQPos {
		q[a], q[a+1] = c[2*i], c[2*i+1]
	}
}
