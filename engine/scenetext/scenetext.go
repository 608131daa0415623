// Package scenetext generates a generic scene-text corpus for pretraining a
// guidance model (issue 13 item 6): random CLEVR-Robot scenes, as the env's
// Reset draws them (ball positions, goal and instruction from the env's own
// phrase generator), rendered in a prompt template's view, each with
// spatial questions whose answers are computed from the scene. Nothing here
// calls the expert, a lookahead or a demonstration: the corpus teaches what
// the view says (where a ball is from another, which is nearest, which ball
// the instruction names), not what to do.
//
// The prompts have the guidance dataset's form (prior.Question.Prompt: the
// view, a blank line, the question, lettered options, "Answer:") and the
// answers its form (" C"), so a model pretrained here is fine-tuned on the
// guidance dataset without a change of format.
package scenetext

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/lago-rl/lago/engine/clevr"
	"github.com/lago-rl/lago/engine/prior"
	"github.com/lago-rl/lago/engine/runfile"
)

// The corpus directory (format "lago-scene-corpus", version 1):
//
//	train.jsonl    {"prompt", "answer"} pairs, what `lago lm train` reads
//	heldout.jsonl  the same for the held-out scenes (the last ones)
//	manifest.json  written last: format, versions, config, questions, counts
const (
	Format        = "lago-scene-corpus"
	FormatVersion = 1

	TrainFile    = "train.jsonl"
	HeldoutFile  = "heldout.jsonl"
	ManifestFile = "manifest.json"
)

// Question kinds, in the order each scene asks them.
const (
	// KindDirNamed asks where the instruction's second ball is seen from
	// its first: the offset line of clevr-rel-v1's view, read as one of
	// the eight push directions.
	KindDirNamed = "direction-named"
	// KindDirOther asks the same for another ordered pair, whose offset
	// the model must work out from the two balls' positions.
	KindDirOther = "direction-other"
	// KindNearest asks which other ball is nearest to a ball.
	KindNearest = "nearest"
	// KindIsRel asks whether a ball is left/right/forward/backward of
	// another (yes/no).
	KindIsRel = "is-relation"
	// KindMoves asks which ball the instruction moves.
	KindMoves = "task-moves"
	// KindSide asks on which side of its reference ball the instruction
	// wants the moved ball.
	KindSide = "task-side"
)

// Kinds lists the question kinds in the order a scene asks them.
var Kinds = []string{KindDirNamed, KindDirOther, KindNearest, KindIsRel, KindMoves, KindSide}

// QuestionDoc documents one kind in the manifest.
type QuestionDoc struct {
	Kind     string   `json:"kind"`
	Question string   `json:"question"` // with {a}, {b}, {rel} for the balls and relation drawn
	Options  []string `json:"options"`
	Answer   string   `json:"answer"` // how the answer is computed
}

// relWords are the relation words of KindIsRel and KindSide, indexed by
// clevr.Relation (Left, Right, Front, Behind), in the direction words of
// the view and the push options.
var relWords = [clevr.NumRelations]string{"left", "right", "forward", "backward"}

var yesNo = []string{"yes", "no"}

// Questions documents every kind.
func Questions() []QuestionDoc {
	balls := clevr.Colours[:]
	dirs := clevr.DirNames[:]
	return []QuestionDoc{
		{KindDirNamed, "{b} from {a}. Direction?", dirs, "{a}, {b}: the instruction's balls in the order it names them; the 45° sector of the angle of {b}'s offset from {a}, in whole 2 cm cells as the view prints it"},
		{KindDirOther, "{b} from {a}. Direction?", dirs, "the same, for an ordered pair of other balls drawn at random"},
		{KindNearest, "Ball nearest to {a}?", balls, "the other ball at the least centre distance from {a}"},
		{KindIsRel, "Is {a} {rel} of {b}?", yesNo, "yes when {a}'s offset from {b}, in 2 cm cells, is non-zero along {rel} (left: x < 0, right: x > 0, forward: y > 0, backward: y < 0)"},
		{KindMoves, "Which ball does the task move?", balls, "the instruction's source ball (the env's goal)"},
		{KindSide, "Push {a} to which side of {b}?", relWords[:], "{a}, {b}: the goal's source and reference balls; the goal's relation"},
	}
}

