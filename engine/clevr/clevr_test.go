package clevr

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/lago-rl/lago/engine/env"
	"github.com/lago-rl/lago/engine/sim/mujoco"
)

func newEnv(t testing.TB, opt Options) *Env {
	t.Helper()
	e, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// setScene places the balls at pos, at rest, parks the pusher and sets the
// goal, a relation task, as a Reset would but without sampling.
func setScene(e *Env, pos [NumBalls][2]float64, g Goal) {
	setTaskScene(e, pos, Task{Level: LevelRelation, Kind: KindRelations, N: 1, Rels: [MaxRelations]Goal{g}})
}

// setTaskScene is setScene for any task.
func setTaskScene(e *Env, pos [NumBalls][2]float64, t Task) {
	e.data.Reset()
	q := e.data.QPos()
	for i, a := range e.ballQPos {
		q[a], q[a+1], q[a+2] = pos[i][0], pos[i][1], ballZ
	}
	q[e.pusherQPos[0]], q[e.pusherQPos[1]] = parkX, parkY
	e.task, e.goal, e.template, e.phrase, e.steps = t, t.Rels[0], 0, 0, 0
	e.encodeGoal()
}

func TestPushDisplacement(t *testing.T) {
	// Measured on MuJoCo 2.2.2 with the original scene: a cardinal push
	// moves a free ball 0.25 m, a diagonal one 0.196 m along each axis.
	const cardinal, diagonal = 0.25, 0.196
	e := newEnv(t, Options{})
	// Red alone in the middle, the others in the corners, out of the way.
	layout := [NumBalls][2]float64{{0, 0.2}, {-0.46, 0.56}, {0.46, 0.56}, {-0.46, -0.16}, {0.46, -0.16}}
	for dir, d := range Dirs {
		setScene(e, layout, Goal{0, 1, Left})
		e.data.Step(settleMax) // let the balls sink into their contacts
		before := e.Positions()[0]
		e.push(0, dir)
		after := e.Positions()[0]
		t.Logf("push %-14s moves the ball (%+.4f, %+.4f)", DirNames[dir], after[0]-before[0], after[1]-before[1])
		for axis := range 2 {
			moved := after[axis] - before[axis]
			want := 0.0
			switch {
			case d[axis] != 0 && d[1-axis] == 0:
				want = cardinal * d[axis]
			case d[axis] != 0:
				want = diagonal * math.Copysign(1, d[axis])
			}
			if want == 0 && math.Abs(moved) > 0.005 ||
				want != 0 && math.Abs(moved-want) > 0.15*math.Abs(want) {
				t.Errorf("push %s: moved %.4f along axis %d, want %.3f ± 15%%", DirNames[dir], moved, axis, want)
			}
		}
		// The push leaves the ball coasting, which the next push keeps.
		if v := e.data.QVel()[e.ballDof[0] : e.ballDof[0]+2]; math.Hypot(v[0], v[1]) < 0.1 {
			t.Errorf("push %s: ball speed %v at the end of the push, want it still moving", DirNames[dir], v)
		}
		// Coasting on, with the pusher gone, adds a few centimetres.
		q := e.data.QPos()
		q[e.pusherQPos[0]], q[e.pusherQPos[1]] = parkX, parkY
		clear(e.data.Ctrl())
		e.data.Step(100)
		coast := e.Positions()[0]
		dist := math.Hypot(coast[0]-after[0], coast[1]-after[1])
		t.Logf("%-14s then coasts %.4f", "", dist)
		if dist < 0.01 || dist > 0.06 {
			t.Errorf("push %s: the ball coasts %.4f after the push, want a few centimetres", DirNames[dir], dist)
		}
	}
}

func TestSampleLayout(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 1000 {
		p := sampleLayout(r)
		for i := range p {
			if p[i][0] < spawnXMin || p[i][0] >= spawnXMax || p[i][1] < spawnYMin || p[i][1] >= spawnYMax {
				t.Fatalf("ball %d at %v outside the spawn box", i, p[i])
			}
			for j := range i {
				if d := math.Hypot(p[i][0]-p[j][0], p[i][1]-p[j][1]); d < minBallSpacing {
					t.Fatalf("balls %d and %d sampled %.3f apart, want ≥ %v", i, j, d, minBallSpacing)
				}
			}
		}
	}
}

// script is a rand.Source that replays values: each Uint64 gives
// Rand.Float64 the next fraction.
type script struct{ fractions []float64 }

func (s *script) Uint64() uint64 {
	f := s.fractions[0]
	s.fractions = s.fractions[1:]
	return uint64(f * (1 << 53))
}

func TestSampleLayoutRedrawsScene(t *testing.T) {
	// Fractions of the spawn box: x = -0.5 + f, y = -0.3 + 0.8 f.
	var f []float64
	f = append(f, 0.5, 0.5) // ball 0 at (0, 0.1)
	for range spawnTries {
		f = append(f, 0.5, 0.5) // ball 1 on top of ball 0, ten times
	}
	// The scene is redrawn from ball 0: three balls in a row at the back,
	// two at the front, 0.4 m apart.
	want := [NumBalls][2]float64{}
	for i, fxy := range [NumBalls][2]float64{{0.05, 0}, {0.45, 0}, {0.85, 0}, {0.25, 0.9}, {0.65, 0.9}} {
		fx, fy := fxy[0], fxy[1]
		f = append(f, fx, fy)
		want[i] = [2]float64{-0.5 + fx, -0.3 + 0.8*fy}
	}
	got := sampleLayout(rand.New(&script{f}))
	for i := range want {
		for k := range 2 {
			if math.Abs(got[i][k]-want[i][k]) > 1e-12 {
				t.Fatalf("layout %v, want the redrawn scene %v", got, want)
			}
		}
	}
}

func TestReset(t *testing.T) {
	e := newEnv(t, Options{})
	obs := make([]float32, obsDim)
	const tol = 0.005 // soft contacts let balls sink this far into walls and each other
	goals := map[Goal]int{}
	for seed := range uint64(1000) {
		e.Seed(seed)
		e.Reset(obs)
		p := e.Positions()
		for i := range p {
			if p[i][0] < reachXMin-tol || p[i][0] > reachXMax+tol || p[i][1] < reachYMin-tol || p[i][1] > reachYMax+tol {
				t.Fatalf("seed %d: ball %d at %v overlaps a wall", seed, i, p[i])
			}
			for j := range i {
				if d := math.Hypot(p[i][0]-p[j][0], p[i][1]-p[j][1]); d < 2*BallRadius-tol {
					t.Fatalf("seed %d: balls %d and %d overlap, %.3f apart", seed, i, j, d)
				}
			}
			if obs[2*i] != float32(p[i][0]) || obs[2*i+1] != float32(p[i][1]) {
				t.Fatalf("seed %d: obs %v does not hold ball %d at %v", seed, obs[:10], i, p[i])
			}
		}
		if !e.atRest() {
			t.Fatalf("seed %d: balls still moving after Reset: %v", seed, e.data.QVel()[:6*NumBalls])
		}
		g := e.Goal()
		if !g.valid() || g.Satisfied(&p) {
			t.Fatalf("seed %d: goal %v invalid or already met", seed, g)
		}
		oneHot := make([]float32, 2*NumBalls+NumRelations)
		oneHot[g.Src], oneHot[NumBalls+g.Dst], oneHot[2*NumBalls+int(g.Rel)] = 1, 1, 1
		if !slices.Equal(obs[2*NumBalls:], oneHot) {
			t.Fatalf("seed %d: goal one-hots %v, want %v for %v", seed, obs[2*NumBalls:], oneHot, g)
		}
		goals[g]++
	}
	// 1000 draws over 80 goals: each should come up (expected 12.5 each).
	if len(goals) < 75 {
		t.Errorf("only %d of 80 goals sampled in 1000 resets", len(goals))
	}
}

// rollout steps e with actions drawn from r for n steps, resetting where
// an episode terminates, and returns the observations and rewards as bits.
// It fails t if MuJoCo reports the simulation unstable.
func rollout(t testing.TB, e *Env, r *rand.Rand, n int) []uint64 {
	t.Helper()
	obs := make([]float32, obsDim)
	act := []float32{0}
	var out []uint64
	for range n {
		act[0] = float32(r.IntN(NumActions))
		tr := e.Step(act, obs)
		for _, w := range []mujoco.Warning{mujoco.BadQPos, mujoco.BadQVel, mujoco.BadQAcc} {
			if e.data.Warnings(w) > 0 {
				t.Fatalf("MuJoCo warning %d after action %v: the simulation went unstable", w, act[0])
			}
		}
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

func TestSameSeedSameTrajectory(t *testing.T) {
	run := func(seed uint64) []uint64 {
		e := newEnv(t, Options{})
		e.Seed(seed)
		e.Reset(make([]float32, obsDim))
		return rollout(t, e, rand.New(rand.NewPCG(9, 9)), 200)
	}
	a, b := run(42), run(42)
	if !slices.Equal(a, b) {
		t.Error("two envs seeded alike diverged")
	}
	if slices.Equal(a, run(43)) {
		t.Error("seeds 42 and 43 gave the same trajectory")
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	a := newEnv(t, Options{})
	a.Seed(5)
	a.Reset(make([]float32, obsDim))
	rollout(t, a, rand.New(rand.NewPCG(1, 1)), 7) // mid-episode, balls coasting
	state, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// Long enough to pass through resets, which draw from the generator.
	want := rollout(t, a, rand.New(rand.NewPCG(2, 2)), 120)

	b := newEnv(t, Options{})
	b.Seed(99)
	b.Reset(make([]float32, obsDim))
	if err := b.UnmarshalBinary(state); err != nil {
		t.Fatal(err)
	}
	if again, _ := b.MarshalBinary(); !bytes.Equal(again, state) {
		t.Error("MarshalBinary after UnmarshalBinary differs from the original state")
	}
	if b.TextView() == "" || b.steps != 7 {
		t.Errorf("restored step count %d, want 7", b.steps)
	}
	if got := rollout(t, b, rand.New(rand.NewPCG(2, 2)), 120); !slices.Equal(got, want) {
		t.Error("restored env does not reproduce the trajectory bit-exactly")
	}
}

func TestUnmarshalErrors(t *testing.T) {
	a := newEnv(t, Options{})
	good, _ := a.MarshalBinary()
	sparse, _ := newEnv(t, Options{Sparse: true}).MarshalBinary()

	pcg, _ := a.pcg.MarshalBinary()
	goalAt := 8 + len(stateTag) + 8 + len(a.opt.ID()) + 8 + len(pcg)
	badGoal := slices.Clone(good)
	binary.LittleEndian.PutUint64(badGoal[goalAt+8:], uint64(a.goal.Src)) // dst = src
	badTemplate := slices.Clone(good)
	binary.LittleEndian.PutUint64(badTemplate[goalAt+24:], uint64(len(trainFrames)))

	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "truncated"},
		{"truncated", good[:len(good)-3], "truncated"},
		{"trailing", append(slices.Clone(good), 0), "unexpected bytes"},
		{"other variant", sparse, "CLEVR-Robot-sparse-v0"},
		{"bad goal", badGoal, "invalid goal"},
		{"bad template", badTemplate, "template"},
	}
	b := newEnv(t, Options{})
	b.Seed(7)
	b.Reset(make([]float32, obsDim))
	before, _ := b.MarshalBinary()
	for _, tt := range tests {
		err := b.UnmarshalBinary(tt.data)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tt.name, err, tt.want)
		}
		if after, _ := b.MarshalBinary(); !bytes.Equal(after, before) {
			t.Errorf("%s: failed UnmarshalBinary changed the env", tt.name)
		}
	}
}

