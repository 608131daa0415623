package metaworld

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/lago-rl/lago/engine/env"
)

func newEnv(t testing.TB, task string) *Env {
	t.Helper()
	e, err := New(task)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

func TestRegistered(t *testing.T) {
	for _, task := range Tasks {
		e, err := env.Make(task.ID())
		if err != nil {
			t.Fatal(err)
		}
		if got := e.Spec(); got.ID != task.ID() || got.MaxEpisodeSteps != 500 || !got.HasSuccess {
			t.Errorf("%s: Spec() = %+v", task.Name, got)
		}
		if got := e.ObservationSpace().Dim(); got != 39 {
			t.Errorf("%s: observation dim %d, want 39", task.Name, got)
		}
		if got := e.ActionSpace(); got.Kind != env.BoxKind || got.Dim() != 4 {
			t.Errorf("%s: action space %v, want Box(4)", task.Name, got)
		}
		e.(*Env).Close()
	}
	if _, err := New("sweep"); err == nil || !strings.Contains(err.Error(), "known: [reach push") {
		t.Errorf(`New("sweep") error = %v, want the known tasks listed`, err)
	}
}

// place moves the task's object (the puck's position, the drawer's or the
// button's joint), refreshes the derived positions and the observation, and
// reports the success rule.
func (e *Env) successAfter(place func()) bool {
	place()
	e.data.Kinematics()
	e.observeFrame(&e.cur)
	_, ok := e.evaluate(0)
	return ok
}

// TestSuccessRules hand-places each task's state just inside and just
// outside its success threshold.
func TestSuccessRules(t *testing.T) {
	const eps = 1e-4
	tests := []struct {
		task      string
		threshold float64
		// place puts the state at distance r from success's reference.
		place func(e *Env, r float64)
	}{
		{"reach", 0.05, func(e *Env, r float64) {
			// The goal where the fingertips are, then the hand moved r along x.
			e.ep.goal = e.tcp()
			e.data.QPos()[e.handQPos] += r
		}},
		{"push", 0.05, func(e *Env, r float64) {
			q := e.data.QPos()[e.objQPos:]
			q[0], q[1], q[2] = e.ep.goal[0], e.ep.goal[1]+r, e.ep.goal[2]
		}},
		{"pick-place", 0.07, func(e *Env, r float64) {
			q := e.data.QPos()[e.objQPos:]
			q[0], q[1], q[2] = e.ep.goal[0]-r, e.ep.goal[1], e.ep.goal[2]
		}},
		{"drawer-open", 0.03, func(e *Env, r float64) {
			// The closed handle lies 0.19 behind the goal, level with it.
			e.data.QPos()[e.objQPos] = r - 0.19
		}},
		{"drawer-close", 0.065, func(e *Env, r float64) {
			// The observed handle is 5 cm above the goal and 1 cm behind
			// it when closed: the drawer out by q makes sqrt((q+0.01)²+0.05²).
			e.data.QPos()[e.objQPos] = 0.01 - math.Sqrt(r*r-0.05*0.05)
		}},
		{"button-press-topdown", 0.024, func(e *Env, r float64) {
			// The button's top rests 0.093 above the hole.
			e.data.QPos()[e.objQPos] = r - 0.093
		}},
		{"window-open", 0.05, func(e *Env, r float64) {
			// The handle point starts 0.24 left of the goal.
			e.data.QPos()[e.objQPos] = 0.24 - r
		}},
		{"door-open", 0.08, func(e *Env, r float64) {
			// The handle point is R from the hinge, which is 0.185 left of
			// the door's position; the goal 0.3 left of it. Turn the door
			// until the handle is r right of the goal.
			hx, hy := 0.375722, -0.10714
			phi0 := math.Atan2(hy, hx)
			e.data.QPos()[e.objQPos] = -math.Acos((r-0.115)/math.Hypot(hx, hy)) - phi0
		}},
		{"peg-insert-side", 0.07, func(e *Env, r float64) {
			// The head, 0.1 left of the peg's centre, r right of the goal
			// (along x the distance is not scaled).
			q := e.data.QPos()[e.objQPos:]
			q[0], q[1], q[2] = e.ep.goal[0]+r+0.1, e.ep.goal[1], e.ep.goal[2]
		}},
		{"window-close", 0.05, func(e *Env, r float64) {
			// The handle point is 1 cm right of the pane's origin, and the
			// goal is the closed pane's origin.
			e.data.QPos()[e.objQPos] = r - 0.01
		}},
	}
	for _, tt := range tests {
		t.Run(tt.task, func(t *testing.T) {
			e := newEnv(t, tt.task)
			if e.Success() {
				t.Fatal("success at reset")
			}
			saved := make([]float64, e.data.StateSize())
			e.data.State(saved)
			for _, c := range []struct {
				r    float64
				want bool
			}{{tt.threshold - eps, true}, {tt.threshold + eps, false}} {
				_ = e.data.SetState(saved)
				e.data.Kinematics()
				if got := e.successAfter(func() { tt.place(e, c.r) }); got != c.want {
					t.Errorf("at distance %.4f from success (threshold %.3f): success %v, want %v", c.r, tt.threshold, got, c.want)
				}
			}
		})
	}
}

// TestGripperMotion drives the gripper with random and bang-bang actions,
// three times the action range: the mocap moves at most 1 cm per axis per
// step and stays inside the bounds, and the hand stays within its lag of
// them. Then it chases random targets inside the table's free space at full
// speed, reversing: the hand, following the critically damped weld, moves at
// most 1 cm per axis per step too. (Pressed against an obstacle, such as the
// far retaining wall, which is within reach as in Meta-World, the weld
// stretches, and a hand that slips free catches up faster: that is not free
// motion.)
func TestGripperMotion(t *testing.T) {
	e := newEnv(t, "reach")
	r := rand.New(rand.NewPCG(3, 4))
	obs, act := make([]float32, ObsDim), make([]float32, 4)
	e.Seed(1)
	e.Reset(obs)
	steps := 1500
	if testing.Short() {
		steps = 400
	}
	mocap := func() [3]float64 {
		m := e.data.MocapPos()[3*e.mocap:]
		return [3]float64{m[0], m[1], m[2]}
	}
	prevM := mocap()
	for s := range steps {
		if s%25 == 0 {
			for i := range act {
				act[i] = float32(2*r.Float64() - 1)
				if s%50 == 0 {
					act[i] = float32(2*r.IntN(2) - 1) // full speed, reversing
				}
				act[i] *= 3 // beyond the box: must be clipped
			}
		}
		e.Step(act, obs)
		m, h := mocap(), e.bodyPos(e.hand)
		for i := range 3 {
			if d := math.Abs(m[i] - prevM[i]); d > actionScale+1e-12 {
				t.Fatalf("step %d: mocap moved %.5f m along axis %d", s, d, i)
			}
			if m[i] < handLow[i]-1e-12 || m[i] > handHigh[i]+1e-12 {
				t.Fatalf("step %d: mocap %v outside %v–%v", s, m, handLow, handHigh)
			}
			const lag = 0.04
			if h[i] < handLow[i]-lag || h[i] > handHigh[i]+lag {
				t.Fatalf("step %d: hand %v beyond the bounds by more than its lag", s, h)
			}
		}
		prevM = m
	}

	// Free space: above the puck's height, short of the far wall.
	e.Reset(obs)
	lo, hi := [3]float64{-0.35, 0.45, 0.1}, [3]float64{0.35, 0.85, 0.45}
	var target [3]float64
	prevH := e.bodyPos(e.hand)
	maxStep := 0.0
	for s := range steps / 2 {
		if s%30 == 0 {
			target = uniform3(r, lo, hi)
		}
		h := e.bodyPos(e.hand)
		for i := range 3 {
			act[i] = float32(clamp(10*(target[i]-h[i]), -1, 1))
		}
		e.Step(act, obs)
		h = e.bodyPos(e.hand)
		for i := range 3 {
			maxStep = max(maxStep, math.Abs(h[i]-prevH[i]))
		}
		prevH = h
	}
	if maxStep > actionScale+2e-4 || maxStep < 0.9*actionScale {
		t.Errorf("in free space the hand moved up to %.5f m along an axis in one step, want full speed, ≤ 1 cm", maxStep)
	}
}

// TestGrasp picks up the puck with the expert's skills, lifts it 0.1 m and
// holds it there for 50 steps.
func TestGrasp(t *testing.T) {
	e := newEnv(t, "pick-place")
	obs, act := make([]float32, ObsDim), make([]float32, 4)
	e.Seed(7)
	e.Reset(obs)
	rest := e.ep.objInit[2]
	for s := 0; e.ExpertSkill() != 3; s++ {
		if s == 200 {
			t.Fatalf("no grasp after 200 steps; skill %d, obs %v", e.ExpertSkill(), obs[:7])
		}
		e.ExpertAction(act)
		e.Step(act, obs)
	}
	lift := Skill{Grip: 1, Gain: 10, Target: func(o Obs) [3]float64 {
		h := o.Hand()
		return [3]float64{h[0], h[1], rest + 0.1 + 0.05}
	}}
	for s := 0; Obs(obs).Object()[2] < rest+0.1; s++ {
		if s == 100 {
			t.Fatalf("puck not lifted 0.1 m after 100 steps: %v", obs[:7])
		}
		lift.Action(obs, act)
		e.Step(act, obs)
	}
	start := Obs(obs).Object()
	act = []float32{0, 0, 0, 1}
	for s := range 50 {
		e.Step(act, obs)
		p := Obs(obs).Object()
		if p[2] < rest+0.1-0.002 || xyDist(p, start) > 0.005 {
			t.Fatalf("hold step %d: puck at %v, lifted from %v to %v", s, p, rest, start)
		}
	}
	t.Logf("held %.4f m above its rest for 50 steps (moved %+.2f mm in z while held)", Obs(obs).Object()[2]-rest, 1000*(Obs(obs).Object()[2]-start[2]))
}

// run steps e with the given actions and returns the observations and
// rewards.
func run(e *Env, actions [][]float32) ([]float32, []float64) {
	obs := make([]float32, ObsDim)
	var all []float32
	var rewards []float64
	for _, a := range actions {
		tr := e.Step(a, obs)
		all = append(all, obs...)
		rewards = append(rewards, tr.Reward)
	}
	return all, rewards
}

func randomActions(seed uint64, n int) [][]float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	a := make([][]float32, n)
	for i := range a {
		a[i] = []float32{float32(2*r.Float64() - 1), float32(2*r.Float64() - 1), float32(2*r.Float64() - 1), float32(2*r.Float64() - 1)}
	}
	return a
}

