package plot

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

// metricsLines renders one metrics.jsonl line per point; a NaN value means
// the iteration logged no episodic_return.
func metricsLines(pts ...Point) string {
	var b strings.Builder
	for i, p := range pts {
		fmt.Fprintf(&b, `{"global_step":%g,"iteration":%d`, p.Step, i+1)
		if !math.IsNaN(p.Value) {
			fmt.Fprintf(&b, `,"episodic_return":%g`, p.Value)
		}
		b.WriteString(`,"policy_loss":0.01}` + "\n")
	}
	return b.String()
}

// aggregateRuns writes and loads five small runs whose summaries are easy
// to work out by hand:
//
//	ppo  A: (0,0) (10,10) (20,20), plus an iteration at 15 without a return
//	ppo  B: (0,0) (20,40)
//	ppo  C: (0,3) (5,3) (25,3)
//	lstm D: (10,1) (30,3)
//	lstm E: (0,5) (20,5)
//	none F: never logs a return
//
// ppo's grid spans 0..20 (C runs longer), lstm's 10..20.
func aggregateRuns(t *testing.T) []Run {
	t.Helper()
	nan := math.NaN()
	specs := []struct {
		name, label string
		seed        int
		pts         []Point
	}{
		{"a", "ppo", 1, []Point{{0, 0}, {10, 10}, {15, nan}, {20, 20}}},
		{"d", "lstm", 1, []Point{{10, 1}, {30, 3}}},
		{"b", "ppo", 2, []Point{{0, 0}, {20, 40}}},
		{"f", "none", 1, []Point{{0, nan}, {10, nan}}},
		{"e", "lstm", 2, []Point{{0, 5}, {20, 5}}},
		{"c", "ppo", 3, []Point{{0, 3}, {5, 3}, {25, 3}}},
	}
	root := t.TempDir()
	var runs []Run
	for _, s := range specs {
		dir := writeRun(t, filepath.Join(root, s.name), config(s.label, s.seed), metricsLines(s.pts...))
		run, err := LoadRun(dir)
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, run)
	}
	return runs
}

