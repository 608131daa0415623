package prior

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/lago-rl/lago/engine/env"
)

// Template turns a state's text view into the questions put to the model.
// Templates are versioned: the version is part of every cache key, so
// editing a template's wording must bump it.
type Template struct {
	Version string
	// Intro opens every prompt (what the agent is and can do).
	Intro string
	// Questions holds one question per action factor. A later factor's
	// question may name the option chosen for the factor before it with %s.
	Questions []string
	// Tail closes every prompt, after the options; the prompt ends where
	// the label is the next token.
	Tail string
	// View renders the state's text for this template; nil means the env's
	// own text view (env.Describer). A template with its own view must say
	// so in its version, since the view is part of what the model reads.
	View func(e env.Env) (string, error)
}

// tailV1 is the closing line of the v1 templates.
const tailV1 = "Answer with the letter of one option.\nAnswer:"

// Templates by env id prefix. An env without its own uses Generic.
var templates = map[string]Template{
	"CLEVR-Robot": {
		Version: "clevr-v1",
		Intro:   "A robot pushes one of five balls on a table in one of eight directions, one push at a time.",
		Questions: []string{
			"Which ball should the robot push next to follow the instruction?",
			"The robot pushes the %s ball. In which direction should it push?",
		},
		Tail: tailV1,
	},
}

// ClevrCompact is the CLEVR-Robot template for models lago trains (issue
// 13): 36-50 whitespace words a question instead of clevr-v1's 79-92, so that training
// and scoring cost about half, and positions on a 0.02 m grid instead of the
// text view's 0.1 m, which lifts the ceiling on agreement with the expert
// from ~0.70 to ~0.88 by shared/reference/clevr-text-ceiling.md's estimate
// (0.68 and 0.81 as lago demos ceiling -jitter measures them on stage 1's
// held-out states, bench/results/stage1-clevr). Its own version keeps its
// cache keys apart from clevr-v1's.
var ClevrCompact = Template{
	Version:   clevrCompactVersion,
	Questions: []string{"Ball?", "Push %s. Direction?"},
	Tail:      "Answer:",
	View:      compactBallsView,
}

const clevrCompactVersion = "clevr-compact-v1"

// compactGrid is ClevrCompact's position grid, in metres.
const compactGrid = 0.02

// ballScene is what the CLEVR-Robot views read of an env: CLEVR-Robot's
// instruction and ball positions (engine/clevr's Env has both), with the
// balls named by the first action factor.
type ballScene interface {
	Instruction() string
	Positions() [5][2]float64
}

// compactBallsView renders the instruction and the balls' positions on the
// 0.02 m grid, e.g.
//
//	Task: Push the red ball to the left of the blue ball.
//	red 0.30 -0.12 blue -0.20 0.44 green 0.04 0.10 purple -0.46 -0.18 cyan 0.52 0.60
func compactBallsView(e env.Env) (string, error) {
	balls, pos, instr, err := sceneOf(e, clevrCompactVersion)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	writeTask(&b, instr)
	for i, p := range pos {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s %s %s", balls[i], gridString(p[0], compactGrid), gridString(p[1], compactGrid))
	}
	return b.String(), nil
}

// sceneOf reads what the CLEVR-Robot views of template version need: the
// ball names (the first action factor), their positions and the
// instruction.
func sceneOf(e env.Env, version string) (balls []string, pos [5][2]float64, instr string, err error) {
	s, ok := e.(ballScene)
	f, fok := e.(env.FactoredActions)
	if !ok || !fok {
		return nil, pos, "", fmt.Errorf("prior: template %s needs an env with Instruction, Positions and ball factors (CLEVR-Robot); %s has not", version, e.Spec().ID)
	}
	balls, pos = f.ActionFactors()[0], s.Positions()
	if len(balls) != len(pos) {
		return nil, pos, "", fmt.Errorf("prior: template %s: %d ball names for %d positions", version, len(balls), len(pos))
	}
	return balls, pos, s.Instruction(), nil
}

// writeTask writes the views' first line: "Task: " and the instruction,
// closed by a full stop unless it ends with one or a question mark.
func writeTask(b *strings.Builder, instr string) {
	b.WriteString("Task: ")
	b.WriteString(instr)
	if !strings.HasSuffix(instr, "?") && !strings.HasSuffix(instr, ".") {
		b.WriteByte('.')
	}
	b.WriteByte('\n')
}

// gridString rounds v to a multiple of grid and prints it with two
// decimals, never as "-0.00".
func gridString(v, grid float64) string {
	cells := math.Round(v / grid)
	if cells == 0 {
		cells = 0 // drops the sign of -0
	}
	return fmt.Sprintf("%.2f", cells*grid)
}

