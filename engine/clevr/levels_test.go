package clevr

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/lago-rl/lago/engine/env"
)

// far are parking spots for balls a scene does not use.
var far = [][2]float64{{-0.45, 0.55}, {0.45, 0.55}, {0.45, -0.15}, {-0.45, -0.15}}

func TestPushSucceeds(t *testing.T) {
	for rel := range Relation(NumRelations) {
		task := Task{Level: LevelEasy, Kind: KindPush, Ball: 3, Dir: rel}
		var good []string
		for dir := range NumDirs {
			if task.PushSucceeds(3, dir) {
				good = append(good, DirNames[dir])
			}
			for ball := range NumBalls {
				if ball != 3 && task.PushSucceeds(ball, dir) {
					t.Errorf("%v: pushing %s %s succeeds", task, Colours[ball], DirNames[dir])
				}
			}
		}
		// The three directions with a component the named way.
		want := map[Relation][]string{
			Left:   {"left", "forward-left", "backward-left"},
			Right:  {"right", "forward-right", "backward-right"},
			Front:  {"forward", "forward-right", "forward-left"},
			Behind: {"backward", "backward-right", "backward-left"},
		}[rel]
		if !slices.Equal(good, want) {
			t.Errorf("%v succeeds with %v, want %v", task, good, want)
		}
	}
}

// row returns positions with ball i at (x0 + i*dx, y0 + (i%2)*dy): a
// zigzag row, straight when dy = 0.
func row(x0, dx, y0, dy float64) *[NumBalls][2]float64 {
	var p [NumBalls][2]float64
	for i := range p {
		p[i] = [2]float64{x0 + float64(i)*dx, y0 + float64(i%2)*dy}
	}
	return &p
}

func TestOrderSatisfied(t *testing.T) {
	order := Task{Level: LevelHard, Kind: KindOrder}
	tan := func(deg float64) float64 { return math.Tan(deg * math.Pi / 180) }
	swapped := *row(-0.44, 0.22, 0.2, 0)
	swapped[1], swapped[2] = swapped[2], swapped[1]
	tests := []struct {
		name string
		pos  *[NumBalls][2]float64
		want bool
	}{
		{"straight row", row(-0.44, 0.22, 0.2, 0), true},
		{"zigzag at 29.9°", row(-0.45, 0.225, 0.1, 0.225*tan(29.9)), true},
		{"zigzag at 30.1°", row(-0.45, 0.225, 0.1, 0.225*tan(30.1)), false},
		{"right to left", row(0.44, -0.22, 0.2, 0), false},
		{"blue and green swapped", &swapped, false},
		{"vertical", row(0, 0, -0.1, 0.3), false},
	}
	for _, tt := range tests {
		if got := order.Satisfied(tt.pos); got != tt.want {
			t.Errorf("%s %v: Satisfied = %v, want %v", tt.name, tt.pos, got, tt.want)
		}
	}
}

// gatherScene puts green at (0, 0.2) and the others at distance r from it,
// the last one (cyan) at distance last.
func gatherScene(r, last float64) *[NumBalls][2]float64 {
	c := [2]float64{0, 0.2}
	var p [NumBalls][2]float64
	p[GatherBall] = c
	angles := map[int]float64{0: 180, 1: 90, 3: 270, 4: 0}
	for b, deg := range angles {
		d := r
		if b == 4 {
			d = last
		}
		s, co := math.Sincos(deg * math.Pi / 180)
		p[b] = [2]float64{c[0] + d*co, c[1] + d*s}
	}
	return &p
}

func TestGatherSatisfied(t *testing.T) {
	gather := Task{Level: LevelHard, Kind: KindGather}
	tests := []struct {
		r, last float64
		want    bool
	}{
		{0.27, 0.27, true},
		{0.3, 0.3249, true}, // just inside 2.5 radii
		{0.3, 0.3251, false},
		{0.3249, 0.3249, true},
		{0.3251, 0.3, false},
		{0.5, 0.3, false},
	}
	for _, tt := range tests {
		if got := gather.Satisfied(gatherScene(tt.r, tt.last)); got != tt.want {
			t.Errorf("others at %v, cyan at %v from green: Satisfied = %v, want %v", tt.r, tt.last, got, tt.want)
		}
	}
}

