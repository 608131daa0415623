package plot

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGainVsX(t *testing.T) {
	base := Estimate{Mean: 0.44, Low: 0.39, High: 0.48}
	pts := []GainPoint{
		{Label: "lm:s.gguf", X: 0.6, Final: Estimate{Mean: 0.47, Low: 0.42, High: 0.52}},
		{Label: "lm:l.gguf", X: 0.85, Final: Estimate{Mean: 0.55, Low: 0.51, High: 0.58}},
	}
	out := filepath.Join(t.TempDir(), "sub", "gain")
	files, err := GainVsX(pts, base, out, GainOptions{Title: "t", XLabel: "agreement"})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 {
		t.Fatalf("files %v", files)
	}
	svg, err := os.ReadFile(out + ".svg")
	if err != nil {
		t.Fatal(err)
	}
	// The legend gives each point's x and gain, so the figure is readable without the table.
	for _, want := range []string{"lm:s.gguf (0.600, +0.030)", "lm:l.gguf (0.850, +0.110)", "95% CI"} {
		if !strings.Contains(string(svg), want) {
			t.Errorf("svg lacks %q", want)
		}
	}
	if st, err := os.Stat(out + ".png"); err != nil || st.Size() == 0 {
		t.Errorf("png: %v", err)
	}

	for _, c := range []struct {
		name string
		pts  []GainPoint
		base Estimate
		want string
	}{
		{"no points", nil, base, "no points"},
		{"NaN baseline", pts, Estimate{Mean: math.NaN()}, "baseline"},
		{"NaN x", []GainPoint{{Label: "p", X: math.NaN()}}, base, `point "p"`},
	} {
		if _, err := GainVsX(c.pts, c.base, filepath.Join(t.TempDir(), "g"), GainOptions{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v; want %q", c.name, err, c.want)
		}
	}
}
