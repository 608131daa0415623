package prior

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/lago-rl/lago/engine/config"
)

// Scorer answers questions; *Ollama is the real one, tests use fakes.
type Scorer interface {
	Score(ctx context.Context, q Question) (Result, error)
	Digest() string
}

// ServiceConfig sizes the service. Every field is explicit (NewService
// refuses zero values); ServiceConfigFrom fills them from a config.
type ServiceConfig struct {
	// Parallel is the number of concurrent requests (match the server's
	// OLLAMA_NUM_PARALLEL).
	Parallel int
	// QueueSize bounds the misses waiting for a request; past it, misses are
	// dropped (and asked again on a later lookup).
	QueueSize int
	// BreakerFailures consecutive failures open the circuit breaker, which
	// then backs off from BreakerBackoff, doubling up to BreakerMaxBackoff,
	// trying one request each time until one succeeds.
	BreakerFailures   int
	BreakerBackoff    time.Duration
	BreakerMaxBackoff time.Duration
}

// The circuit breaker's settings. They are not config keys: they bound how
// fast a failing server is retried, which no experiment needs to tune.
const (
	breakerFailures   = 3
	breakerBackoff    = time.Second
	breakerMaxBackoff = 30 * time.Second
)

// ServiceConfigFrom is the service's configuration under cfg.
func ServiceConfigFrom(cfg config.Config) ServiceConfig {
	return ServiceConfig{
		Parallel: cfg.OllamaParallel, QueueSize: cfg.PriorQueue,
		BreakerFailures: breakerFailures, BreakerBackoff: breakerBackoff, BreakerMaxBackoff: breakerMaxBackoff,
	}
}

func (c ServiceConfig) check() error {
	switch {
	case c.Parallel < 1:
		return fmt.Errorf("config key ollama_parallel: %d < 1", c.Parallel)
	case c.QueueSize < 1:
		return fmt.Errorf("config key prior_queue: %d < 1", c.QueueSize)
	case c.BreakerFailures < 1 || c.BreakerBackoff <= 0 || c.BreakerMaxBackoff < c.BreakerBackoff:
		return fmt.Errorf("prior: circuit breaker of %d failures, backoff %v up to %v: want ≥ 1 failure and 0 < backoff ≤ max",
			c.BreakerFailures, c.BreakerBackoff, c.BreakerMaxBackoff)
	}
	return nil
}

// Service is the prior's asynchronous front: lookups return at once (a hit,
// or a miss that is queued, de-duplicated by key, for a fixed pool of
// requests), and answers fill the cache. Rollouts never wait on the model.
type Service struct {
	cfg      ServiceConfig
	scorer   Scorer
	cache    *Cache
	template string

	queue   chan job
	ctx     context.Context
	cancel  context.CancelFunc
	workers sync.WaitGroup

	mu        sync.Mutex
	pending   map[Key]bool
	answered  *sync.Cond // broadcast whenever a request ends
	breaker   breaker
	stats     serviceStats
	total     Usage
	lastStats time.Time
}

type job struct {
	key Key
	q   Question
}

// Usage is the service's traffic since it started (for the cache's usage.json).
func (s *Service) Usage() Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

type serviceStats struct {
	hits, misses, dropped, requests, calls int64
	errors                                 map[ErrKind]int64
	latencies                              []time.Duration
}

type breaker struct {
	failures int
	openTill time.Time
	backoff  time.Duration
	trips    int64
}

// NewService starts the request workers. template is the prompt template's
// version (part of every key, with the scorer's model digest).
func NewService(scorer Scorer, cache *Cache, template string, cfg ServiceConfig) (*Service, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{
		cfg: cfg, scorer: scorer, cache: cache, template: template,
		queue: make(chan job, cfg.QueueSize), ctx: ctx, cancel: cancel,
		pending: map[Key]bool{}, lastStats: time.Now(),
	}
	s.answered = sync.NewCond(&s.mu)
	s.stats.errors = map[ErrKind]int64{}
	for i := 0; i < cfg.Parallel; i++ {
		s.workers.Add(1)
		go s.work()
	}
	return s, nil
}

// Close stops the workers; queued misses are abandoned.
func (s *Service) Close() {
	s.cancel()
	s.mu.Lock()
	s.answered.Broadcast()
	s.mu.Unlock()
	s.workers.Wait()
}

// KeyOf is the cache key of a question for this service's model and template.
func (s *Service) KeyOf(q Question) Key { return MakeKey(s.scorer.Digest(), s.template, q.Text) }