func TestRelationsSatisfied(t *testing.T) {
	// red 0.3 left of blue (met), green 0.3 in front of blue or 0.395
	// (just outside the radius), purple behind blue.
	scene := func(greenAlong float64) *[NumBalls][2]float64 {
		blue := [2]float64{0.1, 0.2}
		return &[NumBalls][2]float64{
			{blue[0] - 0.3, blue[1]}, blue, {blue[0], blue[1] + greenAlong}, {blue[0], blue[1] - 0.3}, far[1],
		}
	}
	two := Task{Level: LevelHard, Kind: KindRelations, N: 2, Rels: [MaxRelations]Goal{{0, 1, Left}, {2, 1, Front}}}
	three := two
	three.N, three.Rels[2] = 3, Goal{3, 1, Behind}
	wrong := three
	wrong.Rels[2] = Goal{3, 1, Front}
	tests := []struct {
		task  Task
		along float64
		want  bool
	}{
		{two, 0.3, true},
		{two, 0.385, true},
		{two, 0.395, false},
		{three, 0.3, true},
		{three, 0.395, false},
		{wrong, 0.3, false}, // purple is behind blue, not in front
	}
	for _, tt := range tests {
		if got := tt.task.Satisfied(scene(tt.along)); got != tt.want {
			t.Errorf("%v with green %.3f in front of blue: Satisfied = %v, want %v", tt.task, tt.along, got, tt.want)
		}
	}
}

func TestSampleHard(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	kinds := map[string]int{}
	for range 4000 {
		pos := sampleLayout(r)
		task := sampleHard(r, &pos)
		if !task.valid() || task.Level != LevelHard || task.Satisfied(&pos) {
			t.Fatalf("task %+v invalid or met at reset %v", task, pos)
		}
		name := task.Kind.String()
		if task.Kind == KindRelations {
			name += string(rune('0' + task.N))
			var built Task
			for _, g := range task.Rels[:task.N] {
				if g.Satisfied(&pos) {
					t.Fatalf("%v: %v already met at reset", task, g)
				}
				if !built.compatible(g) {
					t.Fatalf("%v: %v conflicts with the relations before it", task, g)
				}
				built.Rels[built.N] = g
				built.N++
			}
		}
		kinds[name]++
	}
	for _, k := range []string{"relations2", "relations3", "order", "gather"} {
		if n := kinds[k]; n < 850 || (k != "gather" && n > 1150) {
			t.Errorf("%s drawn %d times in 4000, want about a quarter: %v", k, n, kinds)
		}
	}
}

func TestCompatible(t *testing.T) {
	base := Task{Kind: KindRelations, N: 2, Rels: [MaxRelations]Goal{{0, 1, Left}, {1, 2, Left}}}
	tests := []struct {
		g    Goal
		want bool
	}{
		{Goal{2, 0, Left}, false},  // closes the cycle red-blue-green
		{Goal{1, 0, Right}, false}, // names the pair red-blue again
		{Goal{3, 1, Left}, false},  // a second ball in blue's left sector (red's)
		{Goal{3, 2, Left}, false},  // a second ball in green's left sector (blue's)
		{Goal{1, 3, Right}, false}, // blue in a second ball's right: red is in blue's left already
		{Goal{3, 1, Front}, true},
		{Goal{4, 3, Behind}, true},
	}
	for _, tt := range tests {
		if got := base.compatible(tt.g); got != tt.want {
			t.Errorf("%v with %v: compatible = %v, want %v", base, tt.g, got, tt.want)
		}
	}
}