func TestDeterministicBySeed(t *testing.T) {
	for _, task := range []string{"push", "drawer-open", "button-press-topdown"} {
		t.Run(task, func(t *testing.T) {
			acts := randomActions(5, 100)
			var first []float32
			for i := range 2 {
				e := newEnv(t, task)
				e.Seed(42)
				obs := make([]float32, ObsDim)
				e.Reset(obs)
				got, _ := run(e, acts)
				got = append(obs, got...)
				if i == 0 {
					first = got
				} else if !slices.Equal(first, got) {
					t.Fatal("two envs with seed 42 and the same actions differ")
				}
			}
			e := newEnv(t, task)
			e.Seed(43)
			obs := make([]float32, ObsDim)
			e.Reset(obs)
			if slices.Equal(obs, first[:ObsDim]) {
				t.Error("seeds 42 and 43 reset to the same observation")
			}
		})
	}
}

func TestSaveRestore(t *testing.T) {
	for _, task := range Tasks {
		t.Run(task.Name, func(t *testing.T) {
			e := newEnv(t, task.Name)
			e.Seed(9)
			e.Reset(make([]float32, ObsDim))
			run(e, randomActions(1, 60))
			state, err := e.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			acts := randomActions(2, 60)
			wantObs, wantRew := run(e, acts)
			// A second reset must come out the same too: the generator is
			// part of the state.
			want0 := make([]float32, ObsDim)
			e.Reset(want0)

			f := newEnv(t, task.Name)
			if err := f.UnmarshalBinary(state); err != nil {
				t.Fatal(err)
			}
			gotObs, gotRew := run(f, acts)
			if !slices.Equal(gotObs, wantObs) || !slices.Equal(gotRew, wantRew) {
				t.Fatal("restored env stepped differently from the original")
			}
			got0 := make([]float32, ObsDim)
			f.Reset(got0)
			if !slices.Equal(got0, want0) {
				t.Error("restored env reset differently from the original")
			}
		})
	}
	push, reach := newEnv(t, "push"), newEnv(t, "reach")
	state, _ := push.MarshalBinary()
	if err := reach.UnmarshalBinary(state); err == nil || !strings.Contains(err.Error(), "MetaWorld-push-v3") {
		t.Errorf("restoring a push state into reach: error %v", err)
	}
	if err := push.UnmarshalBinary(state[:len(state)-3]); err == nil {
		t.Error("restoring a truncated state succeeded")
	}
}

