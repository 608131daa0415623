package plot

import (
	"cmp"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/lago-rl/lago/engine/runfile"
)

// Panel is one stacked sub-plot of a figure.
type Panel struct {
	Metric string // key in metrics.jsonl, such as "episodic_return"
	YLabel string // y axis label; Metric when empty
}

// Options controls LearningCurves. The zero value gives the default
// figure.
type Options struct {
	Title string // drawn above the top panel
	// Panels are drawn top to bottom. Empty means episodic_return
	// ("return") above episodic_success ("success rate").
	Panels []Panel
	Band   Band
	// Width and Height are the size of the whole figure. Zero means
	// 7 inches wide and 3 inches per drawn panel.
	Width, Height vg.Length
	// Smooth is a moving-average window, in logged points, applied to
	// each run before interpolation (see Aggregate); below 2 disables it.
	Smooth int
}

var defaultPanels = []Panel{
	{Metric: "episodic_return", YLabel: "return"},
	{Metric: "episodic_success", YLabel: "success rate"},
}

const (
	defaultWidth       = 7 * vg.Inch
	defaultPanelHeight = 3 * vg.Inch
	pngDPI             = 150 // sharp enough for papers and screens alike
	bandAlpha          = 0x40
)

// palette is matplotlib's tab10, which CleanRL-style plots use and whose
// colours stay distinct for most forms of colour blindness.
var palette = []color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff},
	{0xd6, 0x27, 0x28, 0xff}, {0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff},
	{0xe3, 0x77, 0xc2, 0xff}, {0x7f, 0x7f, 0x7f, 0xff}, {0xbc, 0xbd, 0x22, 0xff},
	{0x17, 0xbe, 0xcf, 0xff},
}

// LearningCurves draws one panel per metric, stacked vertically, and writes
// the figure to outBase+".png" and outBase+".svg", creating outBase's
// directory if needed. In each panel every label is a coloured line (the
// mean across its runs, see Aggregate) over a translucent band; the legend
// gives the label and its number of seeds. A label keeps its colour in
// every panel. Panels whose metric no run logged are skipped; when that
// leaves nothing to draw the error names the metrics. It returns the paths
// written, which on error are those finished before it.
func LearningCurves(runs []Run, outBase string, opt Options) (files []string, err error) {
	panels := opt.Panels
	if len(panels) == 0 {
		panels = defaultPanels
	}
	colour := labelIndex(runs)

	var plots []*gplot.Plot
	var missing []string
	for _, pn := range panels {
		curves := aggregate(runs, pn.Metric, opt.Band, DefaultGridPoints, opt.Smooth)
		if len(curves) == 0 {
			missing = append(missing, pn.Metric)
			continue
		}
		p, err := newPanel(pn, curves, colour)
		if err != nil {
			return nil, fmt.Errorf("plot: panel %s: %w", pn.Metric, err)
		}
		plots = append(plots, p)
	}
	if len(plots) == 0 {
		return nil, fmt.Errorf("plot: no run has data for %s", strings.Join(missing, ", "))
	}
	plots[0].Title.Text = opt.Title

	w, h := opt.Width, opt.Height
	if w <= 0 {
		w = defaultWidth
	}
	if h <= 0 {
		h = defaultPanelHeight * vg.Length(len(plots))
	}
	if dir := filepath.Dir(outBase); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("plot: %w", err)
		}
	}

	outputs := []struct {
		path   string
		canvas vg.CanvasWriterTo
	}{
		{outBase + ".png", vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(pngDPI))}},
		{outBase + ".svg", vgsvg.New(w, h)},
	}
	for _, out := range outputs {
		drawStacked(out.canvas, plots)
		if err := writeFile(out.path, out.canvas); err != nil {
			return files, err
		}
		files = append(files, out.path)
	}
	return files, nil
}

// labelIndex numbers labels in first-seen order, so colours follow the
// order runs were given in and agree across panels.
func labelIndex(runs []Run) map[string]int {
	idx := make(map[string]int)
	for _, r := range runs {
		if _, ok := idx[r.Label]; !ok {
			idx[r.Label] = len(idx)
		}
	}
	return idx
}