// ClevrRelative is ClevrCompact with the geometry spelled out the way the
// direction question needs it: positions in whole centimetres on a 2 cm grid
// with the axis named by a word (so that each magnitude is one token of a
// lago-built vocabulary, where "-0.46" is four), and, for every pair of
// balls the instruction names, where the later is seen from the earlier
// ("blue from red: 56 left 40 forward"). With clevr-compact-v1 a model must
// find two balls' coordinates among ten and subtract them to choose a
// direction; trained at this machine's budget it named the ball in 98% of
// held-out states and the direction barely above chance
// (bench/results/stage1-clevr). The view reads only the instruction's text
// and the positions, as any text view may: no goal, no expert.
var ClevrRelative = Template{
	Version:   clevrRelativeVersion,
	Questions: []string{"Ball?", "Push %s. Direction?"},
	Tail:      "Answer:",
	View:      relativeBallsView,
}

const clevrRelativeVersion = "clevr-rel-v1"

// relativeBallsView renders clevr-rel-v1's view, e.g.
//
//	Task: Put the red ball on the right side of the blue ball.
//	red 10 right 6 backward, blue 46 left 34 forward, green 42 left 8 backward, purple 42 right 34 forward, cyan 46 right 8 backward.
//	blue from red: 56 left 40 forward.
func relativeBallsView(e env.Env) (string, error) {
	balls, pos, instr, err := sceneOf(e, clevrRelativeVersion)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	writeTask(&b, instr)
	for i, p := range pos {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(balls[i])
		b.WriteByte(' ')
		b.WriteString(offsetWords(p[0], p[1]))
	}
	b.WriteByte('.')
	named := NamedOrder(instr, balls)
	for i, a := range named {
		for _, c := range named[i+1:] {
			fmt.Fprintf(&b, "\n%s from %s: %s.", balls[c], balls[a], offsetWords(pos[c][0]-pos[a][0], pos[c][1]-pos[a][1]))
		}
	}
	return b.String(), nil
}

// relativeGridCM is clevr-rel-v1's grid, in centimetres: ClevrCompact's
// 0.02 m.
const relativeGridCM = 2

// OffsetCM is an (x, y) offset in metres as clevr-rel-v1 writes it: whole
// centimetres on its 2 cm grid. Data generated against the view (engine/
// scenetext's answers) reads offsets through it, so they round alike.
func OffsetCM(dx, dy float64) [2]int {
	r := func(v float64) int { return int(math.Round(v*100/relativeGridCM)) * relativeGridCM }
	return [2]int{r(dx), r(dy)}
}

// offsetWords renders an (x, y) offset in metres as [OffsetCM] does, each
// axis with its direction word: "56 left 40 forward". A zero reads
// "0 right" or "0 forward", so every offset has four words.
func offsetWords(dx, dy float64) string {
	cm := OffsetCM(dx, dy)
	axis := func(cm int, pos, neg string) string {
		if cm < 0 {
			return fmt.Sprintf("%d %s", -cm, neg)
		}
		return fmt.Sprintf("%d %s", cm, pos)
	}
	return axis(cm[0], "right", "left") + " " + axis(cm[1], "forward", "backward")
}

// NamedOrder returns the indices of the balls an instruction names, in the
// order of their first mention (whole words, any case): clevr-rel-v1's
// offset lines pair them in this order.
func NamedOrder(instr string, balls []string) []int {
	first := make(map[int]int)
	for w, word := range strings.FieldsFunc(strings.ToLower(instr), func(r rune) bool {
		return !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-')
	}) {
		for i, name := range balls {
			if _, seen := first[i]; !seen && word == strings.ToLower(name) {
				first[i] = w
			}
		}
	}
	order := make([]int, 0, len(first))
	for i := range first {
		order = append(order, i)
	}
	sort.Slice(order, func(x, y int) bool { return first[order[x]] < first[order[y]] })
	return order
}

// TemplateByVersion returns the template of a version, for data and
// scorers that name theirs (a dataset's manifest). An unknown version is an
// error listing the known ones.
func TemplateByVersion(v string) (Template, error) {
	known := []Template{Generic, ClevrCompact, ClevrRelative}
	for _, t := range templates {
		known = append(known, t)
	}
	var names []string
	for _, t := range known {
		if t.Version == v {
			return t, nil
		}
		names = append(names, t.Version)
	}
	sort.Strings(names)
	return Template{}, fmt.Errorf("prior: unknown template version %q; known: %s", v, strings.Join(names, ", "))
}

// Generic is the template of envs without one of their own.
var Generic = Template{
	Version:   "generic-v1",
	Intro:     "An agent acts in an environment, one action at a time.",
	Questions: []string{"Which action should the agent take next?", "Having chosen %s, which option comes next?"},
	Tail:      tailV1,
}

// TemplateFor returns the template of an env id.
func TemplateFor(envID string) Template {
	for prefix, t := range templates {
		if strings.HasPrefix(envID, prefix) {
			return t
		}
	}
	return Generic
}

// maxOptions is the most options one question may offer: Ollama returns at
// most 20 top log-probabilities per token.
const maxOptions = 20

// Question is what is scored for one state.
type Question struct {
	Text     string     // the state's text view
	Factors  [][]string // options of each factor; one factor for an unfactored env
	Template Template
}

