package metaworld

import "math"

// The reward helpers of Meta-World's reward_utils (after dm_control's
// rewards.tolerance), with value 0.1 at the margin.

type sigmoid int

const (
	longTail sigmoid = iota
	gaussian
)

// tolerance is 1 when x lies in [lo, hi]; outside it falls with the
// distance d to the interval as the sigmoid of d/margin, to 0.1 at
// d = margin. With margin 0 it is 1 inside and 0 outside.
func tolerance(x, lo, hi, margin float64, s sigmoid) float64 {
	if x >= lo && x <= hi {
		return 1
	}
	if margin <= 0 {
		return 0
	}
	d := lo - x
	if x > hi {
		d = x - hi
	}
	d /= margin
	switch s {
	case gaussian:
		// exp(−(d·scale)²/2) with scale = √(−2 ln 0.1).
		scale := math.Sqrt(-2 * math.Log(0.1))
		return math.Exp(-0.5 * (d * scale) * (d * scale))
	default:
		// 1/((d·scale)² + 1) with scale = √(1/0.1 − 1) = 3.
		return 1 / ((3*d)*(3*d) + 1)
	}
}

// hamacher is the Hamacher product of two values in [0, 1]: a t-norm that
// is high only when both are.
func hamacher(a, b float64) float64 {
	den := a + b - a*b
	if den <= 0 {
		return 0
	}
	return a * b / den
}

// targetRadius is Meta-World's TARGET_RADIUS.
const targetRadius = 0.05

func dist(a, b [3]float64) float64 {
	return math.Sqrt((a[0]-b[0])*(a[0]-b[0]) + (a[1]-b[1])*(a[1]-b[1]) + (a[2]-b[2])*(a[2]-b[2]))
}

func add(a, b [3]float64) [3]float64 { return [3]float64{a[0] + b[0], a[1] + b[1], a[2] + b[2]} }

// xzDist is the distance in the x–z plane, ignoring y.
func xzDist(a, b [3]float64) float64 { return math.Hypot(a[0]-b[0], a[2]-b[2]) }

func clamp(x, lo, hi float64) float64 { return min(max(x, lo), hi) }

// cagingParams are the arguments of Meta-World's _gripper_caging_reward.
type cagingParams struct {
	objRadius, padSuccess, xzThresh float64
	// highDensity averages the caging-and-gripping term with caging alone.
	highDensity bool
}

// caging is Meta-World's gripper-caging reward: how well the pads straddle
// the object in y and the tool centre point lines up with it in x–z, and,
// once caged (> 0.97), how hard the gripper closes. grip is the action's
// gripper effort.
func (e *Env) caging(obj [3]float64, grip float64, p cagingParams) float64 {
	left, right := e.bodyPos(e.leftPad), e.bodyPos(e.rightPad)
	// Each pad's margin is measured from where it was at reset.
	cage := func(pad, padInit float64) float64 {
		margin := math.Abs(math.Abs(padInit-e.ep.objInit[1]) - p.padSuccess)
		return tolerance(math.Abs(pad-obj[1]), p.objRadius, p.padSuccess, margin, longTail)
	}
	cageY := hamacher(cage(left[1], e.ep.leftPadInit), cage(right[1], e.ep.rightPadInit))
	tcp := e.tcp()
	xzMargin := xzDist(e.ep.objInit, e.ep.tcpInit) - p.xzThresh
	cageXZ := tolerance(xzDist(tcp, obj), 0, p.xzThresh, xzMargin, longTail)
	closed := clamp(grip, 0, 1)
	caged := hamacher(cageY, cageXZ)
	gripping := 0.0
	if caged > 0.97 {
		gripping = closed
	}
	r := hamacher(caged, gripping)
	if p.highDensity {
		r = (r + caged) / 2
	}
	return r
}