// Lookup returns the prior for q if known. Otherwise it queues q (once per
// key) and reports a miss. It never blocks.
func (s *Service) Lookup(q Question) (Key, []float32, bool) {
	k := s.KeyOf(q)
	if e, ok := s.cache.Get(k); ok {
		s.mu.Lock()
		s.stats.hits++
		s.total.Hits++
		s.total.Lookups++
		s.mu.Unlock()
		return k, e.Probs, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.misses++
	s.total.Lookups++
	if s.pending[k] {
		return k, nil, false
	}
	select {
	case s.queue <- job{k, q}:
		s.pending[k] = true
	default:
		s.stats.dropped++
	}
	return k, nil, false
}

// Get returns the prior stored under k, if any (answers arrive over time).
func (s *Service) Get(k Key) ([]float32, bool) {
	e, ok := s.cache.Get(k)
	return e.Probs, ok
}

// Wait blocks until none of keys is still pending (answered or failed), or
// ctx ends.
func (s *Service) Wait(ctx context.Context, keys []Key) error {
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.answered.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		busy := false
		for _, k := range keys {
			if s.pending[k] {
				busy = true
				break
			}
		}
		if !busy {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.ctx.Err() != nil {
			return errors.New("prior service closed")
		}
		s.answered.Wait()
	}
}

func (s *Service) work() {
	defer s.workers.Done()
	for {
		var j job
		select {
		case <-s.ctx.Done():
			return
		case j = <-s.queue:
		}
		if !s.waitForBreaker() {
			return
		}
		start := time.Now()
		res, err := s.scorer.Score(s.ctx, j.q)
		took := time.Since(start)
		if err == nil {
			err = s.cache.Put(j.key, res.Entry)
		}
		s.mu.Lock()
		s.stats.requests++
		s.stats.calls += int64(res.Calls)
		s.total.Calls += int64(res.Calls)
		for _, k := range res.Soft {
			s.stats.errors[k]++
		}
		if err != nil {
			var se *ScoreError
			kind := ErrMalformed
			if errors.As(err, &se) {
				kind = se.Kind
			}
			if s.ctx.Err() == nil {
				s.stats.errors[kind]++
				s.failLocked()
			}
		} else {
			s.stats.latencies = append(s.stats.latencies, took)
			s.breaker.failures = 0
			s.breaker.backoff = 0
		}
		delete(s.pending, j.key)
		s.answered.Broadcast()
		s.mu.Unlock()
	}
}

// failLocked counts a failure and opens the breaker after enough in a row.
func (s *Service) failLocked() {
	b := &s.breaker
	b.failures++
	if b.failures < s.cfg.BreakerFailures {
		return
	}
	if b.backoff == 0 {
		b.backoff = s.cfg.BreakerBackoff
	} else {
		b.backoff = min(2*b.backoff, s.cfg.BreakerMaxBackoff)
	}
	b.openTill = time.Now().Add(b.backoff)
	b.trips++
	// Let exactly one request through when it reopens (half-open): the
	// next failure reopens at once.
	b.failures = s.cfg.BreakerFailures - 1
}

// waitForBreaker sleeps while the breaker is open; false when closing.
func (s *Service) waitForBreaker() bool {
	for {
		s.mu.Lock()
		wait := time.Until(s.breaker.openTill)
		s.mu.Unlock()
		if wait <= 0 {
			return true
		}
		select {
		case <-s.ctx.Done():
			return false
		case <-time.After(wait):
		}
	}
}

// BreakerOpen reports whether requests are held back after failures.
func (s *Service) BreakerOpen() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Now().Before(s.breaker.openTill)
}

// Metrics returns the figures since the last call and resets them: lookups'
// hit rate, queue depth, requests/s, latency p50/p95 (ms), errors by kind.
func (s *Service) Metrics() map[string]float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	elapsed := time.Since(s.lastStats).Seconds()
	m := map[string]float64{
		"prior_lookups":       float64(st.hits + st.misses),
		"prior_queue_depth":   float64(len(s.pending)),
		"prior_requests":      float64(st.requests),
		"prior_llm_calls":     float64(st.calls),
		"prior_dropped":       float64(st.dropped),
		"prior_breaker_trips": float64(s.breaker.trips),
	}
	if n := st.hits + st.misses; n > 0 {
		m["prior_hit_rate"] = float64(st.hits) / float64(n)
	}
	if elapsed > 0 {
		m["prior_requests_per_s"] = float64(st.requests) / elapsed
	}
	if len(st.latencies) > 0 {
		sort.Slice(st.latencies, func(a, b int) bool { return st.latencies[a] < st.latencies[b] })
		q := func(f float64) float64 {
			return float64(st.latencies[int(f*float64(len(st.latencies)-1))].Microseconds()) / 1000
		}
		m["prior_latency_p50_ms"] = q(0.5)
		m["prior_latency_p95_ms"] = q(0.95)
	}
	for k, v := range st.errors {
		m["prior_errors_"+string(k)] = float64(v)
	}
	s.stats = serviceStats{errors: map[ErrKind]int64{}, latencies: st.latencies[:0]}
	s.lastStats = time.Now()
	return m
}