// TestObservation checks the layout: the previous frame is the last
// step's current one (a copy of it at reset), the goal comes last, and
// every observation lies in the observation space.
func TestObservation(t *testing.T) {
	for _, task := range Tasks {
		e := newEnv(t, task.Name)
		sp := e.ObservationSpace()
		obs := make([]float32, ObsDim)
		e.Seed(2)
		e.Reset(obs)
		if !slices.Equal(obs[:frame], obs[frame:2*frame]) {
			t.Errorf("%s: at reset the previous frame is not the current one", task.Name)
		}
		if o := Obs(obs); o.Opening() < 0.99 || o.Goal() != e.ep.goal32() {
			t.Errorf("%s: at reset opening %.3f, goal %v want %v", task.Name, o.Opening(), o.Goal(), e.ep.goal)
		}
		last := slices.Clone(obs)
		for _, a := range randomActions(4, 100) {
			e.Step(a, obs)
			if !slices.Equal(obs[frame:2*frame], last[:frame]) {
				t.Fatalf("%s: previous frame is not the last observation's current frame", task.Name)
			}
			for i, x := range obs {
				if x < sp.Low[i] || x > sp.High[i] {
					t.Fatalf("%s: obs[%d] = %v outside [%v, %v]", task.Name, i, x, sp.Low[i], sp.High[i])
				}
			}
			copy(last, obs)
		}
	}
}