// Config chooses the corpus.
type Config struct {
	// EnvID names the CLEVR-Robot variant whose Reset draws the scenes
	// and whose phrase generator says the instructions; only the relation
	// level's ids (CLEVR-Robot-v0, CLEVR-Robot-heldout-v0) are accepted,
	// since the questions read a single goal.
	EnvID string `json:"env_id"`
	// Scenes is how many scenes; the last HeldoutScenes of them are held out.
	Scenes        int `json:"scenes"`
	HeldoutScenes int `json:"heldout_scenes"`
	// Seed: scene i is drawn by the env seeded with Seed+i, and its
	// questions' balls by a generator of (Seed, i).
	Seed uint64 `json:"seed"`
	// Template is the prompt template whose view renders the scenes
	// (prior.TemplateByVersion); its View must read a CLEVR-Robot env.
	Template string `json:"template"`
}

// Counts summarise a corpus.
type Counts struct {
	TrainPairs   int            `json:"train_pairs"`
	HeldoutPairs int            `json:"heldout_pairs"`
	ByKind       map[string]int `json:"by_kind"`
	// Answers counts the answers of the direction questions by option,
	// to show how far from uniform they are.
	DirAnswers map[string]int `json:"direction_answers"`
}

// Manifest describes a corpus directory.
type Manifest struct {
	Format        string        `json:"format"`
	FormatVersion int           `json:"format_version"`
	LagoVersion   string        `json:"lago_version"`
	Config        Config        `json:"config"`
	Questions     []QuestionDoc `json:"questions"`
	Counts        Counts        `json:"counts"`
}

// Pair is one training example, as engine/lm/train reads it.
type Pair struct {
	Prompt string `json:"prompt"`
	Answer string `json:"answer"`
	// Kind is not written: lm train's reader refuses unknown fields.
	Kind string `json:"-"`
}

func (c Config) check() (clevr.Options, prior.Template, error) {
	var opt clevr.Options
	switch c.EnvID {
	case "CLEVR-Robot-v0":
	case "CLEVR-Robot-heldout-v0":
		opt.HeldOut = true
	default:
		return opt, prior.Template{}, fmt.Errorf("scenetext: env %q; want CLEVR-Robot-v0 or CLEVR-Robot-heldout-v0 (the relation level: the questions read one goal)", c.EnvID)
	}
	if c.Scenes < 2 {
		return opt, prior.Template{}, fmt.Errorf("scenetext: %d scenes; want at least 2", c.Scenes)
	}
	if c.HeldoutScenes < 1 || c.HeldoutScenes >= c.Scenes {
		return opt, prior.Template{}, fmt.Errorf("scenetext: %d held-out scenes of %d; want 1 to %d", c.HeldoutScenes, c.Scenes, c.Scenes-1)
	}
	t, err := prior.TemplateByVersion(c.Template)
	if err != nil {
		return opt, t, err
	}
	if t.View == nil {
		return opt, t, fmt.Errorf("scenetext: template %s has no view of its own; use one that renders ball positions (clevr-rel-v1, clevr-compact-v1)", c.Template)
	}
	return opt, t, nil
}

// Generator draws scenes and their questions.
type Generator struct {
	cfg  Config
	tmpl prior.Template
	env  *clevr.Env
	obs  []float32
}

