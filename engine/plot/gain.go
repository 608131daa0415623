package plot

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Estimate is a mean with the bounds of its 95% confidence interval, such
// as one row of a comparison's final success (lago compare's summary.json).
type Estimate struct {
	Mean, Low, High float64
}

// GainPoint is one guided row of a comparison placed against a property of
// its prior: X is that property (held-out agreement with the expert, for
// issue 13's ladder), Final the row's final success.
type GainPoint struct {
	Label string
	X     float64
	Final Estimate
}

// GainOptions label a gain figure.
type GainOptions struct {
	Title, XLabel string
}

// GainVsX draws each point's gain over the baseline (its final success
// minus the baseline's mean, with the point's own 95% CI as the error bar)
// against X, over a grey band that is the baseline's own CI around zero:
// a point whose bar clears the band is a gain the seeds resolve; one whose
// bar overlaps it is not, whatever its mean says. It writes outBase+".png"
// and outBase+".svg" and returns the paths written.
func GainVsX(points []GainPoint, baseline Estimate, outBase string, opt GainOptions) (files []string, err error) {
	if len(points) == 0 {
		return nil, fmt.Errorf("plot: no points to draw")
	}
	for _, v := range []float64{baseline.Mean, baseline.Low, baseline.High} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("plot: the baseline's final success %+v is not a number", baseline)
		}
	}
	p := gplot.New()
	p.Title.Text = opt.Title
	p.X.Label.Text = opt.XLabel
	if p.X.Label.Text == "" {
		p.X.Label.Text = "x"
	}
	p.Y.Label.Text = "gain in final success over the baseline"
	p.Add(plotter.NewGrid())

	xmin, xmax := math.Inf(1), math.Inf(-1)
	for _, pt := range points {
		if math.IsNaN(pt.X) || math.IsNaN(pt.Final.Mean) {
			return nil, fmt.Errorf("plot: point %q has no value (x %v, mean %v)", pt.Label, pt.X, pt.Final.Mean)
		}
		xmin, xmax = math.Min(xmin, pt.X), math.Max(xmax, pt.X)
	}
	pad := math.Max((xmax-xmin)*0.1, 0.02)
	xmin, xmax = xmin-pad, xmax+pad
	band, err := plotter.NewPolygon(plotter.XYs{
		{X: xmin, Y: baseline.Low - baseline.Mean}, {X: xmax, Y: baseline.Low - baseline.Mean},
		{X: xmax, Y: baseline.High - baseline.Mean}, {X: xmin, Y: baseline.High - baseline.Mean},
	})
	if err != nil {
		return nil, err
	}
	band.Color = color.NRGBA{0x7f, 0x7f, 0x7f, bandAlpha}
	band.LineStyle.Width = 0
	p.Add(band)
	p.Legend.Add("baseline's 95% CI", band)

	for i, pt := range points {
		c, _ := lineStyle(i)
		xy := plotter.XYs{{X: pt.X, Y: pt.Final.Mean - baseline.Mean}}
		dot, err := plotter.NewScatter(xy)
		if err != nil {
			return nil, err
		}
		dot.GlyphStyle.Color = c
		dot.GlyphStyle.Radius = vg.Points(3.5)
		dot.GlyphStyle.Shape = draw.CircleGlyph{}
		bars, err := plotter.NewYErrorBars(errPoints{{X: pt.X, Y: pt.Final.Mean - baseline.Mean,
			Low: pt.Final.Mean - pt.Final.Low, High: pt.Final.High - pt.Final.Mean}})
		if err != nil {
			return nil, err
		}
		bars.LineStyle.Color = c
		bars.LineStyle.Width = vg.Points(1.5)
		p.Add(bars, dot)
		p.Legend.Add(fmt.Sprintf("%s (%.3f, %+.3f)", pt.Label, pt.X, pt.Final.Mean-baseline.Mean), dot)
	}
	p.X.Min, p.X.Max = xmin, xmax
	// Headroom for the legend (top left, one line per point and the band)
	// so it never covers a bar: each line takes ~5.5% of the plot height.
	ylo, yhi := baseline.Low-baseline.Mean, baseline.High-baseline.Mean
	for _, pt := range points {
		ylo = math.Min(ylo, pt.Final.Low-baseline.Mean)
		yhi = math.Max(yhi, pt.Final.High-baseline.Mean)
	}
	span := math.Max(yhi-ylo, 1e-3)
	frac := math.Min(0.055*float64(len(points)+1), 0.6)
	p.Y.Min, p.Y.Max = ylo-0.05*span, yhi+span*frac/(1-frac)
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(8), -vg.Points(4)

	if dir := filepath.Dir(outBase); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("plot: %w", err)
		}
	}
	w, h := defaultWidth, defaultPanelHeight+vg.Inch
	for _, out := range []struct {
		path   string
		canvas vg.CanvasWriterTo
	}{
		{outBase + ".png", vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(pngDPI))}},
		{outBase + ".svg", vgsvg.New(w, h)},
	} {
		p.Draw(draw.New(out.canvas))
		if err := writeFile(out.path, out.canvas); err != nil {
			return files, err
		}
		files = append(files, out.path)
	}
	return files, nil
}

// errPoints are points with asymmetric vertical error bars
// (plotter.YErrorer and plotter.XYer).
type errPoints []struct{ X, Y, Low, High float64 }

func (e errPoints) Len() int                        { return len(e) }
func (e errPoints) XY(i int) (float64, float64)     { return e[i].X, e[i].Y }
func (e errPoints) YError(i int) (float64, float64) { return e[i].Low, e[i].High }