// QuestionFor builds the question for env e's current state, with the
// env's template (TemplateFor).
func QuestionFor(e env.Env) (Question, error) {
	return QuestionWith(e, TemplateFor(e.Spec().ID))
}

// QuestionWith builds the question for env e's current state with template t.
func QuestionWith(e env.Env, t Template) (Question, error) {
	d, ok := e.(env.Describer)
	if !ok {
		return Question{}, fmt.Errorf("%s cannot describe its states in text (it does not implement env.Describer), so an LLM prior cannot score them", e.Spec().ID)
	}
	q := Question{Template: t}
	if t.View != nil {
		text, err := t.View(e)
		if err != nil {
			return Question{}, err
		}
		q.Text = text
	} else {
		q.Text = d.TextView()
	}
	if f, ok := e.(env.FactoredActions); ok {
		q.Factors = f.ActionFactors()
	} else {
		q.Factors = [][]string{d.ActionNames()}
	}
	return q, q.check()
}

func (q Question) check() error {
	if len(q.Factors) < 1 || len(q.Factors) > 2 {
		return fmt.Errorf("prior: %d action factors; the prompt supports 1 or 2", len(q.Factors))
	}
	for i, f := range q.Factors {
		if len(f) < 1 || len(f) > maxOptions {
			return fmt.Errorf("prior: factor %d has %d options; one question can offer 1 to %d (factorise the actions with env.FactoredActions)", i, len(f), maxOptions)
		}
	}
	return nil
}

// NumActions is the size of the joint action space.
func (q Question) NumActions() int {
	n := 1
	for _, f := range q.Factors {
		n *= len(f)
	}
	return n
}

// Labels are the option labels, in order: single letters, one token in
// every tokenizer we know of. There are maxOptions of them.
const Labels = "ABCDEFGHIJKLMNOPQRST"

// Prompt renders the question of factor k (given the option chosen for the
// factor before, if any). The prompt ends where the label is the next token.
func (q Question) Prompt(k int, chosen string) string {
	var b strings.Builder
	if q.Template.Intro != "" {
		b.WriteString(q.Template.Intro)
		b.WriteString("\n")
	}
	b.WriteString(q.Text)
	b.WriteString("\n\n")
	question := q.Template.Questions[min(k, len(q.Template.Questions)-1)]
	if strings.Contains(question, "%s") {
		question = fmt.Sprintf(question, chosen)
	}
	b.WriteString(question)
	b.WriteString("\n")
	for i, opt := range q.Factors[k] {
		fmt.Fprintf(&b, "%c. %s\n", Labels[i], opt)
	}
	b.WriteString(q.Template.Tail)
	return b.String()
}

// normalizeToken maps a token's text to the label it stands for: the
// tokenizer's word-start marks and spaces dropped, upper case.
func normalizeToken(tok string) string {
	tok = strings.ReplaceAll(tok, "▁", " ")
	tok = strings.TrimSpace(tok)
	tok = strings.TrimRight(tok, ".):")
	return strings.ToUpper(tok)
}

// TokenProb is one alternative for the next token.
type TokenProb struct {
	Token   string
	Logprob float64
}

// labelDistribution turns the top alternatives for the next token into a
// distribution over the first n labels. Tokens that normalise to the same
// label add up. Labels absent from the list get a floor: the mass the list
// leaves unaccounted for, shared among them, but never more than the least
// likely listed token (they ranked below it). found is how many labels were
// in the list; with none, the distribution is meaningless.
func labelDistribution(top []TokenProb, n int) (probs []float64, found int) {
	mass := make([]float64, n)
	listed := 0.0
	minP := 1.0
	for _, t := range top {
		p := math.Exp(t.Logprob)
		if math.IsNaN(p) {
			continue
		}
		listed += p
		minP = math.Min(minP, p)
		lab := normalizeToken(t.Token)
		if len(lab) == 1 {
			if i := strings.IndexByte(Labels[:n], lab[0]); i >= 0 {
				mass[i] += p
			}
		}
	}
	var absent []int
	for i, m := range mass {
		if m > 0 {
			found++
		} else {
			absent = append(absent, i)
		}
	}
	if found == 0 {
		return nil, 0
	}
	if len(absent) > 0 {
		floor := math.Max(1-listed, 0) / float64(len(absent))
		floor = math.Min(floor, minP)
		floor = math.Max(floor, 1e-8) // never exactly zero: KL to the prior must stay finite
		for _, i := range absent {
			mass[i] = floor
		}
	}
	return normalize(mass), found
}

func normalize(p []float64) []float64 {
	z := 0.0
	for _, x := range p {
		z += x
	}
	for i := range p {
		p[i] /= z
	}
	return p
}

// topIndices returns the indices of the largest entries of p whose mass
// reaches coverage, at most k of them.
func topIndices(p []float64, k int, coverage float64) []int {
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return p[idx[a]] > p[idx[b]] })
	var out []int
	mass := 0.0
	for _, i := range idx {
		if len(out) >= k || mass >= coverage {
			break
		}
		out = append(out, i)
		mass += p[i]
	}
	return out
}