// goal32 is the goal as the float32 observation holds it.
func (ep *episode) goal32() [3]float64 {
	return [3]float64{float64(float32(ep.goal[0])), float64(float32(ep.goal[1])), float64(float32(ep.goal[2]))}
}

func TestTextView(t *testing.T) {
	e := newEnv(t, "push")
	e.Seed(1)
	e.Reset(make([]float32, ObsDim))
	text := e.TextView()
	lines := strings.Split(text, "\n")
	if len(lines) != 4 || lines[0] != "Task: Push the puck to the goal." ||
		lines[1] != "Gripper (x right, y forward, z up, metres): (0.00, 0.60, 0.20), open 1.0" ||
		!strings.HasPrefix(lines[2], "Puck: (") || !strings.HasPrefix(lines[3], "Goal: (") {
		t.Errorf("TextView() =\n%s", text)
	}
	if got := e.ActionNames(); len(got) != len(pushSkills) || got[3] != "push the puck to the goal" {
		t.Errorf("ActionNames() = %q", got)
	}
}

// TestExpert runs the scripted expert on every task: it must succeed in at
// least 90% of 100 episodes and use every one of its skills.
func TestExpert(t *testing.T) {
	if testing.Short() {
		t.Skip("600 episodes of 500 steps (about a minute): run without -short")
	}
	const episodes = 100
	for _, task := range Tasks {
		t.Run(task.Name, func(t *testing.T) {
			v, err := env.NewVec(task.ID(), 10, 1, 1000)
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			v.Reset()
			acts := make([]float32, v.NumEnvs*v.ActDim)
			done, wins := 0, 0
			skillsSeen := map[int]bool{}
			for done < episodes {
				for i := range v.NumEnvs {
					x := v.Env(i).(*Env)
					x.ExpertAction(acts[4*i : 4*i+4])
					skillsSeen[x.ExpertSkill()] = true
				}
				v.Step(acts)
				for i := range v.NumEnvs {
					if v.Truncated[i] || v.Terminated[i] {
						done++
						if v.EpisodeSuccess[i] {
							wins++
						}
					}
				}
			}
			if rate := float64(wins) / float64(done); rate < 0.9 {
				t.Errorf("expert success %d/%d, want ≥ 0.9", wins, done)
			}
			if len(skillsSeen) != len(task.Skills) {
				t.Errorf("expert used skills %v of %d", skillsSeen, len(task.Skills))
			}
		})
	}
}

