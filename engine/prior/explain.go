package prior

import (
	"context"
	"fmt"
	"sort"

	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/env"
)

// Explanation is one state's prior with what produced it: the text view
// and prompts an LLM prior was shown, how it was scored, the distribution.
type Explanation struct {
	Prior    string    `json:"prior"`
	TextView string    `json:"text_view,omitempty"`
	Prompts  []string  `json:"prompts,omitempty"`
	Calls    int       `json:"llm_calls"`
	Mode     string    `json:"mode,omitempty"`
	Actions  []string  `json:"actions,omitempty"`
	Probs    []float32 `json:"probs"`
}

// Top returns the indices of the n most likely actions (all of them when n
// is larger, none when n <= 0), most likely first, ties in action order.
func (x Explanation) Top(n int) []int {
	order := make([]int, len(x.Probs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return x.Probs[order[a]] > x.Probs[order[b]] })
	return order[:max(0, min(n, len(order)))]
}

// ExplainFirstState explains the prior cfg names at the first state of
// cfg's env seeded with seed: it makes the env, resets it, builds the
// prior (New) and calls Explain.
func ExplainFirstState(ctx context.Context, cfg config.Config, seed uint64) (Explanation, error) {
	e, err := env.Make(cfg.Env())
	if err != nil {
		return Explanation{}, err
	}
	if c, ok := e.(interface{ Close() }); ok {
		defer c.Close()
	}
	e.Seed(seed)
	e.Reset(make([]float32, e.ObservationSpace().Dim()))
	p, err := New(ctx, cfg)
	if err != nil {
		return Explanation{}, err
	}
	if p != nil {
		defer p.Close()
	}
	return Explain(ctx, p, e)
}

// Explain gives p's distribution for e's current state. An LLM prior asks
// the model afresh (a cached answer would hide what the prompts produce
// now) and stores the answer in its cache.
func Explain(ctx context.Context, p Prior, e env.Env) (Explanation, error) {
	if p == nil {
		return Explanation{}, fmt.Errorf("config key prior: \"none\" has nothing to explain; name a prior, e.g. -set prior=scripted:0.9")
	}
	n := e.ActionSpace().N
	if e.ActionSpace().Kind != env.DiscreteKind {
		sk, ok := e.(env.Skilled)
		if !ok {
			return Explanation{}, fmt.Errorf("prior: %s has continuous actions and no skills (env.Skilled); a prior is over discrete actions or skills", e.Spec().ID)
		}
		n = sk.NumSkills() // the prior is over the skills, named by ActionNames
	}
	x := Explanation{Prior: p.Name(), Probs: make([]float32, n)}
	if d, ok := e.(env.Describer); ok {
		x.TextView = d.TextView()
		x.Actions = d.ActionNames()
	}
	sv, ok := p.(served)
	if !ok {
		if _, ok, err := p.Lookup(e, x.Probs); err != nil || !ok {
			return x, fmt.Errorf("prior %s gave no answer: %v", p.Name(), err)
		}
		return x, nil
	}
	op := sv.served()
	q, err := QuestionWith(e, op.template)
	if err != nil {
		return x, err
	}
	x.TextView = q.Text
	if m := q.NumActions(); m != n {
		return x, fmt.Errorf("prior %s: the question covers %d actions, the env has %d", p.Name(), m, n)
	}
	res, err := op.service.scorer.Score(ctx, q) // Ollama's or lago's own engine (lm:, whose ollama is nil)
	if err != nil {
		return x, err
	}
	copy(x.Probs, res.Entry.Probs)
	x.Calls, x.Mode = res.Calls, res.Entry.Mode.String()
	x.Prompts = append(x.Prompts, q.Prompt(0, ""))
	if len(q.Factors) == 2 {
		// The second factor's prompt for the most likely first choice.
		best := 0
		for i := range x.Probs {
			if x.Probs[i] > x.Probs[best] {
				best = i
			}
		}
		x.Prompts = append(x.Prompts, q.Prompt(1, q.Factors[0][best/len(q.Factors[1])]))
	}
	if err := op.cache.Put(op.service.KeyOf(q), res.Entry); err != nil {
		return x, err
	}
	return x, nil
}