func TestPlan(t *testing.T) {
	// "red left of blue", "green left of purple", "purple right of blue":
	// after red-blue, the third joins blue; purple moves, stated against
	// blue; then green left of the placed purple.
	task := Task{Kind: KindRelations, N: 3, Rels: [MaxRelations]Goal{{0, 1, Left}, {2, 3, Left}, {3, 1, Right}}}
	want := [MaxRelations]Goal{{0, 1, Left}, {3, 1, Right}, {2, 3, Left}}
	if got := task.plan(); got != want {
		t.Errorf("plan %v, want %v", got, want)
	}
	// A relation whose source is placed is restated from its destination.
	task = Task{Kind: KindRelations, N: 2, Rels: [MaxRelations]Goal{{0, 1, Left}, {1, 4, Front}}}
	want = [MaxRelations]Goal{{0, 1, Left}, {4, 1, Behind}}
	if got := task.plan(); got != want {
		t.Errorf("plan %v, want %v", got, want)
	}
}

func TestEasyEpisode(t *testing.T) {
	e := newEnv(t, Options{Level: LevelEasy})
	if s := e.Spec(); s.MaxEpisodeSteps != 1 || s.ID != "CLEVR-Robot-v0:task_level=easy" {
		t.Errorf("spec %+v", s)
	}
	obs := make([]float32, e.obsDim)
	successes := 0
	for seed := range uint64(10) {
		for a := range NumActions {
			e.Seed(seed)
			e.Reset(obs)
			task := e.Task()
			if task.Kind != KindPush || obs[2*NumBalls+task.Ball] != 1 || obs[2*NumBalls+2*NumBalls+int(task.Dir)] != 1 {
				t.Fatalf("seed %d: task %v, goal one-hots %v", seed, task, obs[2*NumBalls:])
			}
			tr := e.Step([]float32{float32(a)}, obs)
			if !tr.Terminated || tr.Success != task.PushSucceeds(a/NumDirs, a%NumDirs) {
				t.Fatalf("%v, action %d: %+v, want the episode over, success as the rule says", task, a, tr)
			}
			if tr.Success {
				successes++
			}
		}
	}
	// Of the 40 pushes, 3 succeed: a random policy's 7.5%.
	if successes != 10*3 {
		t.Errorf("%d successful pushes of 400, want 30", successes)
	}
}

func TestDistanceReward(t *testing.T) {
	layout := [NumBalls][2]float64{{-0.45, 0.2}, {0.1, 0.2}, {0.45, 0.55}, {0.45, -0.15}, {-0.1, -0.15}}
	goal := Goal{Src: 0, Dst: 1, Rel: Left}
	e := newEnv(t, Options{Distance: true})
	setScene(e, layout, goal)
	p0 := e.Positions()
	tr := e.Step([]float32{0}, make([]float32, obsDim)) // right: into the goal region
	p1 := e.Positions()
	want := 10 * (dist(p0[0], p0[1]) - dist(p1[0], p1[1]))
	if !tr.Success || tr.Reward != want {
		t.Errorf("%+v, want success and reward 10·Δ|red − blue| = %v without a bonus", tr, want)
	}
	// Gathering: the sum of the distances from green.
	gather := Task{Level: LevelHard, Kind: KindGather}
	pos := gatherScene(0.3, 0.5)
	if got, want := gather.Potential(pos, true), 3*0.3+0.5; math.Abs(got-want) > 1e-12 {
		t.Errorf("gathering distance potential %v, want %v", got, want)
	}
	if got, want := gather.Potential(pos, false), 0.5-GatherRadius; math.Abs(got-want) > 1e-12 {
		t.Errorf("gathering shaped potential %v, want %v", got, want)
	}
	// A push task: the named ball's progress the named way.
	push := Task{Level: LevelEasy, Kind: KindPush, Ball: 1, Dir: Behind}
	if got := push.Potential(pos, false); got != pos[1][1] {
		t.Errorf("push potential %v, want blue's y %v (behind is −y)", got, pos[1][1])
	}
}

