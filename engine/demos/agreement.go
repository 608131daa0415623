package demos

import (
	"context"
	"fmt"
	"slices"

	"github.com/lago-rl/lago/engine/prior"
)

// LabelScorer is a guidance model as agreement sees it: a prompt → its
// distribution over the first n option labels. *prior.Ollama is one
// (ScoreLabels); an in-process model can be another.
type LabelScorer interface {
	ScoreLabels(ctx context.Context, prompt string, n int) ([]float64, error)
}

// Agreement, the one definition (issue 13): a model's top action in a state
// is its most likely option of the first factor (the ball), then its most
// likely option of the second factor asked for that option (the direction),
// as the scorer's factorised questions go; ties go to the earlier label. It
// agrees with the expert when it is among the actions the expert rates best
// in that state (Step.Best, see BestRule).
func Agrees(top int, best []int) bool { return slices.Contains(best, top) }

// TopAction is the model's top action for q (see Agrees).
func TopAction(ctx context.Context, s LabelScorer, q prior.Question) (int, error) {
	p0, err := s.ScoreLabels(ctx, q.Prompt(0, ""), len(q.Factors[0]))
	if err != nil {
		return 0, err
	}
	first, err := argmax(p0, len(q.Factors[0]))
	if err != nil || len(q.Factors) == 1 {
		return first, err
	}
	p1, err := s.ScoreLabels(ctx, q.Prompt(1, q.Factors[0][first]), len(q.Factors[1]))
	if err != nil {
		return 0, err
	}
	second, err := argmax(p1, len(q.Factors[1]))
	return first*len(q.Factors[1]) + second, err
}

func argmax(p []float64, n int) (int, error) {
	if len(p) != n {
		return 0, fmt.Errorf("demos: the scorer gave %d probabilities for %d labels", len(p), n)
	}
	best := 0
	for i, x := range p {
		if x > p[best] {
			best = i
		}
	}
	return best, nil
}

// AgreementResult is a scorer's agreement with the expert on held-out states.
type AgreementResult struct {
	States int `json:"states"`
	// Agreement is the fraction of states where the top action is among
	// the expert's best (Agrees); Exact where it is the expert's own action;
	// FirstFactor where its first factor (ball) is that of a best action.
	Agreement   float64 `json:"agreement"`
	Exact       float64 `json:"exact"`
	FirstFactor float64 `json:"first_factor"`
}

// Agreement scores every held-out state of a dataset with s, asking the
// dataset's template, and counts agreement with the expert.
func Agreement(ctx context.Context, s LabelScorer, m DatasetManifest, states []State) (AgreementResult, error) {
	tmpl, err := prior.TemplateByVersion(m.Config.Template)
	if err != nil {
		return AgreementResult{}, err
	}
	tops := make([]int, len(states))
	for i, st := range states {
		q := prior.Question{Text: st.Text, Factors: m.Factors, Template: tmpl}
		if tops[i], err = TopAction(ctx, s, q); err != nil {
			return AgreementResult{}, fmt.Errorf("demos: episode %d step %d: %w", st.Episode, st.T, err)
		}
	}
	return AgreementOfTops(m, states, tops)
}

// TopOfJoint is the top action (see Agrees) read from a factorised joint
// distribution over actions, first factor major, as a batched scorer returns
// it: the first factor's marginal gives the ball, then the most likely
// second factor within that ball's row. When that row was scored (a scorer
// scores the second factor at least for the most likely first option), it is
// TopAction's answer; ties go to the earlier option, as there.
func TopOfJoint(p []float64, inner int) (int, error) {
	if inner < 1 || len(p) == 0 || len(p)%inner != 0 {
		return 0, fmt.Errorf("demos: a joint distribution of %d actions is not rows of %d", len(p), inner)
	}
	marginal := make([]float64, len(p)/inner)
	for a := range marginal {
		for _, x := range p[a*inner : (a+1)*inner] {
			marginal[a] += x
		}
	}
	first, _ := argmax(marginal, len(marginal))
	second, _ := argmax(p[first*inner:(first+1)*inner], inner)
	return first*inner + second, nil
}

// AgreementOfTops counts a model's top actions (one per state, in order)
// against the expert's: the counting half of Agreement, for scorers that
// score many states at once.
func AgreementOfTops(m DatasetManifest, states []State, tops []int) (AgreementResult, error) {
	if len(tops) != len(states) {
		return AgreementResult{}, fmt.Errorf("demos: %d top actions for %d states", len(tops), len(states))
	}
	inner := 1
	if len(m.Factors) == 2 {
		inner = len(m.Factors[1])
	}
	var r AgreementResult
	var agree, exact, first int
	for i, st := range states {
		top := tops[i]
		r.States++
		if Agrees(top, st.Best) {
			agree++
		}
		if top == st.Expert {
			exact++
		}
		if slices.ContainsFunc(st.Best, func(b int) bool { return b/inner == top/inner }) {
			first++
		}
	}
	if r.States == 0 {
		return r, fmt.Errorf("demos: no held-out states to score")
	}
	n := float64(r.States)
	r.Agreement, r.Exact, r.FirstFactor = float64(agree)/n, float64(exact)/n, float64(first)/n
	return r, nil
}

// Ceiling bounds what any model that reads only the text can reach on a set
// of states: states with the same text look alike to it, so it gives them
// one action. Texts that never repeat make the bound loose (1 for a state
// alone with its text); DistinctTexts and RepeatedStates say how much the
// bound can be trusted.
type Ceiling struct {
	States         int `json:"states"`
	DistinctTexts  int `json:"distinct_texts"`
	RepeatedStates int `json:"repeated_states"` // states whose text another state shares
	// Majority is the agreement (Agrees) of the majority expert label per
	// distinct text, ties to the smaller action; Optimum that of the best
	// single action per text, the exact bound for agreement with best sets.
	Majority float64 `json:"majority"`
	Optimum  float64 `json:"optimum"`
}

// TextCeiling is the Ceiling of states (held-out ones, as issue 13 asks).
func TextCeiling(states []State) Ceiling {
	groups := map[string][]State{}
	var order []string
	for _, s := range states {
		if _, ok := groups[s.Text]; !ok {
			order = append(order, s.Text)
		}
		groups[s.Text] = append(groups[s.Text], s)
	}
	c := Ceiling{States: len(states), DistinctTexts: len(groups)}
	var majority, optimum int
	for _, text := range order {
		g := groups[text]
		if len(g) > 1 {
			c.RepeatedStates += len(g)
		}
		votes, covers := map[int]int{}, map[int]int{}
		for _, s := range g {
			votes[s.Expert]++
			for _, b := range s.Best {
				covers[b]++
			}
		}
		maj := pickMax(votes)
		for _, s := range g {
			if Agrees(maj, s.Best) {
				majority++
			}
		}
		optimum += covers[pickMax(covers)]
	}
	if c.States > 0 {
		c.Majority = float64(majority) / float64(c.States)
		c.Optimum = float64(optimum) / float64(c.States)
	}
	return c
}

// pickMax is the key with the largest count, the smallest key on ties.
func pickMax(counts map[int]int) int {
	best, n := -1, -1
	for k, v := range counts {
		if v > n || v == n && k < best {
			best, n = k, v
		}
	}
	return best
}
