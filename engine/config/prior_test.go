package config

import (
	"strings"
	"testing"
)

func TestParsePrior(t *testing.T) {
	cases := []struct {
		in   string
		want PriorSpec
		err  string
	}{
		{"none", PriorSpec{Kind: "none"}, ""},
		{"uniform", PriorSpec{Kind: "uniform"}, ""},
		{"scripted:0.9", PriorSpec{Kind: "scripted", Quality: 0.9}, ""},
		{"scripted-wrong:0", PriorSpec{Kind: "scripted-wrong", Quality: 0}, ""},
		{"ollama:llama3.2:1b", PriorSpec{Kind: "ollama", Model: "llama3.2:1b"}, ""},
		{"scripted", PriorSpec{}, "needs a quality"},
		{"scripted:1.5", PriorSpec{}, "needs a quality"},
		{"ollama:", PriorSpec{}, "needs a model"},
		{"uniform:3", PriorSpec{}, "takes no argument"},
		{"gpt", PriorSpec{}, "not a known prior"},
	}
	for _, c := range cases {
		got, err := ParsePrior(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), `config key prior:`) {
				t.Errorf("ParsePrior(%q) error %v, want one naming the key and %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParsePrior(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
		if again, _ := ParsePrior(got.String()); again != got {
			t.Errorf("%q does not round-trip through String: %q", c.in, got.String())
		}
	}
	bad := Default()
	bad.Prior = "scripted:2"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "prior") {
		t.Errorf("Validate let prior = scripted:2 through: %v", err)
	}
}
