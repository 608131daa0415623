package config

import (
	"fmt"
	"strconv"
	"strings"
)

// PriorKind is the kind part of the prior key's value.
type PriorKind string

// The prior kinds, in the order the key's doc lists them.
const (
	PriorNone          PriorKind = "none"
	PriorUniform       PriorKind = "uniform"
	PriorScripted      PriorKind = "scripted"
	PriorScriptedWrong PriorKind = "scripted-wrong"
	PriorOllama        PriorKind = "ollama"
	PriorLM            PriorKind = "lm"
)

// PriorKinds lists every kind, for error messages.
const PriorKinds = "none, uniform, scripted:Q, scripted-wrong:Q (Q in [0, 1]), ollama:MODEL or lm:PATH.gguf"

// PriorSpec is the parsed value of the prior key.
type PriorSpec struct {
	Kind    PriorKind
	Quality float64 // scripted kinds: Q in [0, 1]
	Model   string  // ollama: the model name; lm: the GGUF file's path
}

// ParsePrior reads a prior key value: none, uniform, scripted:Q,
// scripted-wrong:Q, ollama:MODEL or lm:PATH.gguf.
func ParsePrior(s string) (PriorSpec, error) {
	name, arg, hasArg := strings.Cut(strings.TrimSpace(s), ":")
	kind := PriorKind(name)
	bad := func(why string) (PriorSpec, error) {
		return PriorSpec{}, fmt.Errorf("config key prior: %q %s; want %s", s, why, PriorKinds)
	}
	switch kind {
	case PriorNone, PriorUniform:
		if hasArg {
			return bad("takes no argument")
		}
		return PriorSpec{Kind: kind}, nil
	case PriorScripted, PriorScriptedWrong:
		q, err := strconv.ParseFloat(arg, 64)
		if !hasArg || err != nil || q < 0 || q > 1 {
			return bad("needs a quality Q in [0, 1], e.g. scripted:0.9")
		}
		return PriorSpec{Kind: kind, Quality: q}, nil
	case PriorOllama:
		if !hasArg || strings.TrimSpace(arg) == "" {
			return bad("needs a model name, e.g. ollama:llama3.2:1b")
		}
		return PriorSpec{Kind: kind, Model: strings.TrimSpace(arg)}, nil
	case PriorLM:
		if !hasArg || strings.TrimSpace(arg) == "" {
			return bad("needs a GGUF file, e.g. lm:models/clevr-m.gguf")
		}
		return PriorSpec{Kind: kind, Model: strings.TrimSpace(arg)}, nil
	}
	return bad("is not a known prior")
}

func (p PriorSpec) String() string {
	switch p.Kind {
	case PriorScripted, PriorScriptedWrong:
		return string(p.Kind) + ":" + strconv.FormatFloat(p.Quality, 'g', -1, 64)
	case PriorOllama, PriorLM:
		return string(p.Kind) + ":" + p.Model
	}
	return string(p.Kind)
}
