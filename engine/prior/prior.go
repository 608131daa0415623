// Package prior gives LaGO its prior for an env's state: a distribution over
// a discrete-action env's actions, or over a continuous env's latent skills
// (env.Skilled). Its backends: scripted priors of controlled quality, an LLM
// served by Ollama, and lago's own llama engine in-process (lm:), the last
// two behind an asynchronous service and a persistent cache.
package prior

import (
	"context"
	"fmt"

	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/env"
)

// Prior gives a distribution over a discrete-action env's actions (or a
// skilled continuous env's skills) for its current state. LaGO's regulariser pulls the policy towards it.
type Prior interface {
	// Name is the prior's spec, e.g. "scripted:0.9" or "ollama:tiny".
	Name() string
	// Lookup writes the prior of e's current state into out (one entry per
	// action) when it is known, and returns the state's key either way. It
	// never blocks: an asynchronous prior queues what it does not know. It
	// is safe to call concurrently for different envs.
	Lookup(e env.Env, out []float32) (k Key, ok bool, err error)
	// Get writes the prior stored under k into out, if it has arrived.
	Get(k Key, out []float32) bool
	// Wait blocks until none of keys is still being scored, or ctx ends.
	Wait(ctx context.Context, keys []Key) error
	// Metrics returns the prior's figures since the last call.
	Metrics() map[string]float64
	Close() error
}

// New builds the prior a config names; nil (an untyped nil Prior) for
// "none".
func New(ctx context.Context, cfg config.Config) (Prior, error) {
	spec, err := config.ParsePrior(cfg.Prior)
	if err != nil {
		return nil, err
	}
	switch spec.Kind {
	case config.PriorNone:
		return nil, nil
	case config.PriorUniform:
		return &scripted{name: string(config.PriorUniform)}, nil
	case config.PriorScripted, config.PriorScriptedWrong:
		return &scripted{name: spec.String(), q: spec.Quality, wrong: spec.Kind == config.PriorScriptedWrong}, nil
	case config.PriorOllama:
		p, err := newOllamaPrior(ctx, cfg, spec.Model)
		if err != nil {
			return nil, err // not p: a nil *ollamaPrior would be a non-nil Prior
		}
		return p, nil
	case config.PriorLM:
		p, err := newLMPrior(cfg, spec.Model)
		if err != nil {
			return nil, err
		}
		return p, nil
	}
	return nil, fmt.Errorf("config key prior: kind %q has no implementation; want %s", spec.Kind, config.PriorKinds)
}