// newPanel builds the plot of one metric. All bands are added before any
// line so that no band veils another label's mean.
func newPanel(pn Panel, curves []Curve, colour map[string]int) (*gplot.Plot, error) {
	p := gplot.New()
	p.X.Label.Text = "env steps"
	p.X.Tick.Marker = stepTicks{}
	p.Y.Label.Text = cmp.Or(pn.YLabel, pn.Metric)
	// Returns and success rates rise, so the top left is usually empty.
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(8), -vg.Points(4)
	p.Legend.Padding = vg.Points(2)
	p.Add(plotter.NewGrid())

	for _, c := range curves {
		if c.N < 2 {
			continue // one seed has no spread to show
		}
		ring := make(plotter.XYs, 0, 2*len(c.Steps))
		for i := range c.Steps {
			ring = append(ring, plotter.XY{X: c.Steps[i], Y: c.High[i]})
		}
		for i := len(c.Steps) - 1; i >= 0; i-- {
			ring = append(ring, plotter.XY{X: c.Steps[i], Y: c.Low[i]})
		}
		band, err := plotter.NewPolygon(ring)
		if err != nil {
			return nil, err
		}
		rgba, _ := lineStyle(colour[c.Label])
		rgba.A = bandAlpha
		band.Color = color.NRGBA(rgba)
		band.LineStyle.Width = 0 // an outline would read as extra curves
		p.Add(band)
	}

	for _, c := range curves {
		xys := make(plotter.XYs, len(c.Steps))
		for i := range c.Steps {
			xys[i] = plotter.XY{X: c.Steps[i], Y: c.Mean[i]}
		}
		line, err := plotter.NewLine(xys)
		if err != nil {
			return nil, err
		}
		rgba, dashes := lineStyle(colour[c.Label])
		line.LineStyle.Color = rgba
		line.LineStyle.Width = vg.Points(1.5)
		line.LineStyle.Dashes = dashes
		p.Add(line)
		p.Legend.Add(fmt.Sprintf("%s (n=%d)", c.Label, c.N), line)
	}
	return p, nil
}

// lineStyle returns the colour and dash pattern of the i-th label. Past
// the palette's end colours repeat, so later cycles are dashed to keep
// labels apart.
func lineStyle(i int) (color.RGBA, []vg.Length) {
	c := palette[i%len(palette)]
	if i < len(palette) {
		return c, nil
	}
	return c, []vg.Length{vg.Points(6), vg.Points(2 * float64(i/len(palette)))}
}

// drawStacked lays plots out in a single column with aligned axes.
func drawStacked(c vg.CanvasWriterTo, plots []*gplot.Plot) {
	grid := make([][]*gplot.Plot, len(plots))
	for i, p := range plots {
		grid[i] = []*gplot.Plot{p}
	}
	tiles := draw.Tiles{
		Rows: len(plots), Cols: 1,
		PadX: vg.Points(6), PadY: vg.Points(10),
		PadTop: vg.Points(6), PadBottom: vg.Points(6),
		PadLeft: vg.Points(6), PadRight: vg.Points(12),
	}
	canvases := gplot.Align(grid, tiles, draw.New(c))
	for i, p := range plots {
		p.Draw(canvases[i][0])
	}
}

// writeFile writes w to path atomically (runfile.WriteAtomic), so a plot
// redrawn while a viewer reads it is never seen half-written.
func writeFile(path string, w io.WriterTo) error {
	err := runfile.WriteAtomic(path, 0o644, func(f io.Writer) error {
		_, err := w.WriteTo(f)
		return err
	})
	if err != nil {
		return fmt.Errorf("plot: writing %s: %w", path, err)
	}
	return nil
}

// stepTicks labels the env-step axis compactly (250k, 1.5M) where the
// default ticker would print 1500000.
type stepTicks struct{}

// Ticks implements gonum's plot.Ticker.
func (stepTicks) Ticks(min, max float64) []gplot.Tick {
	ticks := gplot.DefaultTicks{}.Ticks(min, max)
	for i := range ticks {
		if ticks[i].Label != "" { // minor ticks stay unlabelled
			ticks[i].Label = formatSteps(ticks[i].Value)
		}
	}
	return ticks
}

// formatSteps formats a step count with a k, M or B suffix.
func formatSteps(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return strconv.FormatFloat(v/1e9, 'g', 4, 64) + "B"
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 4, 64) + "M"
	case a >= 1e3:
		return strconv.FormatFloat(v/1e3, 'g', 4, 64) + "k"
	default:
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
}
