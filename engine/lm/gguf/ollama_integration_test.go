//go:build ollama

package gguf

// A smoke test of the tiny model served by a real Ollama: `make test-ollama`
// starts the server, creates the model and sets LAGO_OLLAMA_HOST (HOST:PORT)
// and LAGO_OLLAMA_MODEL.

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"os"
	"reflect"
	"testing"
	"time"
)

// tokenLogprob and logprob mirror github.com/ollama/ollama/api's
// TokenLogprob and Logprob, the shape lago's scorer reads.
type tokenLogprob struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

type logprob struct {
	tokenLogprob
	TopLogprobs []tokenLogprob `json:"top_logprobs"`
}

type generateResponse struct {
	Model           string    `json:"model"`
	Response        string    `json:"response"`
	Done            bool      `json:"done"`
	DoneReason      string    `json:"done_reason"`
	PromptEvalCount int       `json:"prompt_eval_count"`
	EvalCount       int       `json:"eval_count"`
	Logprobs        []logprob `json:"logprobs"`
}

func generate(t *testing.T, host, model, prompt string) (generateResponse, []byte, time.Duration) {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"model":  model,
		"prompt": prompt,
		"stream": false,
		"raw":    true,
		"options": map[string]any{
			"temperature": 0,
			"num_predict": 1,
			"seed":        1,
		},
		"logprobs":     true,
		"top_logprobs": 20, // the most Ollama allows
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	resp, err := http.Post("http://"+host+"/api/generate", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw bytes.Buffer
	if _, err := raw.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/api/generate: %s: %s", resp.Status, raw.Bytes())
	}
	var g generateResponse
	if err := json.Unmarshal(raw.Bytes(), &g); err != nil {
		t.Fatalf("/api/generate: %v: %s", err, raw.Bytes())
	}
	return g, raw.Bytes(), elapsed
}

func TestOllamaTinyLogprobs(t *testing.T) {
	host := os.Getenv("LAGO_OLLAMA_HOST")
	if host == "" {
		t.Skip("LAGO_OLLAMA_HOST is not set; run `make test-ollama`")
	}
	model := os.Getenv("LAGO_OLLAMA_MODEL")
	if model == "" {
		model = "tiny"
	}
	const prompt = "Question: which ball should the agent push, the red ball or the blue ball? Answer:"

	first, raw, load := generate(t, host, model, prompt)
	t.Logf("first call (includes the model load): %v\n%s", load, raw)
	if !first.Done || first.EvalCount != 1 || len(first.Logprobs) != 1 {
		t.Fatalf("want one generated token with logprobs, got done=%v eval_count=%d %d logprobs",
			first.Done, first.EvalCount, len(first.Logprobs))
	}
	lp := first.Logprobs[0]
	if lp.Token != first.Response {
		t.Errorf("logprobs token %q, response %q", lp.Token, first.Response)
	}
	if len(lp.TopLogprobs) != 20 {
		t.Fatalf("%d top_logprobs, want 20", len(lp.TopLogprobs))
	}
	var mass float64
	for i, tl := range lp.TopLogprobs {
		if math.IsNaN(tl.Logprob) || tl.Logprob > 0 {
			t.Errorf("top_logprobs[%d] = %+v: not a log probability", i, tl)
		}
		if i > 0 && tl.Logprob > lp.TopLogprobs[i-1].Logprob {
			t.Errorf("top_logprobs not in descending order at %d", i)
		}
		mass += math.Exp(tl.Logprob)
	}
	if mass > 1+1e-4 {
		t.Errorf("top_logprobs hold probability %g > 1", mass)
	}
	// Temperature 0 is greedy: the sampled token is the most likely one.
	if top := lp.TopLogprobs[0]; top.Token != lp.Token || top.Logprob != lp.Logprob {
		t.Errorf("sampled %+v, most likely %+v", lp.tokenLogprob, top)
	}

	// The model is loaded now: later calls measure a request alone, and
	// identical requests must answer identically.
	var total time.Duration
	const n = 10
	for i := range n {
		again, _, d := generate(t, host, model, prompt)
		total += d
		if again.Response != first.Response || !reflect.DeepEqual(again.Logprobs, first.Logprobs) {
			t.Fatalf("call %d differs from the first:\n%+v\n%+v", i+2, again.Logprobs, first.Logprobs)
		}
	}
	t.Logf("%d identical calls, %v each on average", n, total/n)

	// A different prompt must give different logprobs, or the test above
	// would pass on a server that ignores the prompt.
	other, _, _ := generate(t, host, model, "push the green box to the left:")
	if reflect.DeepEqual(other.Logprobs, first.Logprobs) {
		t.Error("a different prompt gave the same logprobs")
	}
}