func TestAggregate(t *testing.T) {
	runs := aggregateRuns(t)
	// At each grid step the ppo runs read (0,0,3), (10,20,3), (20,40,3):
	// means 1, 11, 21 with sample variances 3, 73, 343.
	// The lstm runs read (1,5), (1.5,5), (2,5): means 3, 3.25, 3.5 with
	// sample deviations 4/√2, 3.5/√2, 3/√2.
	ppoSD := []float64{math.Sqrt(3), math.Sqrt(73), math.Sqrt(343)}
	lstmSD := []float64{4 / math.Sqrt2, 3.5 / math.Sqrt2, 3 / math.Sqrt2}
	ciPPO, ciLSTM := 4.3027/math.Sqrt(3), 12.7062/math.Sqrt(2)

	tests := []struct {
		band Band
		want []Curve
	}{
		{Std, []Curve{
			{"ppo", 3, []float64{0, 10, 20}, []float64{1, 11, 21},
				[]float64{1 - ppoSD[0], 11 - ppoSD[1], 21 - ppoSD[2]},
				[]float64{1 + ppoSD[0], 11 + ppoSD[1], 21 + ppoSD[2]}},
			{"lstm", 2, []float64{10, 15, 20}, []float64{3, 3.25, 3.5},
				[]float64{3 - lstmSD[0], 3.25 - lstmSD[1], 3.5 - lstmSD[2]},
				[]float64{3 + lstmSD[0], 3.25 + lstmSD[1], 3.5 + lstmSD[2]}},
		}},
		{CI95, []Curve{
			{"ppo", 3, []float64{0, 10, 20}, []float64{1, 11, 21},
				[]float64{1 - ciPPO*ppoSD[0], 11 - ciPPO*ppoSD[1], 21 - ciPPO*ppoSD[2]},
				[]float64{1 + ciPPO*ppoSD[0], 11 + ciPPO*ppoSD[1], 21 + ciPPO*ppoSD[2]}},
			{"lstm", 2, []float64{10, 15, 20}, []float64{3, 3.25, 3.5},
				[]float64{3 - ciLSTM*lstmSD[0], 3.25 - ciLSTM*lstmSD[1], 3.5 - ciLSTM*lstmSD[2]},
				[]float64{3 + ciLSTM*lstmSD[0], 3.25 + ciLSTM*lstmSD[1], 3.5 + ciLSTM*lstmSD[2]}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.band.String(), func(t *testing.T) {
			got := Aggregate(runs, "episodic_return", tt.band, 3)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d curves, want %d: %+v", len(got), len(tt.want), got)
			}
			for i, want := range tt.want {
				checkCurve(t, got[i], want)
			}
		})
	}
}

func checkCurve(t *testing.T, got, want Curve) {
	t.Helper()
	if got.Label != want.Label || got.N != want.N {
		t.Errorf("curve %q n=%d, want %q n=%d", got.Label, got.N, want.Label, want.N)
	}
	fields := []struct {
		name      string
		got, want []float64
	}{
		{"Steps", got.Steps, want.Steps},
		{"Mean", got.Mean, want.Mean},
		{"Low", got.Low, want.Low},
		{"High", got.High, want.High},
	}
	for _, f := range fields {
		if len(f.got) != len(f.want) {
			t.Errorf("%s %s has %d points, want %d", want.Label, f.name, len(f.got), len(f.want))
			continue
		}
		for i := range f.want {
			if math.Abs(f.got[i]-f.want[i]) > 1e-9 {
				t.Errorf("%s %s[%d] = %g, want %g", want.Label, f.name, i, f.got[i], f.want[i])
			}
		}
	}
}

func TestAggregateEdgeCases(t *testing.T) {
	runs := aggregateRuns(t)
	if got := Aggregate(runs, "episodic_success", Std, 3); got != nil {
		t.Errorf("metric nobody logged gave %+v, want no curves", got)
	}
	got := Aggregate(runs, "episodic_return", Std, 0)
	if len(got) != 2 || len(got[0].Steps) != DefaultGridPoints {
		t.Fatalf("gridPoints 0 gave %d curves of %d points, want 2 of %d", len(got), len(got[0].Steps), DefaultGridPoints)
	}
	if last := got[0].Steps[DefaultGridPoints-1]; last != 20 {
		t.Errorf("grid ends at %g, want the shortest run's final step 20", last)
	}

	single := []Run{{Label: "solo", Metrics: []map[string]float64{
		{"global_step": 0, "x": 1}, {"global_step": 10, "x": 3},
	}}}
	for _, band := range []Band{Std, CI95} {
		c := Aggregate(single, "x", band, 3)
		checkCurve(t, c[0], Curve{"solo", 1, []float64{0, 5, 10}, []float64{1, 2, 3}, []float64{1, 2, 3}, []float64{1, 2, 3}})
	}

	disjoint := []Run{
		{Label: "gap", Metrics: []map[string]float64{{"global_step": 0, "x": 1}, {"global_step": 10, "x": 1}}},
		{Label: "gap", Metrics: []map[string]float64{{"global_step": 20, "x": 1}, {"global_step": 30, "x": 1}}},
	}
	if got := Aggregate(disjoint, "x", Std, 3); got != nil {
		t.Errorf("runs sharing no steps gave %+v, want no curves", got)
	}
}

func TestInterpolate(t *testing.T) {
	pts := []Point{{0, 0}, {10, 100}, {10, 200}, {20, 0}}
	tests := []struct{ x, want float64 }{
		{-5, 0},   // before the first point: held
		{0, 0},    // on a point
		{2.5, 25}, // between points
		{10, 100}, // duplicate step: the first logged value
		{15, 100}, // from the last of the duplicates toward (20,0)
		{20, 0},
		{99, 0}, // past the end: held
	}
	for _, tt := range tests {
		if got := interpolate(pts, tt.x); got != tt.want {
			t.Errorf("interpolate(%g) = %g, want %g", tt.x, got, tt.want)
		}
	}
}

func TestAggregateUnsortedSteps(t *testing.T) {
	run := Run{Label: "r", Metrics: []map[string]float64{
		{"global_step": 20, "x": 2}, {"global_step": 0, "x": 0}, {"global_step": 10, "x": 1},
	}}
	c := Aggregate([]Run{run}, "x", Std, 5)
	checkCurve(t, c[0], Curve{"r", 1,
		[]float64{0, 5, 10, 15, 20}, []float64{0, 0.5, 1, 1.5, 2},
		[]float64{0, 0.5, 1, 1.5, 2}, []float64{0, 0.5, 1, 1.5, 2}})
}

func TestSmooth(t *testing.T) {
	pts := []Point{{0, 0}, {1, 3}, {2, 6}, {3, 0}, {4, 3}}
	tests := []struct {
		window int
		want   []float64
	}{
		{0, []float64{0, 3, 6, 0, 3}},
		{1, []float64{0, 3, 6, 0, 3}},
		{3, []float64{1.5, 3, 3, 3, 1.5}},
		{2, []float64{1.5, 3, 3, 3, 1.5}}, // rounded up to 3
		{5, []float64{3, 2.25, 2.4, 3, 3}},
	}
	for _, tt := range tests {
		got := smooth(pts, tt.window)
		for i := range pts {
			if got[i].Step != pts[i].Step || math.Abs(got[i].Value-tt.want[i]) > 1e-12 {
				t.Errorf("smooth(window %d)[%d] = %v, want {%g %g}", tt.window, i, got[i], pts[i].Step, tt.want[i])
			}
		}
	}
	if pts[1].Value != 3 {
		t.Error("smooth modified its input")
	}
}

func TestSmoothedAggregate(t *testing.T) {
	run := Run{Label: "r", Metrics: []map[string]float64{
		{"global_step": 0, "x": 0}, {"global_step": 1, "x": 3}, {"global_step": 2, "x": 6},
	}}
	c := aggregate([]Run{run}, "x", Std, 3, 3)
	checkCurve(t, c[0], Curve{"r", 1, []float64{0, 1, 2}, []float64{1.5, 3, 4.5}, []float64{1.5, 3, 4.5}, []float64{1.5, 3, 4.5}})
}

func TestTQuantile975(t *testing.T) {
	tests := []struct {
		df   int
		want float64
	}{
		{1, 12.7062},
		{2, 4.3027},
		{4, 2.7764},
		{30, 2.0423},
		{31, 2.0395},
		{60, 2.0003},
		{120, 1.9799},
		{1000000, 1.9600},
	}
	for _, tt := range tests {
		if got := tQuantile975(tt.df); math.Abs(got-tt.want) > 1e-4 {
			t.Errorf("tQuantile975(%d) = %.5f, want %.4f", tt.df, got, tt.want)
		}
	}
}

func TestMeanCI95(t *testing.T) {
	mean, lo, hi := MeanCI95([]float64{1, 2, 3, 4, 5})
	// sd = √2.5, t(4) = 2.7764, half = 2.7764·√2.5/√5.
	half := 2.7764 * math.Sqrt(2.5) / math.Sqrt(5)
	if mean != 3 || math.Abs(lo-(3-half)) > 1e-9 || math.Abs(hi-(3+half)) > 1e-9 {
		t.Fatalf("MeanCI95 = %v [%v, %v], want 3 ± %v", mean, lo, hi, half)
	}
	if m, l, h := MeanCI95([]float64{0.4}); m != 0.4 || l != 0.4 || h != 0.4 {
		t.Fatalf("one value: %v [%v, %v]", m, l, h)
	}
}
