package config

import (
	"fmt"
	"strconv"
	"strings"
)

// PriorSpec is the parsed value of the prior key.
type PriorSpec struct {
	Kind    string  // none, uniform, scripted, scripted-wrong, ollama
	Quality float64 // scripted kinds: Q in [0, 1]
	Model   string  // ollama: the model name
}

// ParsePrior reads a prior key value: none, uniform, scripted:Q,
// scripted-wrong:Q or ollama:MODEL.
func ParsePrior(s string) (PriorSpec, error) {
	kind, arg, hasArg := strings.Cut(strings.TrimSpace(s), ":")
	bad := func(why string) (PriorSpec, error) {
		return PriorSpec{}, fmt.Errorf("key \"prior\" = %q %s; want none, uniform, scripted:Q, scripted-wrong:Q (Q in [0, 1]) or ollama:MODEL", s, why)
	}
	switch kind {
	case "none", "uniform":
		if hasArg {
			return bad("takes no argument")
		}
		return PriorSpec{Kind: kind}, nil
	case "scripted", "scripted-wrong":
		q, err := strconv.ParseFloat(arg, 64)
		if !hasArg || err != nil || q < 0 || q > 1 {
			return bad("needs a quality Q in [0, 1], e.g. scripted:0.9")
		}
		return PriorSpec{Kind: kind, Quality: q}, nil
	case "ollama":
		if !hasArg || strings.TrimSpace(arg) == "" {
			return bad("needs a model name, e.g. ollama:llama3.2:1b")
		}
		return PriorSpec{Kind: kind, Model: strings.TrimSpace(arg)}, nil
	}
	return bad("is not a known prior")
}

func (p PriorSpec) String() string {
	switch p.Kind {
	case "scripted", "scripted-wrong":
		return p.Kind + ":" + strconv.FormatFloat(p.Quality, 'g', -1, 64)
	case "ollama":
		return "ollama:" + p.Model
	}
	return p.Kind
}
