package plot

import (
	"bytes"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot/vg"
)

// curveRuns writes and loads seeds of two experiments with rising returns,
// a success rate, and no return on some iterations.
func curveRuns(t *testing.T, withSuccess bool) []Run {
	t.Helper()
	root := t.TempDir()
	var runs []Run
	for li, label := range []string{"ppo", "ppo-lstm"} {
		scale := 3e4 * float64(li+1) // the second experiment learns slower
		for seed := 1; seed <= 3; seed++ {
			var b strings.Builder
			for it := 1; it <= 40; it++ {
				step := it * 2048
				fmt.Fprintf(&b, `{"global_step":%d,"iteration":%d,"sps":1500`, step, it)
				if it%4 != 0 { // every fourth iteration finishes no episode
					ret := 500*(1-math.Exp(-float64(step)/scale)) + 20*float64(seed) + 10*math.Sin(float64(it))
					fmt.Fprintf(&b, `,"episodic_return":%.3f`, ret)
					if withSuccess {
						fmt.Fprintf(&b, `,"episodic_success":%.3f`, math.Min(1, float64(step)/(2*scale)))
					}
				}
				b.WriteString("}\n")
			}
			dir := filepath.Join(root, fmt.Sprintf("%s_%d", label, seed))
			run, err := LoadRun(writeRun(t, dir, config(label, seed), b.String()))
			if err != nil {
				t.Fatal(err)
			}
			runs = append(runs, run)
		}
	}
	return runs
}

func TestLearningCurves(t *testing.T) {
	tests := []struct {
		name        string
		withSuccess bool
		opt         Options
		wantW       int
		wantH       int
	}{
		{"default panels", true, Options{Title: "CartPole-v1"}, 1050, 900}, // 7in × 2·3in at 150 dpi
		{"success missing", false, Options{Band: CI95, Smooth: 5}, 1050, 450},
		{"sized", true, Options{Width: 6 * vg.Inch, Height: 4 * vg.Inch, Panels: []Panel{
			{Metric: "episodic_return"}, {Metric: "sps", YLabel: "steps per second"},
		}}, 900, 600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := filepath.Join(t.TempDir(), "figs", "curves")
			files, err := LearningCurves(curveRuns(t, tt.withSuccess), base, tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{base + ".png", base + ".svg"}; fmt.Sprint(files) != fmt.Sprint(want) {
				t.Fatalf("files = %v, want %v", files, want)
			}

			data, err := os.ReadFile(files[0])
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("decoding %s: %v", files[0], err)
			}
			if b := img.Bounds(); b.Dx() != tt.wantW || b.Dy() != tt.wantH {
				t.Errorf("PNG is %dx%d, want %dx%d", b.Dx(), b.Dy(), tt.wantW, tt.wantH)
			}

			svg, err := os.ReadFile(files[1])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(svg, []byte("<?xml")) && !bytes.HasPrefix(svg, []byte("<svg")) {
				t.Errorf("SVG starts with %q", svg[:min(len(svg), 20)])
			}
			if !bytes.Contains(svg, []byte("ppo-lstm (n=3)")) {
				t.Error("SVG legend lacks \"ppo-lstm (n=3)\"")
			}
		})
	}
}

func TestLearningCurvesNoData(t *testing.T) {
	runs := curveRuns(t, false)
	base := filepath.Join(t.TempDir(), "curves")
	_, err := LearningCurves(runs, base, Options{Panels: []Panel{{Metric: "episodic_success"}, {Metric: "kl"}}})
	if err == nil || !strings.Contains(err.Error(), "episodic_success, kl") {
		t.Fatalf("error = %v, want one naming episodic_success and kl", err)
	}
	if _, err := os.Stat(base + ".png"); !os.IsNotExist(err) {
		t.Errorf("a figure was written despite the error (stat: %v)", err)
	}
	if _, err := LearningCurves(nil, base, Options{}); err == nil {
		t.Error("no runs gave no error")
	}
}

func TestFormatSteps(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0"},
		{500, "500"},
		{2048, "2.048k"},
		{250000, "250k"},
		{1.5e6, "1.5M"},
		{1e7, "10M"},
		{2e9, "2B"},
	}
	for _, tt := range tests {
		if got := formatSteps(tt.v); got != tt.want {
			t.Errorf("formatSteps(%g) = %q, want %q", tt.v, got, tt.want)
		}
	}
}
