package prior

import (
	"context"
	"fmt"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/lm"
)

// lmParallel is how many states the service hands the in-process scorer at
// once: the scorer gathers concurrent questions into one batched forward
// pass, so the service must keep that many in flight for batches to form.
const lmParallel = 64

// lmPrior is the `lm:PATH.gguf` prior: lago's own llama engine scores the
// same prompts an `ollama:` prior sends, in-process and batched, behind the
// same asynchronous service and persistent cache. Its cache keys name the
// engine and the file's digest (lm.Scorer.Digest), so they never mix with an
// Ollama server's answers for the same GGUF.
type lmPrior struct {
	ollamaPrior // the service, cache and lookups are the same; only the scorer differs
	scorer      *lm.Scorer
}

// lmScorer adapts lm.Scorer to the service's Scorer.
type lmScorer struct{ s *lm.Scorer }

func (l lmScorer) Score(ctx context.Context, q Question) (Result, error) {
	r, err := l.s.Score(ctx, lm.Query{Prompt: q.Prompt, Factors: q.Factors})
	if err != nil {
		return Result{}, err
	}
	return Result{Entry: Entry{Probs: toFloat32(r.Probs), Mode: ModeLogprobs}, Calls: r.Calls}, nil
}

func (l lmScorer) Digest() string { return l.s.Digest() }

// newLMPrior loads the GGUF at path and opens the cache.
func newLMPrior(cfg config.Config, path string) (*lmPrior, error) {
	tmpl, err := TemplateForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dev, err := torch.ParseDevice(cfg.Device)
	if err != nil {
		return nil, fmt.Errorf("config key device: %w", err)
	}
	// f16kv, not the scorer's default f16fa: within ~5e-3 nats of Ollama's
	// log-probabilities rather than 1e-3, at a quarter of the CPU per state
	// (22 against 82 ms on clevr-compact-v1, bench/results/lm-engine.md),
	// which decides a run that scores ~17k states. Its cache keys say so.
	s, err := lm.OpenScorer(path, lm.ScorerOptions{Device: dev.String(), FactorTopK: cfg.PriorFactorTopK, Engine: lm.EngineF16KV})
	if err != nil {
		return nil, fmt.Errorf("config key prior: lm:%s: %w", path, err)
	}
	cache, memoryOnly, err := openCacheFor(cfg, warnStderr)
	if err != nil {
		s.Close()
		return nil, err
	}
	version := fmt.Sprintf("%s/topk=%d", tmpl.Version, cfg.PriorFactorTopK)
	sc := ServiceConfigFrom(cfg)
	sc.Parallel = max(sc.Parallel, lmParallel)
	svc, err := NewService(lmScorer{s}, cache, version, sc)
	if err != nil {
		cache.Close()
		s.Close()
		return nil, err
	}
	return &lmPrior{
		ollamaPrior: ollamaPrior{name: "lm:" + path, service: svc, cache: cache, memoryOnly: memoryOnly, template: tmpl},
		scorer:      s,
	}, nil
}

// Close stops the service, then the scorer it was calling.
func (p *lmPrior) Close() error {
	err := p.ollamaPrior.Close()
	p.scorer.Close()
	return err
}
