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
	res, err := CheckScorers(ctx, host, model, []*Scorer{sc}, prompts, hc)
	if err != nil {
		return CheckResult{}, err
	}
	return res[0], nil
}

// CheckScorers is Check for several scorers of the same GGUF (engines),
// asking the server once per prompt.
func CheckScorers(ctx context.Context, host *url.URL, model string, scs []*Scorer, prompts []string, hc *http.Client) ([]CheckResult, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	client := api.NewClient(host, hc)
	rows := make([][][]float32, len(scs))
	for j, sc := range scs {
		var err error
		if rows[j], err = sc.NextLogprobs(ctx, prompts); err != nil {
			return nil, err
		}
	}
	vocab := scs[0].vocab
	byText := map[string][]int{}
	for id := range vocab.Len() {
		t := strings.ToValidUTF8(vocab.Piece(id), "\uFFFD") // Ollama returns bytes ≥ 0x80 as U+FFFD
		byText[t] = append(byText[t], id)
	}
	res := make([]CheckResult, len(scs))
	diffs := make([][]float64, len(scs))
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
		mismatch := resp.PromptEvalCount != len(vocab.Encode(p))
		for j := range scs {
			r := &res[j]
			r.Prompts++
			if mismatch {
				r.TokenCountMismatches++
			}
			for _, tl := range resp.Logprobs[0].TopLogprobs {
				ids := byText[tl.Token]
				if len(ids) == 0 {
					r.Unmatched++
					continue
				}
				best := math.Inf(1)
				for _, id := range ids {
					best = math.Min(best, math.Abs(float64(rows[j][i][id])-tl.Logprob))
				}
				diffs[j] = append(diffs[j], best)
				if best > r.MaxDiff {
					r.MaxDiff, r.WorstPrompt, r.WorstToken = best, p, tl.Token
				}
			}
		}
	}
	for j := range res {
		res[j].Compared = len(diffs[j])
		if len(diffs[j]) > 0 {
			sort.Float64s(diffs[j])
			res[j].Median = diffs[j][len(diffs[j])/2]
		}
	}
	return res, nil
}
