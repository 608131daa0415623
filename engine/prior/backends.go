package prior

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/env"
)

// Prior gives a distribution over a discrete-action env's actions for its
// current state. LaGO's regulariser pulls the policy towards it.
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

// New builds the prior a config names; nil for "none".
func New(ctx context.Context, cfg config.Config) (Prior, error) {
	spec, err := config.ParsePrior(cfg.Prior)
	if err != nil {
		return nil, err
	}
	switch spec.Kind {
	case "none":
		return nil, nil
	case "uniform":
		return &scripted{name: "uniform"}, nil
	case "scripted", "scripted-wrong":
		return &scripted{name: spec.String(), q: spec.Quality, wrong: spec.Kind == "scripted-wrong"}, nil
	}
	return NewOllamaPrior(ctx, cfg, spec.Model)
}

// scripted mixes the env's scripted expert with uniform at quality q:
// p = q·onehot(expert) + (1−q)/n. With q = 0 (and for "uniform") it is
// uniform, so the KL to it is minus the policy's entropy plus a constant: a
// pure entropy bonus. Controlled quality is how lago tests the claim that
// stronger priors guide better, without LLM weights.
// Lookup may run concurrently for different envs (it keeps no state).
type scripted struct {
	name  string
	q     float64
	wrong bool
}

func (s *scripted) Name() string { return s.name }

func (s *scripted) Lookup(e env.Env, out []float32) (Key, bool, error) {
	n := len(out)
	u := float32((1 - s.q) / float64(n))
	for i := range out {
		out[i] = u
	}
	if s.q == 0 {
		return Key{}, true, nil
	}
	a := make([]float32, e.ActionSpace().Dim())
	if s.wrong {
		w, ok := e.(env.WrongExpert)
		if !ok {
			return Key{}, false, fmt.Errorf("prior %s: %s has no wrong-goal expert", s.name, e.Spec().ID)
		}
		w.WrongExpertAction(a)
	} else {
		x, ok := e.(env.Expert)
		if !ok {
			return Key{}, false, fmt.Errorf("prior %s: %s has no scripted expert", s.name, e.Spec().ID)
		}
		x.ExpertAction(a)
	}
	i := int(a[0])
	if i < 0 || i >= n {
		return Key{}, false, fmt.Errorf("prior %s: expert action %d outside the %d actions", s.name, i, n)
	}
	out[i] += float32(s.q)
	return Key{}, true, nil
}

// Get is never needed: a scripted prior is known at lookup.
func (s *scripted) Get(Key, []float32) bool           { return false }
func (s *scripted) Wait(context.Context, []Key) error { return nil }
func (s *scripted) Metrics() map[string]float64       { return nil }
func (s *scripted) Close() error                      { return nil }

// OllamaPrior is the LLM prior: an Ollama model scoring text views through
// the asynchronous, cached Service.
type OllamaPrior struct {
	name    string
	ollama  *Ollama
	service *Service
	cache   *Cache
}

// CacheDir is where the persistent prior cache lives for a config.
func CacheDir(cfg config.Config) string {
	if cfg.PriorCacheDir != "" {
		return cfg.PriorCacheDir
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "lago", "prior")
	}
	return filepath.Join(os.TempDir(), "lago-prior-cache")
}

// NewOllamaPrior connects to the configured server and opens the cache.
func NewOllamaPrior(ctx context.Context, cfg config.Config, model string) (*OllamaPrior, error) {
	o, err := NewOllama(ctx, OllamaConfig{
		Host: cfg.OllamaHost, Model: model, Seed: int(cfg.Seed),
		Timeout:         time.Duration(cfg.OllamaTimeout * float64(time.Second)),
		FactorTopK:      cfg.PriorFactorTopK,
		FallbackSamples: cfg.PriorFallbackSamples,
	})
	if err != nil {
		return nil, err
	}
	cache, err := OpenCache(CacheDir(cfg), cfg.PriorCacheEntries)
	if err != nil {
		return nil, err
	}
	// The key's "template" part names everything that shapes an answer
	// besides the model and the state: the prompt template and how the
	// second factor is bounded.
	version := fmt.Sprintf("%s/topk=%d", TemplateFor(cfg.EnvID).Version, cfg.PriorFactorTopK)
	svc := NewService(o, cache, version, ServiceConfig{Parallel: cfg.OllamaParallel, QueueSize: cfg.PriorQueue})
	return &OllamaPrior{name: "ollama:" + model, ollama: o, service: svc, cache: cache}, nil
}

func (p *OllamaPrior) Name() string { return p.name }

// Ollama is the scorer behind the prior (for `lago prior show`).
func (p *OllamaPrior) Ollama() *Ollama { return p.ollama }

// Service is the asynchronous front of the prior.
func (p *OllamaPrior) Service() *Service { return p.service }

func (p *OllamaPrior) Lookup(e env.Env, out []float32) (Key, bool, error) {
	q, err := QuestionFor(e)
	if err != nil {
		return Key{}, false, err
	}
	if n := q.NumActions(); n != len(out) {
		return Key{}, false, fmt.Errorf("prior %s: the question covers %d actions, the env has %d", p.name, n, len(out))
	}
	k, probs, ok := p.service.Lookup(q)
	if ok {
		copy(out, probs)
	}
	return k, ok, nil
}

func (p *OllamaPrior) Get(k Key, out []float32) bool {
	probs, ok := p.service.Get(k)
	if ok && len(probs) == len(out) {
		copy(out, probs)
		return true
	}
	return false
}

func (p *OllamaPrior) Wait(ctx context.Context, keys []Key) error { return p.service.Wait(ctx, keys) }

func (p *OllamaPrior) Metrics() map[string]float64 {
	m := p.service.Metrics()
	m["prior_cache_entries"] = float64(p.cache.Len())
	return m
}

// Close stops the service, records its traffic in the cache's usage.json
// and closes the cache.
func (p *OllamaPrior) Close() error {
	p.service.Close()
	err := p.cache.AddUsage(p.service.Usage())
	return errors.Join(err, p.cache.Close())
}

// Cache is the prior's cache.
func (p *OllamaPrior) Cache() *Cache { return p.cache }