func TestOptionsFromID(t *testing.T) {
	tests := []struct {
		id     string
		want   Options
		canon  string
		obsDim int
	}{
		{"CLEVR-Robot-v0", Options{}, "CLEVR-Robot-v0", 24},
		{"CLEVR-Robot-v0:task_level=relation", Options{}, "CLEVR-Robot-v0", 24},
		{"CLEVR-Robot-v0:task_level=easy", Options{Level: LevelEasy}, "CLEVR-Robot-v0:task_level=easy", 24},
		{"CLEVR-Robot-v0:task_level=rephrase", Options{Level: LevelRephrase}, "CLEVR-Robot-v0:task_level=rephrase", 24},
		{"CLEVR-Robot-v0:task_level=hard", Options{Level: LevelHard}, "CLEVR-Robot-v0:task_level=hard", 60},
		{"CLEVR-Robot-v0:reward=distance,task_level=mixed", Options{Level: LevelMixed, Distance: true}, "CLEVR-Robot-v0:task_level=mixed,reward=distance", 60},
		{"CLEVR-Robot-v0:goal_encoding=text", Options{TextGoal: true}, "CLEVR-Robot-v0:goal_encoding=text", 10 + textDim},
		{"CLEVR-Robot-v0:phrasing=heldout", Options{HeldOut: true}, "CLEVR-Robot-heldout-v0", 24},
		{"CLEVR-Robot-heldout-v0:phrasing=heldout", Options{HeldOut: true}, "CLEVR-Robot-heldout-v0", 24},
	}
	for _, tt := range tests {
		e, err := env.Make(tt.id)
		if err != nil {
			t.Fatalf("%s: %v", tt.id, err)
		}
		c := e.(*Env)
		if c.opt != tt.want || c.Spec().ID != tt.canon || e.ObservationSpace().Dim() != tt.obsDim {
			t.Errorf("%s: options %+v, id %s, obs %d; want %+v, %s, %d", tt.id, c.opt, c.Spec().ID, e.ObservationSpace().Dim(), tt.want, tt.canon, tt.obsDim)
		}
		c.Close()
	}
	errs := []struct{ id, want string }{
		{"CLEVR-Robot-v0:task_level=medium", "allowed: relation, easy, hard, rephrase, mixed"},
		{"CLEVR-Robot-v0:goal_encoding=bert", "allowed: onehot, text"},
		{"CLEVR-Robot-v0:reward=sparse", "allowed: shaped, distance"},
		{"CLEVR-Robot-v0:phrasing=unseen", "allowed: train, heldout"},
		{"CLEVR-Robot-v0:level=easy", "allowed: task_level, goal_encoding, reward, phrasing"},
		{"CLEVR-Robot-sparse-v0:reward=distance", "sparse variant"},
		{"CLEVR-Robot-heldout-v0:phrasing=train", "held-out variant"},
	}
	for _, tt := range errs {
		if _, err := env.Make(tt.id); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one saying %q", tt.id, err, tt.want)
		}
	}
}

func TestMixedLevels(t *testing.T) {
	e := newEnv(t, Options{Level: LevelMixed})
	obs := make([]float32, e.obsDim)
	seen := map[string]int{}
	for seed := range uint64(200) {
		e.Seed(seed)
		e.Reset(obs)
		task := e.Task()
		if e.EpisodeLevel() != task.Level.String() || task.Level == LevelMixed {
			t.Fatalf("episode level %q for task %+v", e.EpisodeLevel(), task)
		}
		seen[e.EpisodeLevel()]++
		// The wide layout: level, kind, then the relation slots.
		goal := obs[2*NumBalls:]
		if goal[task.Level] != 1 || goal[len(episodeLevels)+int(task.Kind)] != 1 {
			t.Fatalf("%+v: level and kind one-hots %v", task, goal[:len(episodeLevels)+int(numKinds)])
		}
		slots := goal[len(episodeLevels)+int(numKinds):]
		for k, g := range task.Rels[:task.N] {
			s := slots[k*slotDim:]
			if s[g.Src] != 1 || s[NumBalls+g.Dst] != 1 || s[2*NumBalls+int(g.Rel)] != 1 {
				t.Fatalf("%+v: slot %d is %v", task, k, s[:slotDim])
			}
		}
		var ones float32
		for _, x := range goal {
			ones += x
		}
		want := 2 + 3*task.N
		if task.Kind == KindPush {
			want = 4
		}
		if int(ones) != want {
			t.Fatalf("%+v: %v ones in the goal one-hots, want %d", task, ones, want)
		}
	}
	for _, l := range episodeLevels {
		if seen[l.String()] < 30 {
			t.Errorf("level %s drawn %d times in 200 episodes", l, seen[l.String()])
		}
	}
}

