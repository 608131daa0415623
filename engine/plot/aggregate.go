package plot

import (
	"cmp"
	"math"
	"slices"
)

// Band selects how the spread across seeds is summarised.
type Band int

const (
	// Std bands span mean ± one sample standard deviation across runs,
	// showing how much individual seeds vary.
	Std Band = iota
	// CI95 bands span a 95% confidence interval for the mean,
	// mean ± t(0.975, n−1)·s/√n. Student's t rather than 1.96 is used
	// because RL experiments rarely have more than a handful of seeds,
	// where the normal quantile makes the interval far too narrow.
	CI95
)

// String returns a short description suitable for captions.
func (b Band) String() string {
	switch b {
	case Std:
		return "mean ± std"
	case CI95:
		return "mean ± 95% CI"
	default:
		return "unknown band"
	}
}

// DefaultGridPoints is the grid size Aggregate uses when asked for fewer
// than two points.
const DefaultGridPoints = 100

// Curve summarises one label's runs on a common grid of env steps. Steps,
// Mean, Low and High have equal lengths. With a single run Low and High
// equal Mean, since one seed says nothing about spread.
type Curve struct {
	Label string
	N     int // number of runs that logged the metric
	Steps []float64
	Mean  []float64
	Low   []float64
	High  []float64
}

// Aggregate groups runs by Label and summarises each group's metric as a
// mean and band on gridPoints evenly spaced env steps (DefaultGridPoints if
// gridPoints < 2). The grid spans the steps every run of the group covers,
// from the latest first point to the earliest last point, so values are
// interpolated but never extrapolated. Runs that never logged the metric
// are left out, and so is a label with no such run or whose runs share no
// span of steps. Curves come in the order labels are first seen in runs.
func Aggregate(runs []Run, metric string, band Band, gridPoints int) []Curve {
	return aggregate(runs, metric, band, gridPoints, 0)
}

// aggregate is Aggregate with each run's raw points smoothed by a moving
// window of the given size first (see smooth).
func aggregate(runs []Run, metric string, band Band, gridPoints, window int) []Curve {
	if gridPoints < 2 {
		gridPoints = DefaultGridPoints
	}
	var labels []string
	groups := make(map[string][][]Point)
	for _, r := range runs {
		pts := r.Series(metric)
		if len(pts) == 0 {
			continue
		}
		// Interpolation needs ascending steps; a resumed run may log out of order.
		slices.SortStableFunc(pts, func(a, b Point) int { return cmp.Compare(a.Step, b.Step) })
		if _, seen := groups[r.Label]; !seen {
			labels = append(labels, r.Label)
		}
		groups[r.Label] = append(groups[r.Label], smooth(pts, window))
	}

	var curves []Curve
	for _, label := range labels {
		if c, ok := summarise(label, groups[label], band, gridPoints); ok {
			curves = append(curves, c)
		}
	}
	return curves
}

// summarise builds the Curve for one label from its runs' sorted series.
// It reports false when the runs share no span of steps.
func summarise(label string, series [][]Point, band Band, gridPoints int) (Curve, bool) {
	lo, hi := math.Inf(-1), math.Inf(1)
	for _, pts := range series {
		lo = max(lo, pts[0].Step)
		hi = min(hi, pts[len(pts)-1].Step)
	}
	if lo > hi {
		return Curve{}, false
	}
	if lo == hi {
		gridPoints = 1 // every run ends where the others start
	}

	c := Curve{
		Label: label,
		N:     len(series),
		Steps: make([]float64, gridPoints),
		Mean:  make([]float64, gridPoints),
		Low:   make([]float64, gridPoints),
		High:  make([]float64, gridPoints),
	}
	vals := make([]float64, len(series))
	for i := range gridPoints {
		x := hi
		if i < gridPoints-1 { // pin the last point to hi exactly, free of rounding
			x = lo + (hi-lo)*float64(i)/float64(gridPoints-1)
		}
		for j, pts := range series {
			vals[j] = interpolate(pts, x)
		}
		mean, sd := meanStd(vals)
		half := sd
		if band == CI95 {
			half = 0
			if n := len(vals); n > 1 {
				half = tQuantile975(n-1) * sd / math.Sqrt(float64(n))
			}
		}
		c.Steps[i], c.Mean[i], c.Low[i], c.High[i] = x, mean, mean-half, mean+half
	}
	return c, true
}

// interpolate returns the value of the piecewise-linear curve through pts
// (sorted by Step) at step x, holding the end values outside their range.
func interpolate(pts []Point, x float64) float64 {
	i, _ := slices.BinarySearchFunc(pts, x, func(p Point, x float64) int { return cmp.Compare(p.Step, x) })
	switch {
	case i == 0:
		return pts[0].Value
	case i == len(pts):
		return pts[len(pts)-1].Value
	case pts[i].Step == x:
		return pts[i].Value
	}
	a, b := pts[i-1], pts[i]
	t := (x - a.Step) / (b.Step - a.Step)
	return a.Value + t*(b.Value-a.Value)
}

// smooth replaces each value by the mean of the raw values in a window
// centred on it, 2·⌊window/2⌋+1 points wide and cut short at the ends. A
// centred window, unlike an EMA or trailing mean, does not shift the curve
// to later steps. Windows below 2 return pts unchanged.
func smooth(pts []Point, window int) []Point {
	half := window / 2
	if half < 1 || len(pts) < 2 {
		return pts
	}
	prefix := make([]float64, len(pts)+1)
	for i, p := range pts {
		prefix[i+1] = prefix[i] + p.Value
	}
	out := make([]Point, len(pts))
	for i, p := range pts {
		from, to := max(0, i-half), min(len(pts), i+half+1)
		out[i] = Point{Step: p.Step, Value: (prefix[to] - prefix[from]) / float64(to-from)}
	}
	return out
}

// meanStd returns the mean and the sample (n−1) standard deviation of
// vals; the deviation is 0 for a single value.
func meanStd(vals []float64) (mean, sd float64) {
	for _, v := range vals {
		mean += v
	}
	mean /= float64(len(vals))
	if len(vals) < 2 {
		return mean, 0
	}
	var ss float64
	for _, v := range vals {
		ss += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(ss / float64(len(vals)-1))
}

// t975 holds the 0.975 quantile of Student's t for 1 to 30 degrees of
// freedom, where the large-df expansion below is not accurate enough.
var t975 = [...]float64{
	12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
	2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
	2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
}

// tQuantile975 returns the 0.975 quantile of Student's t with df ≥ 1
// degrees of freedom: from a table up to 30, beyond that from the
// Cornish–Fisher expansion around the normal quantile, which is already
// within 1e-4 at df = 30.
func tQuantile975(df int) float64 {
	if df <= len(t975) {
		return t975[df-1]
	}
	const z = 1.959963984540054
	z3, z5, z7 := z*z*z, z*z*z*z*z, z*z*z*z*z*z*z
	n := float64(df)
	return z + (z3+z)/(4*n) + (5*z5+16*z3+3*z)/(96*n*n) + (3*z7+19*z5+17*z3-15*z)/(384*n*n*n)
}

// MeanCI95 returns the mean of vals and the bounds of its 95% confidence
// interval (Student's t, n−1 degrees of freedom); with one value the
// interval is that value.
func MeanCI95(vals []float64) (mean, low, high float64) {
	if len(vals) == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	mean, sd := meanStd(vals)
	if len(vals) < 2 {
		return mean, mean, mean
	}
	half := tQuantile975(len(vals)-1) * sd / math.Sqrt(float64(len(vals)))
	return mean, mean - half, mean + half
}
