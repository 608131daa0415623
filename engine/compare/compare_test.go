package compare

import (
	"math"
	"strings"
	"testing"

	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/plot"
)

func TestAUC(t *testing.T) {
	cases := []struct {
		name  string
		pts   []plot.Point
		total float64
		want  float64
	}{
		{"none", nil, 100, 0},
		{"flat", []plot.Point{{Step: 0, Value: 0.5}, {Step: 100, Value: 0.5}}, 100, 0.5},
		{"ramp", []plot.Point{{Step: 0, Value: 0}, {Step: 100, Value: 1}}, 100, 0.5},
		// Held flat before the first point and after the last.
		{"held", []plot.Point{{Step: 50, Value: 1}}, 100, 1},
		{"unsorted", []plot.Point{{Step: 100, Value: 1}, {Step: 0, Value: 0}, {Step: 50, Value: 1}}, 100, 0.75},
	}
	for _, c := range cases {
		if got := AUC(c.pts, c.total); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: AUC %v, want %v", c.name, got, c.want)
		}
	}
}

func TestSlugAndMarkdown(t *testing.T) {
	if got := Slug("ollama:llama3.2:1b"); got != "ollama-llama3.2-1b" {
		t.Fatalf("Slug = %q", got)
	}
	md := Markdown(Options{Base: config.Default(), Seeds: 5, Steps: 1000}, []Row{
		{Prior: "none", Seeds: 5, SuccessMean: 0.1, SuccessCI95Low: 0.05, SuccessCI95High: 0.15, AUC: 0.07},
		{Prior: "scripted:0.9", Seeds: 5, SuccessMean: 0.4, SuccessCI95Low: 0.3, SuccessCI95High: 0.5, LLMCalls: 0},
	})
	for _, want := range []string{"| none | 0.100 [0.050, 0.150]", "| scripted:0.9 | 0.400 [0.300, 0.500]", "5 seeds per prior, 1000 env steps"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}
