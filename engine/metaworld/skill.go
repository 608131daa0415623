package metaworld

import "math"

// Skill is one latent action of a task, in the manner of Meta-World's
// scripted policies and Language-World's skills: move the hand towards a
// target with a proportional gain and hold a gripper effort. Its action is
//
//	[clip(Gain · (Target(obs) − hand(obs)), −1, 1), Grip]
//
// A continuous prior over actions can use a Gaussian per skill, with that
// action as its mean and Std as its standard deviation on every component.
type Skill struct {
	// Name says what the skill does, in words, for a language model.
	Name string
	// Target is where the skill moves the hand (the hand body's origin,
	// 4.5 cm above the fingertips) at an observation.
	Target func(o Obs) [3]float64
	// Grip is the gripper effort: −1 opens, 1 closes.
	Grip float64
	// Gain is the proportional gain from position error to action.
	Gain float64
	// Std is the standard deviation of the skill's Gaussian, per action
	// component. It is a declared width, not a measured one: wide enough
	// that the skill's mean keeps mass near the expert's action while the
	// hand lags the target, narrow enough that skills differ.
	Std float64
}

// Action writes the skill's action (its Gaussian's mean) at obs into
// action[0:4].
func (s *Skill) Action(obs []float32, action []float32) {
	o := Obs(obs)
	t, h := s.Target(o), o.Hand()
	for i := range 3 {
		action[i] = float32(clamp(s.Gain*(t[i]-h[i]), -1, 1))
	}
	action[3] = float32(s.Grip)
}

// Obs reads the fields of a 39-float observation.
type Obs []float32

// Hand is the hand's position.
func (o Obs) Hand() [3]float64 { return [3]float64{float64(o[0]), float64(o[1]), float64(o[2])} }

// Opening is the gripper's opening: 1 open, about 0.3 closed on nothing.
func (o Obs) Opening() float64 { return float64(o[3]) }

// Object is the task object's position: the puck, the drawer handle or the
// button's top.
func (o Obs) Object() [3]float64 { return [3]float64{float64(o[4]), float64(o[5]), float64(o[6])} }

// Goal is the goal position.
func (o Obs) Goal() [3]float64 {
	return [3]float64{float64(o[2*frame]), float64(o[2*frame+1]), float64(o[2*frame+2])}
}

func xyDist(a, b [3]float64) float64 { return math.Hypot(a[0]-b[0], a[1]-b[1]) }

// skillStd is the Std every skill declares.
const skillStd = 0.2

// The gripper opening (claw distance / 0.1) closed on the puck is about
// 0.35–0.45 (the pads sink into it), closed on nothing 0.3 and open 1: openWide means not yet closed on
// anything, closedEmpty means closed on nothing.
const (
	openWide    = 0.7
	closedEmpty = 0.32
)

var reachSkills = []Skill{
	{Name: "move the fingertips to the goal", Grip: -1, Gain: 5, Std: skillStd,
		Target: func(o Obs) [3]float64 { return add(o.Goal(), [3]float64{0, 0, tcpOffset}) }},
}

func reachPhase(Obs) int { return 0 }

// puckSkills are push's and pick-place's: above the puck, down around it,
// close on it, then to the goal carrying it. The hand holds the grasped
// puck's centre about 3 cm below its origin; carrying aims the hand lift
// above the goal (push lifts the puck 1.5 cm off the table, so that table
// friction does not tip it over in the grasp).
func puckSkills(carry string, lift float64) []Skill {
	return append(puckSkillsNamed("the puck"),
		Skill{Name: carry, Grip: 1, Gain: 10, Std: skillStd,
			Target: func(o Obs) [3]float64 { return add(o.Goal(), [3]float64{0, 0, lift}) }})
}

// puckSkillsNamed are the three grasping skills of push and pick-place
// (and peg-insert-side), for the object called what.
func puckSkillsNamed(what string) []Skill {
	return []Skill{
		{Name: "move above " + what, Grip: -1, Gain: 10, Std: skillStd,
			Target: func(o Obs) [3]float64 { return add(o.Object(), [3]float64{0, 0, 0.1}) }},
		{Name: "lower the open gripper around " + what, Grip: -1, Gain: 10, Std: skillStd,
			Target: func(o Obs) [3]float64 { return add(o.Object(), [3]float64{0, 0, 0.03}) }},
		{Name: "close the gripper on " + what, Grip: 1, Gain: 10, Std: skillStd,
			Target: func(o Obs) [3]float64 { return o.Hand() }},
	}
}

var (
	pushSkills      = puckSkills("push the puck to the goal", 0.045)
	pickPlaceSkills = puckSkills("carry the puck to the goal", 0.03)
)