func TestRewards(t *testing.T) {
	// Red 0.55 left of blue; one push right (action 0) brings it 0.3
	// left of blue, inside the goal region; a push left sends it into the
	// wall, no closer.
	layout := [NumBalls][2]float64{{-0.45, 0.2}, {0.1, 0.2}, {0.45, 0.55}, {0.45, -0.15}, {-0.1, -0.15}}
	goal := Goal{Src: 0, Dst: 1, Rel: Left}
	tests := []struct {
		sparse  bool
		action  float32
		success bool
	}{
		{false, 0, true},
		{true, 0, true},
		{false, 2, false},
		{true, 2, false},
	}
	for _, tt := range tests {
		e := newEnv(t, Options{Sparse: tt.sparse})
		setScene(e, layout, goal)
		p0 := e.Positions()
		tr := e.Step([]float32{tt.action}, make([]float32, obsDim))
		p1 := e.Positions()
		if tr.Success != tt.success || tr.Terminated != tt.success {
			t.Errorf("sparse=%v action %v: %+v, want success and termination %v", tt.sparse, tt.action, tr, tt.success)
		}
		want := 0.0
		switch {
		case tt.sparse && tt.success:
			want = 1
		case !tt.sparse:
			want = 10 * (goal.Distance(&p0) - goal.Distance(&p1))
			if tt.success {
				want += 10
			}
		}
		if tr.Reward != want {
			t.Errorf("sparse=%v action %v: reward %v, want %v", tt.sparse, tt.action, tr.Reward, want)
		}
		if !tt.sparse && tt.success && tr.Reward < 11 {
			t.Errorf("successful shaped push rewarded %v, want progress (≈1.6) plus the bonus 10", tr.Reward)
		}
	}
}

