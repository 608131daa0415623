package prior

import (
	"context"
	"slices"
	"testing"
	"time"
)

// probePrompts are NewOllama's start-up probe (one per prior opened): it
// asks whether the server returns log-probabilities, not about a state.
var probePrompts = []string{"Answer: A\nAnswer:", "Options:\nA. yes\nB. no\nAnswer:", "The letter after A is"}

// stateCalls counts the fake's requests about states since the last call.
func (f *fakeOllama) stateCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, p := range f.prompts {
		if !slices.Contains(probePrompts, p) {
			n++
		}
	}
	f.prompts = nil
	return n
}

// A rerun of the same rollouts (a comparison run again: same seeds, same
// states) is answered from the persistent cache without one model call;
// a server of another version, or one running the other engine, is not
// answered from the old entries (their keys differ), so it is asked again.
func TestRerunMakesNoModelCalls(t *testing.T) {
	f := newFakeOllama(t)
	cfg := fakePriorConfig(t, f)
	cfg.NumEnvs, cfg.NumWorkers = 2, 1
	rollout := func(what string) int {
		t.Helper()
		p, err := New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		r, err := WarmEnv(context.Background(), p, cfg, 3, WarmOptions{Steps: 200, Wait: 10 * time.Second})
		if err != nil || !r.Drained {
			t.Fatalf("%s: %+v, %v", what, r, err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		return f.stateCalls()
	}
	if n := rollout("first run"); n == 0 {
		t.Fatal("the first run asked the model nothing")
	}
	if n := rollout("rerun"); n != 0 {
		t.Errorf("the rerun made %d model calls, want 0 (all answered from the cache)", n)
	}
	f.mu.Lock()
	f.version = "0.18.0"
	f.mu.Unlock()
	if n := rollout("another server version"); n == 0 {
		t.Error("a server of another version was answered from the old version's cache entries")
	}
	cfg.OllamaNewEngine = true
	if n := rollout("the other engine"); n == 0 {
		t.Error("the new engine was answered from the llama.cpp runner's cache entries")
	}
	if n := rollout("the other engine again"); n != 0 {
		t.Errorf("the rerun on the new engine made %d model calls, want 0", n)
	}
}

// The key of a question names the model's digest, the template version,
// the server's version and its engine: changing any one changes it.
func TestOllamaKeyParts(t *testing.T) {
	f := newFakeOllama(t)
	q := clevrQuestion("scene")
	key := func(newEngine bool) Key {
		c := testOllamaConfig(f.addr, "tiny", 2*time.Second)
		c.NewEngine = newEngine
		o, err := NewOllama(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		return MakeKey(o.Digest(), "clevr-v1/topk=2", q.Text)
	}
	base := key(false)
	if key(true) == base {
		t.Error("the engine does not change the key")
	}
	f.mu.Lock()
	f.version = "0.0.0"
	f.mu.Unlock()
	if key(false) == base {
		t.Error("the server version does not change the key")
	}
}