// NewGenerator checks cfg and makes the env. Close frees it.
func NewGenerator(cfg Config) (*Generator, error) {
	opt, tmpl, err := cfg.check()
	if err != nil {
		return nil, err
	}
	e, err := clevr.New(opt)
	if err != nil {
		return nil, fmt.Errorf("scenetext: %w", err)
	}
	return &Generator{cfg: cfg, tmpl: tmpl, env: e, obs: make([]float32, e.ObservationSpace().Dim())}, nil
}

// Close frees the env.
func (g *Generator) Close() { g.env.Close() }

// Scene draws scene i and returns its view and its pairs, one per kind in
// Kinds order. The same config and i give the same pairs.
func (g *Generator) Scene(i int) (view string, pairs []Pair, err error) {
	g.env.Seed(g.cfg.Seed + uint64(i))
	g.env.Reset(g.obs)
	view, err = g.tmpl.View(g.env)
	if err != nil {
		return "", nil, err
	}
	r := rand.New(rand.NewPCG(g.cfg.Seed, uint64(i)))
	pos := g.env.Positions()
	goal := g.env.Goal()
	ask := func(kind, question string, options []string, answer int) {
		q := prior.Question{Text: view, Factors: [][]string{options},
			Template: prior.Template{Version: g.tmpl.Version, Intro: g.tmpl.Intro, Questions: []string{question}, Tail: g.tmpl.Tail}}
		pairs = append(pairs, Pair{Prompt: q.Prompt(0, ""), Answer: " " + prior.Labels[answer:answer+1], Kind: kind})
	}
	name := func(b int) string { return clevr.Colours[b] }

	// The instruction's balls in the order it names them: the view's
	// offset line is "later from earlier".
	a, b := goal.Src, goal.Dst
	if namedFirst(g.env.Instruction(), goal.Dst, goal.Src) {
		a, b = b, a
	}
	ask(KindDirNamed, fmt.Sprintf("%s from %s. Direction?", name(b), name(a)), clevr.DirNames[:], Direction(cells(pos, a, b)))

	for {
		a, b = r.IntN(clevr.NumBalls), r.IntN(clevr.NumBalls)
		if a != b && !(a == goal.Src && b == goal.Dst || a == goal.Dst && b == goal.Src) {
			break
		}
	}
	ask(KindDirOther, fmt.Sprintf("%s from %s. Direction?", name(b), name(a)), clevr.DirNames[:], Direction(cells(pos, a, b)))

	a = r.IntN(clevr.NumBalls)
	ask(KindNearest, fmt.Sprintf("Ball nearest to %s?", name(a)), clevr.Colours[:], Nearest(pos, a))

	a = r.IntN(clevr.NumBalls)
	b = (a + 1 + r.IntN(clevr.NumBalls-1)) % clevr.NumBalls
	rel := clevr.Relation(r.IntN(clevr.NumRelations))
	no := 1
	if IsRelation(cells(pos, b, a), rel) {
		no = 0
	}
	ask(KindIsRel, fmt.Sprintf("Is %s %s of %s?", name(a), relWords[rel], name(b)), yesNo, no)

	ask(KindMoves, "Which ball does the task move?", clevr.Colours[:], goal.Src)
	ask(KindSide, fmt.Sprintf("Push %s to which side of %s?", name(goal.Src), name(goal.Dst)), relWords[:], int(goal.Rel))
	return view, pairs, nil
}

// namedFirst reports whether ball x's colour occurs in the instruction
// before ball y's, as clevr-rel-v1's view orders the pair it prints.
func namedFirst(instr string, x, y int) bool {
	for _, b := range prior.NamedOrder(instr, clevr.Colours[:]) {
		switch b {
		case x:
			return true
		case y:
			return false
		}
	}
	return false
}

// cells is ball b's offset from ball a as clevr-rel-v1's offset line
// writes it (prior.OffsetCM).
func cells(pos [clevr.NumBalls][2]float64, a, b int) [2]int {
	return prior.OffsetCM(pos[b][0]-pos[a][0], pos[b][1]-pos[a][1])
}