// puckPhase is push's and pick-place's state machine: grasp the puck, wait
// until the fingers have stopped closing (the opening no longer falls from
// the previous frame to this one), then take it to the goal. If the fingers
// closed on nothing, or the puck left the hand, open and start over.
func puckPhase(o Obs) int {
	h, p, op := o.Hand(), o.Object(), o.Opening()
	prevOp := float64(o[frame+3])
	xy, dz := xyDist(h, p), h[2]-p[2]
	inHand := xy < 0.04 && dz > 0 && dz < 0.07
	closed := op <= openWide
	switch {
	case op < closedEmpty:
		return 0
	case closed && inHand && prevOp-op > 0.002:
		return 2
	case closed && inHand:
		return 3
	case closed:
		return 0
	case xy > 0.02 && !(dz < 0.05 && xy < 0.04):
		return 0
	case dz > 0.04:
		return 1
	}
	return 2
}

func pushPhase(o Obs) int      { return puckPhase(o) }
func pickPlacePhase(o Obs) int { return puckPhase(o) }

// drawerHandleGrip is where the hand grips the drawer-open handle: 2 cm
// below the observed handle point.
func drawerHandleGrip(o Obs) [3]float64 { return add(o.Object(), [3]float64{0, 0, -0.02}) }

var drawerOpenSkills = []Skill{
	{Name: "move high above the drawer handle", Grip: -1, Gain: 4, Std: skillStd,
		Target: func(o Obs) [3]float64 { return add(drawerHandleGrip(o), [3]float64{0, 0, 0.3}) }},
	{Name: "lower the gripper onto the drawer handle", Grip: -1, Gain: 4, Std: skillStd,
		Target: drawerHandleGrip},
	{Name: "pull the drawer handle towards the robot", Grip: -1, Gain: 50, Std: skillStd,
		Target: func(o Obs) [3]float64 { return add(drawerHandleGrip(o), [3]float64{0, -0.06, 0}) }},
}

func drawerOpenPhase(o Obs) int {
	h, d := o.Hand(), drawerHandleGrip(o)
	switch {
	case xyDist(h, d) > 0.06:
		return 0
	case math.Abs(h[2]-d[2]) > 0.04:
		return 1
	}
	return 2
}

var drawerCloseSkills = []Skill{
	{Name: "rise above the drawer", Grip: 1, Gain: 25, Std: skillStd,
		Target: func(o Obs) [3]float64 {
			h, d := o.Hand(), drawerHandleGrip(o)
			return [3]float64{h[0], h[1], d[2] + 0.5}
		}},
	{Name: "move high in front of the drawer handle", Grip: 1, Gain: 25, Std: skillStd,
		Target: func(o Obs) [3]float64 { return add(drawerHandleGrip(o), [3]float64{0, -0.075, 0.23}) }},
	{Name: "lower the gripper in front of the drawer handle", Grip: 1, Gain: 25, Std: skillStd,
		Target: func(o Obs) [3]float64 { return add(drawerHandleGrip(o), [3]float64{0, -0.075, 0}) }},
	{Name: "push the drawer handle away from the robot", Grip: 1, Gain: 25, Std: skillStd,
		Target: drawerHandleGrip},
}

func drawerClosePhase(o Obs) int {
	h, d := o.Hand(), drawerHandleGrip(o)
	switch {
	case h[1] > d[1] && h[2] < d[2]+0.23:
		return 0
	case h[1] > d[1]:
		return 1
	case math.Abs(h[2]-d[2]) > 0.04:
		return 2
	}
	return 3
}

var buttonSkills = []Skill{
	{Name: "move above the button", Grip: 1, Gain: 25, Std: skillStd,
		Target: func(o Obs) [3]float64 { return add(o.Object(), [3]float64{0, 0, 0.1}) }},
	{Name: "press the button down", Grip: 1, Gain: 25, Std: skillStd,
		Target: func(o Obs) [3]float64 { return o.Object() }},
}

func buttonPhase(o Obs) int {
	if xyDist(o.Hand(), o.Object()) > 0.04 {
		return 0
	}
	return 1
}

// windowSkills are window-open's (dir +1) and window-close's (dir −1):
// above the handle, down beside it (on the side it is pushed from, 3 cm in
// front of it and 8 cm below the handle point, where the gripper's rail
// meets the handle bar), then slide the pane along x.
func windowSkills(dir float64, above float64, slide string) []Skill {
	beside := func(o Obs) [3]float64 { return add(o.Object(), [3]float64{-0.03 * dir, -0.03, -0.08}) }
	return []Skill{
		{Name: "move above the window handle", Grip: 1, Gain: 25, Std: skillStd,
			Target: func(o Obs) [3]float64 { return add(beside(o), [3]float64{0, 0, above}) }},
		{Name: "lower the gripper beside the window handle", Grip: 1, Gain: 25, Std: skillStd,
			Target: beside},
		{Name: slide, Grip: 1, Gain: 25, Std: skillStd,
			Target: func(o Obs) [3]float64 { return add(beside(o), [3]float64{0.1 * dir, 0, 0}) }},
	}
}

var (
	windowOpenSkills  = windowSkills(1, 0.3, "slide the window open to the right")
	windowCloseSkills = windowSkills(-1, 0.25, "slide the window closed to the left")
)