func TestRender(t *testing.T) {
	for _, task := range Tasks {
		e := newEnv(t, task.Name)
		img := e.Render()
		if b := img.Bounds(); b.Dx() < 500 || b.Dy() < 300 {
			t.Errorf("%s: image %v", task.Name, b)
		}
		// The object is drawn in red somewhere.
		red := false
		for i := 0; i < len(img.Pix) && !red; i += 4 {
			red = img.Pix[i] == objCol.R && img.Pix[i+1] == objCol.G && img.Pix[i+2] == objCol.B
		}
		if !red {
			t.Errorf("%s: no object drawn", task.Name)
		}
	}
}

// TestRewards follows the expert for 150 steps and a random policy for 150:
// Meta-World's rewards lie in [0, 10], push's, pick-place's and
// drawer-close's are 10 once the object is within the target radius, and
// the expert's return beats the random policy's.
func TestRewards(t *testing.T) {
	for _, task := range Tasks {
		t.Run(task.Name, func(t *testing.T) {
			e := newEnv(t, task.Name)
			obs, act := make([]float32, ObsDim), make([]float32, 4)
			var ret [2]float64
			for k, acts := range [2][][]float32{nil, randomActions(8, 150)} {
				e.Seed(5)
				e.Reset(obs)
				for s := range 150 {
					if acts == nil {
						e.ExpertAction(act)
					} else {
						act = acts[s]
					}
					tr := e.Step(act, obs)
					ret[k] += tr.Reward
					if tr.Reward < 0 || tr.Reward > 10 {
						t.Fatalf("step %d: reward %v outside [0, 10]", s, tr.Reward)
					}
					if o := Obs(obs); (task.kind == push || task.kind == pickPlace) && dist(o.Object(), e.ep.goal) < targetRadius && tr.Reward != 10 {
						t.Fatalf("step %d: object within the target radius, reward %v, want 10", s, tr.Reward)
					}
					if task.kind == drawerClose && tr.Success && tr.Reward != 10 {
						t.Fatalf("step %d: drawer closed, reward %v, want 10", s, tr.Reward)
					}
				}
			}
			if ret[0] <= ret[1] {
				t.Errorf("expert return %.1f ≤ random return %.1f over 150 steps", ret[0], ret[1])
			}
			t.Logf("return over 150 steps: expert %.1f, random %.1f", ret[0], ret[1])
		})
	}
}

// TestStepDoesNotAllocate: env.Env's contract, since a Vec calls Step for
// every env at every step of training; the expert is asked as often by a
// scripted prior.
func TestStepDoesNotAllocate(t *testing.T) {
	for _, task := range Tasks {
		e := newEnv(t, task.Name)
		obs, act := make([]float32, ObsDim), make([]float32, 4)
		if n := testing.AllocsPerRun(100, func() {
			e.ExpertAction(act)
			e.Step(act, obs)
		}); n != 0 {
			t.Errorf("%s: %.1f allocations per expert step", task.Name, n)
		}
	}
}