// sectorDirs maps the 45° sector of an angle (0 = +x, counter-clockwise)
// to the index of its direction in clevr.DirNames.
var sectorDirs = [clevr.NumDirs]int{0, 4, 1, 5, 2, 7, 3, 6}

// Direction is the index in clevr.DirNames of the direction whose 45°
// sector holds the offset (dx right, dy forward); a zero offset is "right".
func Direction(off [2]int) int {
	ang := math.Atan2(float64(off[1]), float64(off[0]))
	k := int(math.Round(ang/(math.Pi/4))+clevr.NumDirs) % clevr.NumDirs
	return sectorDirs[k]
}

// Nearest is the ball other than a whose centre is nearest to a's.
func Nearest(pos [clevr.NumBalls][2]float64, a int) int {
	best, bestD := -1, math.Inf(1)
	for b := range clevr.NumBalls {
		if b == a {
			continue
		}
		if d := math.Hypot(pos[b][0]-pos[a][0], pos[b][1]-pos[a][1]); d < bestD {
			best, bestD = b, d
		}
	}
	return best
}

// IsRelation reports whether an offset (of the ball asked about, from the
// reference ball) points along rel.
func IsRelation(off [2]int, rel clevr.Relation) bool {
	switch rel {
	case clevr.Left:
		return off[0] < 0
	case clevr.Right:
		return off[0] > 0
	case clevr.Front:
		return off[1] > 0
	}
	return off[1] < 0
}

// Build writes the corpus of cfg into out, which must not hold one yet.
// progress, if not nil, is called with the number of scenes done.
func Build(cfg Config, out, lagoVersion string, progress func(done int)) (Manifest, error) {
	g, err := NewGenerator(cfg)
	if err != nil {
		return Manifest{}, err
	}
	defer g.Close()
	if _, err := os.Stat(filepath.Join(out, ManifestFile)); err == nil {
		return Manifest{}, fmt.Errorf("scenetext: %s already holds a corpus (%s); choose another directory", out, ManifestFile)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return Manifest{}, fmt.Errorf("scenetext: %w", err)
	}
	m := Manifest{Format: Format, FormatVersion: FormatVersion, LagoVersion: lagoVersion, Config: cfg, Questions: Questions(),
		Counts: Counts{ByKind: map[string]int{}, DirAnswers: map[string]int{}}}
	nTrain := cfg.Scenes - cfg.HeldoutScenes
	write := func(lo, hi int, n *int) func(io.Writer) error {
		return func(w io.Writer) error {
			bw := bufio.NewWriterSize(w, 1<<20)
			for i := lo; i < hi; i++ {
				_, pairs, err := g.Scene(i)
				if err != nil {
					return fmt.Errorf("scenetext: scene %d: %w", i, err)
				}
				for _, p := range pairs {
					js, err := json.Marshal(p)
					if err != nil {
						return err
					}
					bw.Write(js)
					bw.WriteByte('\n')
					*n++
					m.Counts.ByKind[p.Kind]++
					if p.Kind == KindDirNamed || p.Kind == KindDirOther {
						m.Counts.DirAnswers[clevr.DirNames[p.Answer[1]-'A']]++
					}
				}
				if progress != nil {
					progress(i + 1)
				}
			}
			return bw.Flush()
		}
	}
	if err := runfile.WriteAtomic(filepath.Join(out, TrainFile), 0o644, write(0, nTrain, &m.Counts.TrainPairs)); err != nil {
		return m, err
	}
	if err := runfile.WriteAtomic(filepath.Join(out, HeldoutFile), 0o644, write(nTrain, cfg.Scenes, &m.Counts.HeldoutPairs)); err != nil {
		return m, err
	}
	js, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, err
	}
	if err := runfile.WriteFileAtomic(filepath.Join(out, ManifestFile), append(js, '\n')); err != nil {
		return m, fmt.Errorf("scenetext: %w", err)
	}
	return m, nil
}