// windowPhase: while pushing, the hand runs up to 7 cm ahead of the point
// beside the handle (the rail leads the handle bar by about 4 cm), which
// Meta-World's rule of 4 cm in x–y would take for being lost.
func windowPhase(o Obs, dir float64) int {
	h := o.Hand()
	b := add(o.Object(), [3]float64{-0.03 * dir, -0.03, -0.08})
	ahead := dir * (h[0] - b[0])
	switch {
	case math.Abs(h[1]-b[1]) > 0.04 || ahead < -0.04 || ahead > 0.07:
		return 0
	case math.Abs(h[2]-b[2]) > 0.02:
		return 1
	}
	return 2
}

func windowOpenPhase(o Obs) int  { return windowPhase(o, 1) }
func windowClosePhase(o Obs) int { return windowPhase(o, -1) }

// doorPush is where door-open's expert pushes: 5 cm left of the handle
// point, so that the hand, behind the handle's stem, swings the door open.
func doorPush(o Obs) [3]float64 { return add(o.Object(), [3]float64{-0.05, 0, 0}) }

var doorOpenSkills = []Skill{
	{Name: "move above the door handle", Grip: 1, Gain: 25, Std: skillStd,
		Target: func(o Obs) [3]float64 { return add(doorPush(o), [3]float64{0.06, 0.02, 0.2}) }},
	{Name: "lower the gripper beside the door handle", Grip: 1, Gain: 25, Std: skillStd,
		Target: func(o Obs) [3]float64 { return add(doorPush(o), [3]float64{0.06, 0.02, 0}) }},
	{Name: "swing the door open by its handle", Grip: 1, Gain: 25, Std: skillStd,
		Target: doorPush},
}

// doorOpenPhase is Meta-World's door-open rule, plus: a hand that has
// slipped past the handle's stem (more than 1.5 cm beyond the push point
// in −x) no longer pushes it and goes back above the handle.
func doorOpenPhase(o Obs) int {
	h, d := o.Hand(), doorPush(o)
	switch {
	case xyDist(h, d) > 0.12 || h[0] < d[0]-0.015:
		return 0
	case math.Abs(h[2]-d[2]) > 0.04:
		return 1
	}
	return 2
}

// peg-insert-side's expert takes the peg at its grasp point like the puck,
// carries it 30 cm out from the goal, in line with the box's channel (the
// grasp point where the goal is in y, the hand pegLift above the goal: the
// grasped point hangs about 3.5 cm below the hand and the head 1 cm below
// the grasp point), and pushes it in along −x.
const pegLift = 0.045

// pegInLine is where the hand holds the peg in line with the channel, at x.
func pegInLine(o Obs, x float64) [3]float64 {
	h, p, g := o.Hand(), o.Object(), o.Goal()
	return [3]float64{x, h[1] + g[1] - p[1], g[2] + pegLift}
}

var pegSkills = []Skill{
	puckSkillsNamed("the peg")[0],
	puckSkillsNamed("the peg")[1],
	puckSkillsNamed("the peg")[2],
	{Name: "line the peg up with the hole", Grip: 1, Gain: 10, Std: skillStd,
		Target: func(o Obs) [3]float64 { return pegInLine(o, o.Goal()[0]+0.3) }},
	{Name: "push the peg into the hole", Grip: 1, Gain: 10, Std: skillStd,
		Target: func(o Obs) [3]float64 { return pegInLine(o, o.Goal()[0]-0.2) }},
}

// pegPhase: the peg is too thin for the opening to tell a grasp from a
// miss (about 0.33 against 0.30), so the expert holds it while the grasp
// point stays between the fingers, and counts the fingers as closing only
// while the peg still lies on the table.
func pegPhase(o Obs) int {
	h, p, g, op := o.Hand(), o.Object(), o.Goal(), o.Opening()
	prevOp := float64(o[frame+3])
	xy, dz := xyDist(h, p), h[2]-p[2]
	inHand := xy < 0.03 && dz > 0 && dz < 0.06
	onTable := p[2] < 0.035
	closed := op <= openWide
	switch {
	case closed && inHand && onTable && prevOp-op > 0.002:
		return 2
	case closed && inHand:
		if math.Abs(p[1]-g[1]) < 0.01 && math.Abs(h[2]-(g[2]+pegLift)) < 0.015 && h[0] < g[0]+0.33 {
			return 4
		}
		return 3
	case closed:
		return 0
	case xy > 0.02 && !(dz < 0.05 && xy < 0.04):
		return 0
	case dz > 0.04:
		return 1
	}
	return 2
}

// Phase returns the index in t.Skills of the skill the scripted expert acts
// with at obs.
func (t *Task) Phase(obs []float32) int { return t.phase(Obs(obs)) }

// ExpertSkill returns the index in Task().Skills of the skill the scripted
// expert acts with now.
func (e *Env) ExpertSkill() int { return e.task.Phase(e.obs[:]) }

// ExpertAction writes the scripted expert's action: the action of the skill
// its state machine is in. It reads the last observation only.
func (e *Env) ExpertAction(action []float32) {
	s := &e.task.Skills[e.ExpertSkill()]
	s.Action(e.obs[:], action)
}