func TestLevelsMarshalRoundTrip(t *testing.T) {
	for _, opt := range []Options{{Level: LevelMixed, TextGoal: true}, {Level: LevelHard, Distance: true}, {Level: LevelEasy, HeldOut: true}} {
		a := newEnv(t, opt)
		a.Seed(5)
		a.Reset(make([]float32, a.obsDim))
		rolloutDim(t, a, rand.New(rand.NewPCG(1, 1)), 7)
		state, err := a.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		want := rolloutDim(t, a, rand.New(rand.NewPCG(2, 2)), 150)

		b := newEnv(t, opt)
		b.Seed(99)
		b.Reset(make([]float32, b.obsDim))
		if err := b.UnmarshalBinary(state); err != nil {
			t.Fatalf("%+v: %v", opt, err)
		}
		if again, _ := b.MarshalBinary(); !bytes.Equal(again, state) {
			t.Errorf("%+v: MarshalBinary after UnmarshalBinary differs", opt)
		}
		if got := rolloutDim(t, b, rand.New(rand.NewPCG(2, 2)), 150); !slices.Equal(got, want) {
			t.Errorf("%+v: restored env does not reproduce the trajectory", opt)
		}
	}
	// A relation env refuses a hard env's state.
	hard := newEnv(t, Options{Level: LevelHard})
	state, _ := hard.MarshalBinary()
	if err := newEnv(t, Options{}).UnmarshalBinary(state); err == nil {
		t.Error("a relation env accepted a hard env's state")
	}
}

// rolloutDim is rollout for any observation size: random pushes, resetting
// finished episodes, the observations and rewards as bits.
func rolloutDim(t testing.TB, e *Env, r *rand.Rand, n int) []uint64 {
	t.Helper()
	obs := make([]float32, e.obsDim)
	var out []uint64
	for range n {
		tr := e.Step([]float32{float32(r.IntN(NumActions))}, obs)
		out = append(out, math.Float64bits(tr.Reward))
		if tr.Terminated {
			e.Reset(obs)
		}
		for _, x := range obs {
			out = append(out, uint64(math.Float32bits(x)))
		}
	}
	return out
}

// sentences returns every instruction of the split for a sample of tasks
// of every level.
func sentences(heldOut bool) map[string]bool {
	out := map[string]bool{}
	add := func(task Task) {
		frames, _ := phrasings(task, heldOut)
		for tmpl := range frames {
			for p := range numPhrases(task, heldOut) {
				out[taskInstruction(task, heldOut, tmpl, p)] = true
			}
		}
	}
	for i := range NumGoals {
		g := GoalByIndex(i)
		for _, l := range []Level{LevelRelation, LevelRephrase} {
			add(Task{Level: l, Kind: KindRelations, N: 1, Rels: [MaxRelations]Goal{g}})
		}
		for j := range NumGoals {
			two := Task{Level: LevelHard, Kind: KindRelations, N: 1, Rels: [MaxRelations]Goal{g}}
			if h := GoalByIndex(j); two.compatible(h) {
				two.Rels[1], two.N = h, 2
				add(two)
			}
		}
	}
	for b := range NumBalls {
		for d := range Relation(NumRelations) {
			add(Task{Level: LevelEasy, Kind: KindPush, Ball: b, Dir: d})
		}
	}
	add(Task{Level: LevelHard, Kind: KindOrder})
	add(Task{Level: LevelHard, Kind: KindGather})
	return out
}

