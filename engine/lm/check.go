package lm

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/ollama/ollama/api"
)

// CheckResult compares the next-token log-probabilities an Ollama server
// returns for a model with lago's in-process forward of the same GGUF.
type CheckResult struct {
	Prompts  int // prompts compared
	Compared int // (prompt, token) log-probabilities compared
	// TokenCountMismatches counts prompts whose prompt_eval_count differs
	// from lago's token count (BOS included): a tokenizer difference.
	TokenCountMismatches int
	// Unmatched counts Ollama top tokens whose text no token of lago's
	// vocabulary has.
	Unmatched       int
	MaxDiff, Median float64
	WorstPrompt     string
	WorstToken      string
}

// Check asks the Ollama server at host for the top-20 next tokens of each
// prompt with model (raw prompt, one token, temperature 0) and compares
// their log-probabilities with the scorer's. Ollama reports tokens as text,
// and several ids can share a text (<0x41> and A), so each is matched to
// lago's token of that text whose log-probability is closest.
func Check(ctx context.Context, host *url.URL, model string, sc *Scorer, prompts []string, hc *http.Client) (CheckResult, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	client := api.NewClient(host, hc)
	rows, err := sc.NextLogprobs(ctx, prompts)
	if err != nil {
		return CheckResult{}, err
	}
	byText := map[string][]int{}
	for id := range sc.vocab.Len() {
		t := strings.ToValidUTF8(sc.vocab.Piece(id), "\uFFFD") // Ollama returns bytes ≥ 0x80 as U+FFFD
		byText[t] = append(byText[t], id)
	}
	var res CheckResult
	var diffs []float64
	stream := false
	for i, p := range prompts {
		var resp api.GenerateResponse
		req := &api.GenerateRequest{Model: model, Prompt: p, Raw: true, Stream: &stream, Logprobs: true, TopLogprobs: 20,
			Options: map[string]any{"num_predict": 1, "temperature": 0}}
		if err := client.Generate(ctx, req, func(r api.GenerateResponse) error { resp = r; return nil }); err != nil {
			return res, fmt.Errorf("lm: check: %s on %s: %w", model, host.Host, err)
		}
		if len(resp.Logprobs) == 0 {
			return res, fmt.Errorf("lm: check: %s returned no log-probabilities for prompt %d (Ollama older than 0.12?)", model, i)
		}
		res.Prompts++
		if resp.PromptEvalCount != len(sc.vocab.Encode(p)) {
			res.TokenCountMismatches++
		}
		for _, tl := range resp.Logprobs[0].TopLogprobs {
			ids := byText[tl.Token]
			if len(ids) == 0 {
				res.Unmatched++
				continue
			}
			best := math.Inf(1)
			for _, id := range ids {
				best = math.Min(best, math.Abs(float64(rows[i][id])-tl.Logprob))
			}
			diffs = append(diffs, best)
			if best > res.MaxDiff {
				res.MaxDiff, res.WorstPrompt, res.WorstToken = best, p, tl.Token
			}
		}
	}
	res.Compared = len(diffs)
	if len(diffs) > 0 {
		sort.Float64s(diffs)
		res.Median = diffs[len(diffs)/2]
	}
	return res, nil
}
