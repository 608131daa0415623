package prior

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func newTestService(t *testing.T, f *fakeOllama, cfg ServiceConfig) *Service {
	t.Helper()
	o := newTestOllama(t, f)
	cache, err := OpenCache(t.TempDir(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = 4096
	}
	if cfg.BreakerFailures == 0 {
		cfg.BreakerFailures, cfg.BreakerBackoff, cfg.BreakerMaxBackoff = breakerFailures, breakerBackoff, breakerMaxBackoff
	}
	s, err := NewService(o, cache, "test-v1", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); cache.Close() })
	return s
}

func genericQ(text string) Question {
	return Question{Text: text, Factors: [][]string{{"a", "b", "c"}}, Template: Generic}
}

func TestLookupNeverBlocksAndDeduplicates(t *testing.T) {
	f := newFakeOllama(t)
	s := newTestService(t, f, ServiceConfig{Parallel: 2, QueueSize: 8})
	f.setFault("block") // every request hangs until released
	before := f.requests.Load()
	// If Lookup waited for the model, this loop would hang (and the test time out).
	var keys []Key
	for i := 0; i < 100; i++ {
		k, _, ok := s.Lookup(genericQ(fmt.Sprintf("state %d", i%3)))
		if ok {
			t.Fatal("a hit before any answer")
		}
		keys = append(keys, k)
	}
	m := s.Metrics()
	if m["prior_queue_depth"] != 3 {
		t.Fatalf("queue depth %v, want 3 distinct states pending", m["prior_queue_depth"])
	}
	f.setFault("")
	close(f.release)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Wait(ctx, keys); err != nil {
		t.Fatal(err)
	}
	if made := f.requests.Load() - before; made != 3 {
		t.Fatalf("%d requests for 3 distinct states", made)
	}
	for _, k := range keys[:3] {
		if p, ok := s.Get(k); !ok || len(p) != 3 {
			t.Fatalf("no answer for %v after Wait", k)
		}
	}
	if _, _, ok := s.Lookup(genericQ("state 1")); !ok {
		t.Fatal("a cached state missed")
	}
}

func TestQueueBoundDropsAndCounts(t *testing.T) {
	f := newFakeOllama(t)
	s := newTestService(t, f, ServiceConfig{Parallel: 1, QueueSize: 2})
	f.setFault("block")
	for i := 0; i < 10; i++ {
		s.Lookup(genericQ(fmt.Sprintf("s%d", i)))
	}
	m := s.Metrics()
	// One request in flight, two queued, the rest dropped.
	if m["prior_dropped"] < 6 || m["prior_queue_depth"] > 3 {
		t.Fatalf("dropped %v, depth %v", m["prior_dropped"], m["prior_queue_depth"])
	}
	f.setFault("")
	close(f.release)
}

// TestServerDiesAndReturns: failures open the breaker, training-side lookups
// keep returning misses at once, and answers resume when the server is back.
func TestServerDiesAndReturns(t *testing.T) {
	f := newFakeOllama(t)
	s := newTestService(t, f, ServiceConfig{Parallel: 1, BreakerFailures: 2, BreakerBackoff: 50 * time.Millisecond, BreakerMaxBackoff: 100 * time.Millisecond})
	if _, _, ok := s.Lookup(genericQ("before")); ok {
		t.Fatal("hit on an empty cache")
	}
	waitAll(t, s, genericQ("before"))
	f.stop()
	for i := 0; i < 5; i++ {
		s.Lookup(genericQ(fmt.Sprintf("down %d", i)))
	}
	deadline := time.Now().Add(5 * time.Second)
	for !s.BreakerOpen() {
		if time.Now().After(deadline) {
			t.Fatal("breaker never opened with the server down")
		}
		time.Sleep(5 * time.Millisecond)
	}
	m := s.Metrics()
	if m["prior_errors_unreachable"] < 2 {
		t.Fatalf("errors %v", m)
	}
	f.restart()
	q := genericQ("after")
	deadline = time.Now().Add(5 * time.Second)
	for {
		if _, _, ok := s.Lookup(q); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer within 5 s of the server's return: %v", s.Metrics())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitAll(t *testing.T, s *Service, qs ...Question) {
	t.Helper()
	var keys []Key
	for _, q := range qs {
		keys = append(keys, s.KeyOf(q))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Wait(ctx, keys); err != nil {
		t.Fatal(err)
	}
}

func TestMetricsReportLatencyAndErrors(t *testing.T) {
	f := newFakeOllama(t)
	s := newTestService(t, f, ServiceConfig{Parallel: 2})
	var qs []Question
	for i := 0; i < 20; i++ {
		q := genericQ(fmt.Sprintf("m%d", i))
		qs = append(qs, q)
		s.Lookup(q)
	}
	waitAll(t, s, qs...)
	f.setFault("500")
	s.Lookup(genericQ("fails"))
	waitAll(t, s, genericQ("fails"))
	m := s.Metrics()
	for _, k := range []string{"prior_hit_rate", "prior_latency_p50_ms", "prior_latency_p95_ms", "prior_requests_per_s", "prior_errors_http_status"} {
		if _, ok := m[k]; !ok {
			t.Errorf("metrics lack %s: %v", k, m)
		}
	}
	if m["prior_requests"] != 21 || m["prior_hit_rate"] != 0 {
		t.Errorf("requests %v hit rate %v", m["prior_requests"], m["prior_hit_rate"])
	}
	if again := s.Metrics(); again["prior_requests"] != 0 {
		t.Errorf("metrics not reset: %v", again)
	}
}
