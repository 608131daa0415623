package lm

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/ollama/ollama/api"
)

// TestCheckAgainstStandIn runs Check against a stand-in server that answers
// with the scorer's own top-20 (shifted by delta on one prompt, with a
// wrong token count on another): Check must report exactly those.
func TestCheckAgainstStandIn(t *testing.T) {
	sc, _, _ := scorerModel(t, 8)
	const delta = 0.01
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req api.GenerateRequest
		json.NewDecoder(r.Body).Decode(&req)
		if r.URL.Path != "/api/generate" || !req.Raw || !req.Logprobs || req.TopLogprobs != 20 {
			t.Errorf("request %s %+v", r.URL.Path, req)
		}
		top, err := sc.TopLogprobs(context.Background(), []string{req.Prompt}, 20)
		if err != nil {
			t.Error(err)
		}
		resp := api.GenerateResponse{Model: req.Model, Done: true, Metrics: api.Metrics{PromptEvalCount: len(sc.vocab.Encode(req.Prompt))}}
		var lp api.Logprob
		for i, tl := range top[0] {
			v := tl.Logprob
			if req.Prompt == scorerPrompts[1] && i == 3 {
				v += delta
			}
			lp.TopLogprobs = append(lp.TopLogprobs, api.TokenLogprob{Token: tl.Token, Logprob: v})
		}
		if req.Prompt == scorerPrompts[2] {
			resp.PromptEvalCount++
		}
		resp.Logprobs = []api.Logprob{lp}
		json.NewEncoder(w).Encode(resp)
	}))
	defer srv.Close()
	host, _ := url.Parse(srv.URL)
	res, err := Check(context.Background(), host, "m", sc, scorerPrompts, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	if res.Prompts != len(scorerPrompts) || res.Compared != 20*len(scorerPrompts) || res.Unmatched != 0 || res.TokenCountMismatches != 1 {
		t.Errorf("result %+v", res)
	}
	if math.Abs(res.MaxDiff-delta) > 1e-6 || res.WorstPrompt != scorerPrompts[1] || res.Median > 1e-6 {
		t.Errorf("max |Δ| %g on %q, median %g; want %g on %q, 0", res.MaxDiff, res.WorstPrompt, res.Median, delta, scorerPrompts[1])
	}
}