func TestInvalidAction(t *testing.T) {
	e := newEnv(t, Options{})
	for _, a := range []float32{-1, 40, 1.5, float32(math.NaN())} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("action %v did not panic", a)
				}
			}()
			e.Step([]float32{a}, make([]float32, obsDim))
		}()
	}
}

func TestStepDoesNotAllocate(t *testing.T) {
	e := newEnv(t, Options{})
	obs := make([]float32, obsDim)
	act := []float32{0}
	i := 0
	allocs := testing.AllocsPerRun(100, func() {
		act[0] = float32(i % NumActions)
		i += 7
		if e.Step(act, obs).Terminated {
			e.Reset(obs)
		}
	})
	if allocs != 0 {
		t.Errorf("Step (and Reset) allocate %v times per call, want 0", allocs)
	}
}

func TestExpert(t *testing.T) {
	const episodes = 200
	e := newEnv(t, Options{})
	obs := make([]float32, obsDim)
	act := []float32{0}
	successes := 0
	for seed := range uint64(episodes) {
		e.Seed(seed)
		e.Reset(obs)
		for range MaxEpisodeSteps {
			before, _ := e.MarshalBinary()
			e.ExpertAction(act)
			if after, _ := e.MarshalBinary(); !bytes.Equal(before, after) {
				t.Fatal("ExpertAction changed the env's state")
			}
			if e.Step(act, obs).Success {
				successes++
				break
			}
		}
	}
	t.Logf("expert success %d/%d", successes, episodes)
	if successes < episodes*80/100 {
		t.Errorf("expert succeeded in %d of %d episodes, want at least 80%%", successes, episodes)
	}
}

