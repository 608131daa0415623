package prior

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/env"
)

// ollamaPrior is the LLM prior: an Ollama model scoring text views through
// the asynchronous, cached Service.
type ollamaPrior struct {
	name       string
	ollama     *Ollama
	service    *Service
	cache      *Cache
	memoryOnly bool     // the default cache dir was not writable
	template   Template // what states are asked with (config key prior_template)
}

// TemplateForConfig is the template a language-model prior asks with: the
// prior_template key's, else the env's own.
func TemplateForConfig(cfg config.Config) (Template, error) {
	if cfg.PriorTemplate == "" {
		return TemplateFor(cfg.EnvID), nil
	}
	t, err := TemplateByVersion(cfg.PriorTemplate)
	if err != nil {
		return t, fmt.Errorf("config key prior_template: %w", err)
	}
	return t, nil
}

// CacheDir is where the persistent prior cache lives for a config, and
// whether the user chose it (prior_cache_dir set) rather than lago.
func CacheDir(cfg config.Config) (dir string, explicit bool) {
	if cfg.PriorCacheDir != "" {
		return cfg.PriorCacheDir, true
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "lago", "prior"), false
	}
	return filepath.Join(os.TempDir(), "lago-prior-cache"), false
}

// openCacheFor opens the config's cache. A cache directory the user named
// must work: an unwritable one is an error naming prior_cache_dir. lago's
// default one is a convenience: when it is unwritable (a read-only home, a
// sandbox) training goes on with a memory-only cache, and warn says so.
func openCacheFor(cfg config.Config, warn func(string)) (c *Cache, memoryOnly bool, err error) {
	dir, explicit := CacheDir(cfg)
	c, err = OpenCache(dir, cfg.PriorCacheEntries)
	if err == nil {
		return c, false, nil
	}
	if explicit {
		return nil, false, fmt.Errorf("config key prior_cache_dir: %w; name a writable directory, or leave the key unset for lago's default (memory-only when that is unwritable)", err)
	}
	warn(fmt.Sprintf("%v; the prior cache is memory-only for this run (answers are not kept for the next); set prior_cache_dir to a writable directory to keep them", err))
	c, err = OpenCache("", cfg.PriorCacheEntries)
	return c, true, err
}

// warnStderr prints a warning on the console.
func warnStderr(msg string) { fmt.Fprintln(os.Stderr, "lago: warning: prior:", msg) }

// newOllamaPrior connects to the configured server and opens the cache.
func newOllamaPrior(ctx context.Context, cfg config.Config, model string) (*ollamaPrior, error) {
	tmpl, err := TemplateForConfig(cfg)
	if err != nil {
		return nil, err
	}
	o, err := NewOllama(ctx, OllamaConfigFrom(cfg, model))
	if err != nil {
		return nil, err
	}
	cache, memoryOnly, err := openCacheFor(cfg, warnStderr)
	if err != nil {
		return nil, err
	}
	if s := cache.Stats(); s.Damaged > 0 {
		warnStderr(fmt.Sprintf("the cache log %s has %d damaged record(s); they were skipped and every whole record is kept (`lago prior stats` reports them)", cache.Path(), s.Damaged))
	}
	// The key's "template" part names everything that shapes an answer
	// besides the model and the state: the prompt template and how the
	// second factor is bounded.
	version := fmt.Sprintf("%s/topk=%d", tmpl.Version, cfg.PriorFactorTopK)
	svc, err := NewService(o, cache, version, ServiceConfigFrom(cfg))
	if err != nil {
		cache.Close()
		return nil, err
	}
	return &ollamaPrior{name: "ollama:" + model, ollama: o, service: svc, cache: cache, memoryOnly: memoryOnly, template: tmpl}, nil
}

func (p *ollamaPrior) Name() string { return p.name }

// served is a language-model prior's service, cache and template: the
// ollama: prior's own, and the lm: prior's (which embeds it). Warm-up and
// explanations work on any prior that has one.
type served interface{ served() *ollamaPrior }

func (p *ollamaPrior) served() *ollamaPrior { return p }

func (p *ollamaPrior) Lookup(e env.Env, out []float32) (Key, bool, error) {
	q, err := QuestionWith(e, p.template)
	if err != nil {
		return Key{}, false, err
	}
	if n := q.NumActions(); n != len(out) {
		return Key{}, false, fmt.Errorf("prior %s: the question covers %d actions, the env has %d", p.name, n, len(out))
	}
	if certain(q, out) {
		return Key{}, true, nil
	}
	k, probs, ok := p.service.Lookup(q)
	if ok {
		copy(out, probs)
	}
	return k, ok, nil
}

func (p *ollamaPrior) Get(k Key, out []float32) bool {
	probs, ok := p.service.Get(k)
	if ok && len(probs) == len(out) {
		copy(out, probs)
		return true
	}
	return false
}

func (p *ollamaPrior) Wait(ctx context.Context, keys []Key) error { return p.service.Wait(ctx, keys) }

func (p *ollamaPrior) Metrics() map[string]float64 {
	m := p.service.Metrics()
	m["prior_cache_entries"] = float64(p.cache.Len())
	if p.memoryOnly {
		m["prior_cache_memory_only"] = 1
	}
	return m
}

// Close stops the service, records its traffic in the cache's usage.json
// and closes the cache.
func (p *ollamaPrior) Close() error {
	p.service.Close()
	err := p.cache.AddUsage(p.service.Usage())
	return errors.Join(err, p.cache.Close())
}