func TestPhrasingSplitDisjoint(t *testing.T) {
	train, held := sentences(false), sentences(true)
	if len(train) < 1000 || len(held) < 500 {
		t.Fatalf("%d training and %d held-out sentences, want many", len(train), len(held))
	}
	for s := range held {
		if train[s] {
			t.Errorf("%q is both a training and a held-out phrasing", s)
		}
	}
	// Every held-out sentence frame has a word no training sentence uses,
	// so the text encoding sees something unknown.
	unknown := 0
	enc := make([]float32, textDim)
	for s := range held {
		encodeText(enc, s)
		if enc[textDim-2] > 0 {
			unknown++
		}
	}
	if unknown < len(held)*9/10 {
		t.Errorf("only %d of %d held-out sentences have a word outside the vocabulary", unknown, len(held))
	}
	for s := range train {
		encodeText(enc, s)
		if enc[textDim-2] > 0 {
			t.Fatalf("training sentence %q has a word outside the vocabulary", s)
		}
	}
	// The rephrase level is the larger set: it holds the relation level's
	// sentences.
	rel, reph := 0, 0
	for i := range NumGoals {
		for _, l := range []Level{LevelRelation, LevelRephrase} {
			task := Task{Level: l, Kind: KindRelations, N: 1, Rels: [MaxRelations]Goal{GoalByIndex(i)}}
			frames, _ := phrasings(task, false)
			if l == LevelRelation {
				rel += len(frames)
			} else {
				reph += len(frames) * numPhrases(task, false)
			}
		}
	}
	if reph < 3*rel {
		t.Errorf("rephrase has %d training sentences, relation %d: want a larger set", reph, rel)
	}
}

func TestTextEncoding(t *testing.T) {
	a, b := make([]float32, textDim), make([]float32, textDim)
	encodeText(a, "Push the red ball to the left of the blue ball")
	encodeText(b, "Push the red ball to the left of the blue ball")
	if !slices.Equal(a, b) {
		t.Fatal("the same sentence encoded twice differs")
	}
	slot := func(w string) int {
		i, ok := slices.BinarySearch(vocabulary, w)
		if !ok {
			t.Fatalf("%q not in the vocabulary", w)
		}
		return 2 * i
	}
	if a[slot("the")] != 3 || a[slot("red")] != 1 || a[slot("red")+1] != 2.0/10 || a[slot("blue")+1] != 9.0/10 {
		t.Errorf("counts and positions: the %v, red %v at %v, blue at %v", a[slot("the")], a[slot("red")], a[slot("red")+1], a[slot("blue")+1])
	}
	encodeText(b, "Push the blue ball to the left of the red ball")
	if slices.Equal(a, b) {
		t.Error("swapping the source and destination colours does not change the encoding")
	}
	encodeText(b, "Shove the red sphere until it is leftward of the blue sphere")
	if b[textDim-2] != 2 { // shove, leftward
		t.Errorf("unknown-word count %v, want 2", b[textDim-2])
	}

	// Envs seeded alike observe the same encoding; it is the instruction's.
	e1, e2 := newEnv(t, Options{TextGoal: true, Level: LevelMixed}), newEnv(t, Options{TextGoal: true, Level: LevelMixed})
	o1, o2 := make([]float32, e1.obsDim), make([]float32, e2.obsDim)
	for seed := range uint64(20) {
		e1.Seed(seed)
		e2.Seed(seed)
		e1.Reset(o1)
		e2.Reset(o2)
		if !slices.Equal(o1, o2) {
			t.Fatalf("seed %d: two envs seeded alike observe different encodings", seed)
		}
		encodeText(a, e1.Instruction())
		if !slices.Equal(o1[2*NumBalls:], a) {
			t.Fatalf("seed %d: observed goal is not the encoding of %q", seed, e1.Instruction())
		}
	}
}