func TestPathAround(t *testing.T) {
	c := [2]float64{0, 0}
	tests := []struct {
		a, b [2]float64
		want float64
	}{
		{[2]float64{1, 1}, [2]float64{-1, 1}, 2}, // clears the disc
		// Straight through the centre: two tangents of √(1−0.25) and a
		// half-turn less twice acos(0.5), at radius 0.5.
		{[2]float64{-1, 0}, [2]float64{1, 0}, 2*math.Sqrt(0.75) + 0.5*(math.Pi-2*math.Pi/3)},
	}
	for _, tt := range tests {
		if got := pathAround(tt.a, tt.b, c, 0.5); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("pathAround(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestTextView(t *testing.T) {
	e := newEnv(t, Options{})
	setScene(e, [NumBalls][2]float64{{-0.04, 0.26}, {0.1, 0.2}, {0.449, 0.55}, {-0.451, -0.16}, {0.06, -0.04}}, Goal{0, 1, Left})
	e.template = 0
	want := "Task: Push the red ball to the left of the blue ball.\n" +
		"Balls (x right, y forward, metres): red (0.0, 0.3), blue (0.1, 0.2), green (0.4, 0.6), purple (-0.5, -0.2), cyan (0.1, 0.0)"
	if got := e.TextView(); got != want {
		t.Errorf("TextView() =\n%s\nwant\n%s", got, want)
	}
	// A question-mark template keeps its punctuation.
	e.template = slices.IndexFunc(trainFrames, func(f string) bool { return strings.HasSuffix(f, "?") })
	if got := e.TextView(); !strings.Contains(got, "ball?\n") {
		t.Errorf("TextView() = %q, want the question mark kept alone", got)
	}

	// Random states all have the same shape of text.
	line := regexp.MustCompile(`^Task: [A-Z][^\n]*[.?]\nBalls \(x right, y forward, metres\):( (red|blue|green|purple|cyan) \(-?\d\.\d, -?\d\.\d\),?){5}$`)
	obs := make([]float32, obsDim)
	for seed := range uint64(50) {
		e.Seed(seed)
		e.Reset(obs)
		if tv := e.TextView(); !line.MatchString(tv) || strings.Contains(tv, "-0.0") {
			t.Fatalf("seed %d: TextView() = %q does not match the canonical form", seed, tv)
		}
	}
}

func TestActionNames(t *testing.T) {
	e := newEnv(t, Options{})
	names := e.ActionNames()
	factors := e.ActionFactors()
	if len(names) != NumActions || len(factors) != 2 || len(factors[0])*len(factors[1]) != NumActions {
		t.Fatalf("%d names and factors of sizes %d×%d, want 40 = 5×8", len(names), len(factors[0]), len(factors[1]))
	}
	for a, name := range names {
		ball, dir := factors[0][a/NumDirs], factors[1][a%NumDirs]
		if name != "push the "+ball+" ball "+dir {
			t.Errorf("action %d named %q, want it to push the %s ball %s", a, name, ball, dir)
		}
	}
	if names[0] != "push the red ball right" || names[39] != "push the cyan ball backward-left" {
		t.Errorf("first and last names %q, %q", names[0], names[39])
	}
	// The factors are copies: changing them must not rename the balls.
	factors[0][0] = "pink"
	if Colours[0] != "red" {
		t.Error("ActionFactors exposes the package's colour table")
	}
}

func TestRegisteredVariants(t *testing.T) {
	for _, o := range []Options{{}, {Sparse: true}, {HeldOut: true}, {Sparse: true, HeldOut: true}} {
		id := o.ID()
		e, err := env.Make(id)
		if err != nil {
			t.Fatal(err)
		}
		c := e.(*Env)
		spec := c.Spec()
		if spec.ID != id || spec.MaxEpisodeSteps != 50 || !spec.HasSuccess || c.opt != o {
			t.Errorf("%s: spec %+v, options %+v", id, spec, c.opt)
		}
		if e.ObservationSpace().Dim() != 24 || !e.ActionSpace().Equal(env.Discrete(40)) {
			t.Errorf("%s: spaces %v, %v; want Box(24), Discrete(40)", id, e.ObservationSpace(), e.ActionSpace())
		}
		frames := trainFrames
		if o.HeldOut {
			frames = heldOutFrames
		}
		for seed := range uint64(20) {
			c.Seed(seed)
			c.Reset(make([]float32, 24))
			if got := c.Instruction(); got != instruction(frames, c.template, c.goal) {
				t.Fatalf("%s: instruction %q not from its own templates", id, got)
			}
		}
		c.Close()
	}
	for _, id := range []string{"CLEVR-Robot-v0", "CLEVR-Robot-sparse-v0", "CLEVR-Robot-heldout-v0"} {
		if !slices.Contains(env.IDs(), id) {
			t.Errorf("%s not registered", id)
		}
	}
}

func TestVec(t *testing.T) {
	v, err := env.NewVec("CLEVR-Robot-v0", 4, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	v.Reset()
	actions := make([]float32, 4)
	ended := 0
	for i := range 60 {
		for k := range actions {
			actions[k] = float32((i*5 + k*11) % NumActions)
		}
		v.Step(actions)
		for k := range 4 {
			if v.Terminated[k] || v.Truncated[k] {
				ended++
			}
		}
	}
	if ended < 4 {
		t.Errorf("%d episodes ended in 60 steps of 4 envs, want every env to hit the 50-step limit at least", ended)
	}
}

func TestRender(t *testing.T) {
	e := newEnv(t, Options{})
	setScene(e, [NumBalls][2]float64{{-0.3, 0.2}, {0.2, 0.2}, {0.45, 0.55}, {0.45, -0.15}, {-0.1, -0.15}}, Goal{0, 1, Left})
	img := e.Render()
	b := img.Bounds()
	if b.Dx() != 520 || b.Dy() != 492 {
		t.Errorf("image %v, want 520×492", b)
	}
	// The centre of the red ball, (-0.3, 0.2) in the world.
	red := img.RGBAAt(renderMargin+int(0.3*renderScale), renderMargin+int(0.5*renderScale)+6)
	if red.R < 200 || red.G > 60 || red.B > 60 {
		t.Errorf("pixel on the red ball is %v", red)
	}
	// The caption under the table has ink.
	inked := 0
	for y := b.Max.Y - captionHeight; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if img.RGBAAt(x, y).R < 100 {
				inked++
			}
		}
	}
	if inked < 100 {
		t.Errorf("caption has %d dark pixels, want text", inked)
	}
}

func TestWrongExpertNeverPushesTheNamedBall(t *testing.T) {
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.Seed(7)
	obs := make([]float32, e.ObservationSpace().Dim())
	wrongBall := 0
	const states = 40
	for range states {
		e.Reset(obs)
		goal := e.Goal()
		wrong := make([]float32, 1)
		e.WrongExpertAction(wrong)
		if e.Goal() != goal {
			t.Fatal("WrongExpertAction changed the goal")
		}
		switch ball := int(wrong[0]) / NumDirs; ball {
		case goal.Src:
			t.Fatalf("goal %v: the wrong expert pushes the named ball (action %v)", goal, wrong[0])
		case wrongSource(goal):
			wrongBall++
		}
	}
	// It may push the destination when the other ball cannot move closer.
	if wrongBall < states*3/4 {
		t.Fatalf("the wrong expert pushed its own ball in %d of %d states, want most", wrongBall, states)
	}
}