func TestLevelExperts(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the hard expert simulates up to 40 pushes per step (about a minute); run without -short")
	}
	for _, tt := range []struct {
		opt      Options
		episodes int
		min      float64
	}{
		{Options{Level: LevelEasy}, 100, 1},
		{Options{Level: LevelRephrase, HeldOut: true}, 50, 0.95},
		{Options{Level: LevelHard}, 24, 0.5},
	} {
		e := newEnv(t, tt.opt)
		obs := make([]float32, e.obsDim)
		act := []float32{0}
		successes := 0
		for seed := range uint64(tt.episodes) {
			e.Seed(seed)
			e.Reset(obs)
			for range e.Spec().MaxEpisodeSteps {
				before, _ := e.MarshalBinary()
				e.ExpertAction(act)
				if after, _ := e.MarshalBinary(); !bytes.Equal(before, after) {
					t.Fatal("ExpertAction changed the env's state")
				}
				tr := e.Step(act, obs)
				if tr.Success {
					successes++
				}
				if tr.Terminated {
					break
				}
			}
		}
		rate := float64(successes) / float64(tt.episodes)
		t.Logf("%s expert: %d/%d", tt.opt.ID(), successes, tt.episodes)
		if rate < tt.min {
			t.Errorf("%s expert success %.2f, want ≥ %.2f", tt.opt.ID(), rate, tt.min)
		}
	}
}

func TestWrongExpertLevels(t *testing.T) {
	e := newEnv(t, Options{Level: LevelEasy})
	obs := make([]float32, e.obsDim)
	act := []float32{0}
	for seed := range uint64(20) {
		e.Seed(seed)
		e.Reset(obs)
		e.WrongExpertAction(act)
		if ball := int(act[0]) / NumDirs; ball == e.Task().Ball {
			t.Fatalf("%v: the wrong expert pushes the named ball", e.Task())
		}
	}
}

func TestRenderTasks(t *testing.T) {
	e := newEnv(t, Options{Level: LevelHard, HeldOut: true})
	three := Task{Level: LevelHard, Kind: KindRelations, N: 3, Rels: [MaxRelations]Goal{{0, 1, Left}, {2, 1, Front}, {3, 1, Behind}}}
	setTaskScene(e, [NumBalls][2]float64{{-0.3, 0.2}, {0.2, 0.2}, {0.45, 0.55}, {0.45, -0.15}, {-0.1, -0.15}}, three)
	img := e.Render()
	// Three lines of instruction and two of goal do not fit the usual
	// caption: it grows, and its last line has ink.
	if h := img.Bounds().Dy(); h <= 492 {
		t.Errorf("image height %d, want the caption grown past 492", h)
	}
	inked := 0
	for y := img.Bounds().Max.Y - 2*lineHeight; y < img.Bounds().Max.Y-lineHeight; y++ { // the last baseline is 19 px above the bottom
		for x := 0; x < img.Bounds().Max.X; x++ {
			if img.RGBAAt(x, y).R < 100 {
				inked++
			}
		}
	}
	if inked < 50 {
		t.Errorf("last caption line has %d dark pixels, want text", inked)
	}
	// A push task: an arrow from the ball the named way (red, right).
	e = newEnv(t, Options{Level: LevelEasy})
	setTaskScene(e, [NumBalls][2]float64{{-0.3, 0.2}, {0.2, 0.55}, {0.45, 0.55}, {0.45, -0.15}, {-0.1, -0.15}}, Task{Level: LevelEasy, Kind: KindPush, Ball: 0, Dir: Right})
	img = e.Render()
	// 0.25 m right of red's centre, on the arrow's shaft.
	x, y := renderMargin+int((-0.3+0.25-WallXMin)*renderScale), renderMargin+int((WallYMax-0.2)*renderScale)
	if c := img.RGBAAt(x, y); c.R > 100 {
		t.Errorf("pixel on the push arrow is %v, want ink", c)
	}
}

func TestLevelsStepDoesNotAllocate(t *testing.T) {
	for _, opt := range []Options{{Level: LevelMixed, TextGoal: true, Distance: true}, {Level: LevelHard}} {
		e := newEnv(t, opt)
		obs := make([]float32, e.obsDim)
		act := []float32{0}
		i := 0
		allocs := testing.AllocsPerRun(100, func() {
			act[0] = float32(i % NumActions)
			i += 7
			if e.Step(act, obs).Terminated {
				e.steps = 0 // keep stepping the same episode: Reset renders the instruction
			}
		})
		if allocs != 0 {
			t.Errorf("%s: Step allocates %v times per call, want 0", opt.ID(), allocs)
		}
	}
}
