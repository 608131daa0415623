// Package metaworld is Meta-World v3's MT10 manipulation benchmark (Yu et
// al., "Meta-World", CoRL 2019; Farama-Foundation/Metaworld v3), rebuilt in
// Go on MuJoCo 2.2 with a scene of lago's own: the continuous half of the
// LaGO paper's benchmarks.
//
// # Scene and control
//
// A table, Meta-World's Sawyer gripper without the arm (a free hand welded
// to a mocap body, two claws on position-controlled slide joints) and the
// task's objects with Meta-World's collision geometry. An
// action is 4 float32 in [−1, 1]: the first three, clipped and scaled by
// 1/100, move the mocap (at most 1 cm per axis per step, kept inside the
// hand bounds (−0.5, 0.4, 0.05)–(0.5, 1, 0.5)); the fourth is the gripper
// effort, driving the claws' position actuators with [a, −a] (positive
// closes). One step is 5 MuJoCo steps of 2.5 ms. The hand lags the mocap
// by up to about 3 cm at full speed, as Meta-World's does.
//
// # Observation
//
// 39 float32, Meta-World's layout: the hand position (3, clipped to
// (−0.525, 0.348, −0.0525)–(0.525, 1.025, 0.7)), the gripper opening (the
// distance between the claws / 0.1, clipped to [0, 1]), the object's
// position (3) and quaternion (4), 7 zeros (no task here has a second
// object), the same 18 values of the previous step, and the goal (3).
//
// # Episodes
//
// Reset draws the object and goal from the task's ranges (Meta-World's
// random reset space; lago draws a fresh one each episode instead of
// Meta-World's 50 fixed task vectors per benchmark seed), holds the mocap at
// the task's initial hand position with the fingers open for 50 steps, and
// starts. Episodes never terminate; [env.Vec] truncates them at 500 steps.
// Step reports the task's success rule at every step and an [env.Vec]
// counts the episode a success if it held at any step, as Meta-World does.
// Rewards are Meta-World's v2 dense rewards (the v3 default), in [0, 10].
//
// # Where lago's Meta-World differs
//
//   - No arm: the hand is free-floating, so the Sawyer's joint damping, lag
//     and reach limits are gone; the hand lags the mocap only through the
//     weld (the semantics of the action and the bounds are Meta-World's).
//   - Objects have their collision geometry and the offsets the rules use,
//     but no visual meshes (the door keeps its meshes' inertia); the drawer,
//     button box, window, door and the peg's box stand on mocap bodies so
//     that a reset places them in the shared model.
//   - Object and goal positions are drawn afresh each episode, not from 50
//     fixed task vectors.
//   - Pick-place's caging reward measures both pads' distances to the
//     object unsigned, as push's does (Meta-World's pick-place signs them).
//
// Implemented: MT10's ten tasks, reach, push, pick-place, door-open,
// drawer-open, drawer-close, button-press-topdown, peg-insert-side,
// window-open and window-close.
//
// # Skills and the expert
//
// Each [Task] declares its latent actions ([Skill]: a target for the hand as
// a function of the observation, a gripper effort, a gain and a standard
// deviation) and a state machine over them; [Env.ExpertAction] is that
// state machine, a scripted policy in the manner of Meta-World's, and
// [Env.ExpertSkill] says which skill it is in.
package metaworld

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"github.com/lago-rl/lago/engine/env"
	"github.com/lago-rl/lago/engine/sim/mujoco"
)

// MaxEpisodeSteps is Meta-World's max_path_length.
const MaxEpisodeSteps = 500

// ObsDim is the length of an observation.
const ObsDim = 39

// frame is the part of an observation that one step describes: hand (3),
// opening (1), object position and quaternion (7), zero padding (7).
const frame = 18

func init() {
	for _, t := range Tasks {
		env.Register(t.ID(), func() env.Env {
			e, err := New(t.Name)
			if err != nil {
				// The scenes are constants of this package: failing to
				// compile one is a broken build or MuJoCo install, which
				// env.Register's signature cannot report.
				panic(err)
			}
			return e
		})
	}
}

// models are the compiled scenes, one per kind of objects, shared by every
// Env: a MuJoCo model is read-only during simulation.
var models = [...]func() (*mujoco.Model, error){
	withPuck:   sync.OnceValues(func() (*mujoco.Model, error) { return mujoco.LoadXML(sceneXML(withPuck)) }),
	withDrawer: sync.OnceValues(func() (*mujoco.Model, error) { return mujoco.LoadXML(sceneXML(withDrawer)) }),
	withButton: sync.OnceValues(func() (*mujoco.Model, error) { return mujoco.LoadXML(sceneXML(withButton)) }),
	withWindow: sync.OnceValues(func() (*mujoco.Model, error) { return mujoco.LoadXML(sceneXML(withWindow)) }),
	withDoor:   sync.OnceValues(func() (*mujoco.Model, error) { return mujoco.LoadXML(sceneXML(withDoor)) }),
	withPeg:    sync.OnceValues(func() (*mujoco.Model, error) { return mujoco.LoadXML(sceneXML(withPeg)) }),
}

// episode holds what a reset fixes for the episode.
type episode struct {
	// goal is the goal position of the observation.
	goal [3]float64
	// box is where the drawer or button box stands.
	box [3]float64
	// objInit, tcpInit and the pads' y are the object's, the tool centre
	// point's and the pads' positions after the reset, which Meta-World's
	// rewards measure their margins from.
	objInit, tcpInit          [3]float64
	leftPadInit, rightPadInit float64
	// headInit is peg-insert-side's peg head after the reset.
	headInit [3]float64
	// pressMargin is button-press-topdown's initial button-to-hole height.
	pressMargin float64
}

func (ep *episode) floats() []*float64 {
	return []*float64{
		&ep.goal[0], &ep.goal[1], &ep.goal[2],
		&ep.box[0], &ep.box[1], &ep.box[2],
		&ep.objInit[0], &ep.objInit[1], &ep.objInit[2],
		&ep.tcpInit[0], &ep.tcpInit[1], &ep.tcpInit[2],
		&ep.leftPadInit, &ep.rightPadInit, &ep.pressMargin,
		&ep.headInit[0], &ep.headInit[1], &ep.headInit[2],
	}
}

// Env is one Meta-World task environment. It is not safe for concurrent
// use.
type Env struct {
	task *Task
	data *mujoco.Data

	// Indices into the model: bodies, sites, mocap rows, qpos/qvel, ctrl.
	hand, leftPad, rightPad, leftClaw, rightClaw int
	object                                       int // the puck, drawer_link, button or window_pane body
	leftTip, rightTip                            int
	handleSite                                   int // the window's or door's handle site, the peg's grasp site
	pegHead                                      int // the peg head's site
	mocap, boxMocap                              int
	handQPos, handDof                            int
	objQPos, objDof                              int
	ctrlR, ctrlL                                 int

	pcg *rand.PCG
	rng *rand.Rand

	ep    episode
	steps int
	// cur and prev are the current and previous frames of the observation;
	// obs is the last observation written, which the expert acts on.
	cur, prev [frame]float64
	obs       [ObsDim]float32

	stateBuf []float64
}

var (
	_ env.Env       = (*Env)(nil)
	_ env.Expert    = (*Env)(nil)
	_ env.Describer = (*Env)(nil)
)

// New returns the environment of the task called name (e.g. "push"), seeded
// with 0, in the state of a fresh Reset. Close frees its simulation
// deterministically; otherwise the garbage collector does.
func New(name string) (*Env, error) {
	t := TaskByName(name)
	if t == nil {
		names := make([]string, len(Tasks))
		for i, t := range Tasks {
			names[i] = t.Name
		}
		return nil, fmt.Errorf("metaworld: unknown task %q; known: %v", name, names)
	}
	m, err := models[t.objects]()
	if err != nil {
		return nil, err
	}
	d, err := mujoco.NewData(m)
	if err != nil {
		return nil, err
	}
	e := &Env{task: t, data: d, pcg: new(rand.PCG), boxMocap: -1}
	e.rng = rand.New(e.pcg)
	if err := e.lookup(m); err != nil {
		d.Close()
		return nil, err
	}
	e.stateBuf = make([]float64, d.StateSize())
	e.Seed(0)
	e.Reset(make([]float32, ObsDim))
	return e, nil
}

// lookup finds the model's named parts.
func (e *Env) lookup(m *mujoco.Model) error {
	var errs []error
	body := func(name string) int {
		i, err := m.Body(name)
		errs = append(errs, err)
		return i
	}
	site := func(name string) int {
		i, err := m.Site(name)
		errs = append(errs, err)
		return i
	}
	joint := func(name string) mujoco.Joint {
		j, err := m.Joint(name)
		errs = append(errs, err)
		return j
	}
	actuator := func(name string) int {
		i, err := m.Actuator(name)
		errs = append(errs, err)
		return i
	}
	mocap := func(name string) int {
		i, err := m.Mocap(name)
		errs = append(errs, err)
		return i
	}
	e.hand, e.leftPad, e.rightPad = body("hand"), body("leftpad"), body("rightpad")
	e.leftClaw, e.rightClaw = body("leftclaw"), body("rightclaw")
	e.leftTip, e.rightTip = site("leftEndEffector"), site("rightEndEffector")
	e.mocap = mocap("mocap")
	h := joint("hand")
	e.handQPos, e.handDof = h.QPos, h.Dof
	e.ctrlR, e.ctrlL = actuator("r_close"), actuator("l_close")
	var j mujoco.Joint
	switch e.task.objects {
	case withPuck:
		e.object, j = body("obj"), joint("obj")
	case withDrawer:
		e.object, j, e.boxMocap = body("drawer_link"), joint("drawer"), mocap("drawer")
	case withButton:
		e.object, j, e.boxMocap = body("button"), joint("button"), mocap("box")
	case withWindow:
		e.object, j, e.boxMocap = body("window_pane"), joint("window"), mocap("window")
		if e.task.kind == windowOpen {
			e.handleSite = site("handleOpen")
		} else {
			e.handleSite = site("handleClose")
		}
	case withDoor:
		e.object, j, e.boxMocap = body("door_link"), joint("door"), mocap("door")
		e.handleSite = site("handle")
	case withPeg:
		e.object, j, e.boxMocap = body("peg"), joint("peg"), mocap("box")
		e.handleSite, e.pegHead = site("pegGrasp"), site("pegHead")
	}
	e.objQPos, e.objDof = j.QPos, j.Dof
	return errors.Join(errs...)
}

// Close frees the simulation. The Env must not be used after.
func (e *Env) Close() { e.data.Close() }

// Task returns the env's task.
func (e *Env) Task() *Task { return e.task }

// Spec returns the task's spec: 500-step episodes, with success.
func (e *Env) Spec() env.Spec {
	return env.Spec{ID: e.task.ID(), MaxEpisodeSteps: MaxEpisodeSteps, HasSuccess: true}
}

// ObservationSpace bounds the hand by Meta-World's observation bounds, the
// opening by [0, 1], quaternions by [−1, 1] and the other positions by the
// extent of the scene (±1 m, z in [−1, 1]: an object knocked over the walls
// lands on the floor at z −0.91).
func (e *Env) ObservationSpace() env.Space {
	low, high := make([]float32, ObsDim), make([]float32, ObsDim)
	for f := range 2 {
		o := f * frame
		for i := range 3 {
			low[o+i], high[o+i] = float32(obsHandLow[i]), float32(obsHandHigh[i])
			low[o+4+i], high[o+4+i] = -1, 1
		}
		high[o+3] = 1
		for i := o + 7; i < o+11; i++ {
			low[i], high[i] = -1, 1
		}
	}
	for i := 2 * frame; i < ObsDim; i++ {
		low[i], high[i] = -1, 1
	}
	return env.Box(low, high)
}

// ActionSpace is the 4-D box [−1, 1]⁴.
func (e *Env) ActionSpace() env.Space {
	return env.Box([]float32{-1, -1, -1, -1}, []float32{1, 1, 1, 1})
}

// Seed reseeds the generator that Reset draws object and goal positions
// from.
func (e *Env) Seed(seed uint64) { env.SeedPCG(e.pcg, seed) }

// Reset draws the task's object and goal positions, settles the hand at
// its initial position with the fingers open, and writes the first
// observation, whose previous frame is a copy of the current one.
func (e *Env) Reset(obs []float32) {
	t := e.task
	var obj [3]float64
	ep := episode{}
	switch t.kind {
	case reach, push, pickPlace:
		goalLow, goalHigh := reachGoalLow, reachGoalHigh
		if t.kind == push {
			goalLow, goalHigh = pushGoalLow, pushGoalHigh
		}
		for {
			obj, ep.goal = uniform3(e.rng, puckLow, puckHigh), uniform3(e.rng, goalLow, goalHigh)
			if math.Hypot(obj[0]-ep.goal[0], obj[1]-ep.goal[1]) >= minObjGoalXY {
				break
			}
		}
		if t.kind == push {
			ep.goal[2] = obj[2]
		}
	case drawerOpen, drawerClose:
		ep.box = uniform3(e.rng, drawerLow, drawerHigh)
		ep.goal = add(ep.box, [3]float64{0, handleOffset[1] - drawerOpenDist, 0.09})
		if t.kind == drawerClose {
			ep.goal = add(ep.box, [3]float64{0, handleOffset[1], 0.09})
		}
	case buttonPressTopdown:
		ep.box = uniform3(e.rng, buttonBoxLow, buttonBoxHigh)
		ep.goal = add(ep.box, buttonHoleOffset)
	case windowOpen:
		ep.box = uniform3(e.rng, windowOpenLow, windowOpenHigh)
		ep.goal = add(ep.box, [3]float64{windowTravel, 0, 0})
	case windowClose:
		ep.box = uniform3(e.rng, windowCloseLow, windowCloseHigh)
		ep.goal = ep.box
	case doorOpen:
		ep.box = uniform3(e.rng, doorLow, doorHigh)
		ep.goal = add(ep.box, doorGoalOffset)
	case pegInsertSide:
		for {
			obj, ep.box = uniform3(e.rng, pegLow, pegHigh), uniform3(e.rng, pegBoxLow, pegBoxHigh)
			if math.Hypot(obj[0]-ep.box[0], obj[1]-ep.box[1]) >= 0.1 {
				break
			}
		}
		ep.goal = add(ep.box, pegGoalOffset)
	}

	d := e.data
	d.Reset()
	q := d.QPos()
	hq := q[e.handQPos : e.handQPos+7]
	copy(hq, t.handInit[:])
	copy(hq[3:], handQuat[:])
	mp, mq := d.MocapPos(), d.MocapQuat()
	copy(mp[3*e.mocap:], t.handInit[:])
	copy(mq[4*e.mocap:4*e.mocap+4], handQuat[:])
	switch t.objects {
	case withPuck, withPeg:
		copy(q[e.objQPos:], obj[:])
		copy(q[e.objQPos+3:], identityQuat[:])
		if t.objects == withPeg {
			copy(mp[3*e.boxMocap:3*e.boxMocap+3], ep.box[:])
		}
	default:
		copy(mp[3*e.boxMocap:3*e.boxMocap+3], ep.box[:])
		switch t.kind {
		case drawerClose:
			q[e.objQPos] = -drawerCloseStart
		case windowClose:
			q[e.objQPos] = windowTravel
		}
	}
	c := d.Ctrl()
	c[e.ctrlR], c[e.ctrlL] = -1, 1
	d.Step(resetSteps * frameSkip)
	d.Kinematics()

	ep.tcpInit = e.tcp()
	ep.leftPadInit, ep.rightPadInit = e.bodyPos(e.leftPad)[1], e.bodyPos(e.rightPad)[1]
	e.ep = ep
	e.ep.objInit = e.objectPos()
	if t.kind == buttonPressTopdown {
		e.ep.pressMargin = math.Abs(e.ep.goal[2] - e.ep.objInit[2])
	}
	if t.kind == pegInsertSide {
		e.ep.headInit = e.sitePos(e.pegHead)
	}
	e.steps = 0
	e.observeFrame(&e.cur)
	e.prev = e.cur
	e.writeObs(obs)
}

// handQuat is the fixed orientation of the hand and the mocap: rotated by
// 90° about y, so that the hand's +x axis points down.
var handQuat = [4]float64{math.Sqrt2 / 2, 0, math.Sqrt2 / 2, 0}

// Step moves the mocap by the action, drives the fingers, simulates one
// step and writes the next observation. The action is clipped to [−1, 1].
func (e *Env) Step(action []float32, obs []float32) env.Transition {
	_ = action[3]
	d := e.data
	mp := d.MocapPos()[3*e.mocap : 3*e.mocap+3]
	for i := range 3 {
		a := clamp(float64(action[i]), -1, 1)
		mp[i] = clamp(mp[i]+actionScale*a, handLow[i], handHigh[i])
	}
	grip := clamp(float64(action[3]), -1, 1)
	c := d.Ctrl()
	c[e.ctrlR], c[e.ctrlL] = grip, -grip
	d.Step(frameSkip)
	// Step leaves the derived positions one time step behind; Meta-World
	// calls mj_forward here for the same reason.
	d.Kinematics()
	e.steps++

	e.prev = e.cur
	e.observeFrame(&e.cur)
	e.writeObs(obs)
	reward, success := e.evaluate(grip)
	return env.Transition{Reward: reward, Success: success}
}

func (e *Env) bodyPos(b int) [3]float64 {
	x := e.data.BodyXPos()
	return [3]float64{x[3*b], x[3*b+1], x[3*b+2]}
}

func (e *Env) sitePos(s int) [3]float64 {
	x := e.data.SiteXPos()
	return [3]float64{x[3*s], x[3*s+1], x[3*s+2]}
}

// tcp is the tool centre point: the mean of the two fingertip sites.
func (e *Env) tcp() [3]float64 {
	l, r := e.sitePos(e.leftTip), e.sitePos(e.rightTip)
	return [3]float64{(l[0] + r[0]) / 2, (l[1] + r[1]) / 2, (l[2] + r[2]) / 2}
}

// objectPos is the observed position of the task's object: the puck's
// centre, the drawer handle (a point 16 cm in front of the drawer body;
// drawer-close's is 5 cm higher, as Meta-World's), the button's top, a
// point of the window's handle (left of it for window-open, right of it for
// window-close, as Meta-World's sites), the door handle, or the peg's grasp
// point.
func (e *Env) objectPos() [3]float64 {
	p := e.bodyPos(e.object)
	switch e.task.kind {
	case drawerOpen:
		return add(p, handleOffset)
	case drawerClose:
		return add(p, drawerCloseHandleOffset)
	case buttonPressTopdown:
		return add(p, buttonTopOffset)
	case windowOpen, windowClose, doorOpen, pegInsertSide:
		return e.sitePos(e.handleSite)
	}
	return p
}

// objectQuat is the observed orientation of the object: the puck's and the
// drawer's body orientation, zeros for drawer-close (as Meta-World), and the
// button's orientation in Meta-World's frame (a −90° turn about x); zeros
// for drawer-close and the windows (as Meta-World); the door handle's
// orientation with the scalar last (as Meta-World).
func (e *Env) objectQuat() [4]float64 {
	switch e.task.kind {
	case drawerClose, windowOpen, windowClose:
		return [4]float64{}
	case buttonPressTopdown:
		return buttonQuat
	case doorOpen:
		// The handle's orientation, scalar last, as Meta-World's
		// (scipy's as_quat) is.
		x := e.data.BodyXQuat()[4*e.object:]
		q := quatMul([4]float64{x[0], x[1], x[2], x[3]}, doorHandleQuat)
		return [4]float64{q[1], q[2], q[3], q[0]}
	case pegInsertSide:
		// The peg's orientation, scalar last, as Meta-World's.
		x := e.data.BodyXQuat()[4*e.object:]
		return [4]float64{x[1], x[2], x[3], x[0]}
	}
	x := e.data.BodyXQuat()
	b := e.object
	return [4]float64{x[4*b], x[4*b+1], x[4*b+2], x[4*b+3]}
}

// observeFrame writes the current frame from the simulation's derived
// positions, which must be up to date.
func (e *Env) observeFrame(f *[frame]float64) {
	h := e.bodyPos(e.hand)
	for i := range 3 {
		f[i] = clamp(h[i], obsHandLow[i], obsHandHigh[i])
	}
	f[3] = clamp(dist(e.bodyPos(e.rightClaw), e.bodyPos(e.leftClaw))/0.1, 0, 1)
	p, q := e.objectPos(), e.objectQuat()
	copy(f[4:7], p[:])
	copy(f[7:11], q[:])
	clear(f[11:])
}

func (e *Env) writeObs(obs []float32) {
	o := &e.obs
	for i := range frame {
		o[i] = float32(e.cur[i])
		o[frame+i] = float32(e.prev[i])
	}
	for i := range 3 {
		o[2*frame+i] = float32(e.ep.goal[i])
	}
	copy(obs[:ObsDim], o[:])
}

// Success reports the task's success rule at the current state.
func (e *Env) Success() bool {
	_, s := e.evaluate(0)
	return s
}

// evaluate returns the reward of the current state after an action with
// gripper effort grip, and whether the task's success rule holds, each
// Meta-World v2's (the v3 default).
// See the package documentation for where they differ.
func (e *Env) evaluate(grip float64) (reward float64, success bool) {
	ep := &e.ep
	obj := [3]float64{e.cur[4], e.cur[5], e.cur[6]}
	tcp := e.tcp()
	opening := e.cur[3]
	switch e.task.kind {
	case reach:
		d := dist(tcp, ep.goal)
		inPlace := tolerance(d, 0, targetRadius, dist(e.task.handInit, ep.goal), longTail)
		return 10 * inPlace, d <= targetRadius
	case push:
		toGoal := dist(obj, ep.goal)
		inPlace := tolerance(toGoal, 0, targetRadius, dist(ep.objInit, ep.goal), longTail)
		r := 2 * e.caging(obj, grip, puckCaging)
		if dist(tcp, obj) < 0.02 && opening > 0 {
			r += 1 + r + 5*inPlace
		}
		if toGoal < targetRadius {
			r = 10
		}
		return r, toGoal <= targetRadius
	case pickPlace:
		toGoal := dist(obj, ep.goal)
		inPlace := tolerance(toGoal, 0, targetRadius, dist(ep.objInit, ep.goal), longTail)
		r := hamacher(e.caging(obj, grip, puckCaging), inPlace)
		if dist(tcp, obj) < 0.02 && opening > 0 && obj[2]-0.01 > ep.objInit[2] {
			r += 1 + 5*inPlace
		}
		if toGoal < targetRadius {
			r = 10
		}
		return r, toGoal <= pickPlaceRadius
	case drawerOpen:
		handleErr := dist(obj, ep.goal)
		opened := tolerance(handleErr, 0, 0.02, drawerOpenDist, longTail)
		hand := [3]float64{e.cur[0], e.cur[1], e.cur[2]}
		handleInit := add(ep.goal, [3]float64{0, drawerOpenDist, 0})
		scaled := func(a, b [3]float64) float64 {
			return math.Sqrt(9*(a[0]-b[0])*(a[0]-b[0]) + 9*(a[1]-b[1])*(a[1]-b[1]) + (a[2]-b[2])*(a[2]-b[2]))
		}
		caged := tolerance(scaled(obj, hand), 0, 0.01, scaled(handleInit, ep.tcpInit), longTail)
		return 5 * (caged + opened), handleErr <= drawerOpenRadius
	case drawerClose:
		toGoal := dist(obj, ep.goal)
		inPlace := tolerance(toGoal, 0, targetRadius, math.Abs(dist(ep.objInit, ep.goal)-targetRadius), longTail)
		const reachRadius = 0.005
		reached := tolerance(dist(obj, tcp), 0, reachRadius, math.Abs(dist(ep.objInit, ep.tcpInit)-reachRadius), gaussian)
		reached = hamacher(reached, clamp(grip, 0, 1))
		r := hamacher(reached, inPlace)
		if toGoal <= drawerCloseRadius {
			r = 1
		}
		return 10 * r, toGoal <= drawerCloseRadius
	case buttonPressTopdown:
		toTcp := dist(obj, tcp)
		toHole := math.Abs(ep.goal[2] - obj[2])
		near := tolerance(toTcp, 0, 0.01, dist(obj, ep.tcpInit), longTail)
		pressed := tolerance(toHole, 0, 0.005, ep.pressMargin, longTail)
		r := 5 * hamacher(1-opening, near)
		if toTcp <= 0.03 {
			r += 5 * pressed
		}
		return r, toHole <= buttonPressRadius
	case windowOpen, windowClose:
		toGoal := math.Abs(obj[0] - ep.goal[0])
		// Meta-World measures window-open's initial distance from the
		// window's position, window-close's from the handle's.
		initial := math.Abs(ep.objInit[0] - ep.goal[0])
		reachSig := gaussian
		if e.task.kind == windowOpen {
			initial = math.Abs(ep.box[0] - ep.goal[0])
			reachSig = longTail
		}
		inPlace := tolerance(toGoal, 0, targetRadius, math.Abs(initial-targetRadius), longTail)
		const handleRadius = 0.02
		reached := tolerance(dist(obj, tcp), 0, handleRadius, math.Abs(dist(ep.objInit, ep.tcpInit)-handleRadius), reachSig)
		return 10 * hamacher(reached, inPlace), toGoal <= targetRadius
	case doorOpen:
		theta := e.data.QPos()[e.objQPos]
		hand := [3]float64{e.cur[0], e.cur[1], e.cur[2]}
		grab := (clamp(grip, -1, 1) + 1) / 2
		ready, opened := doorProgress(hand, obj, theta)
		success := math.Abs(obj[0]-ep.goal[0]) <= doorOpenRadius
		if success {
			return 10, true
		}
		return 2*hamacher(ready, grab) + 8*opened, false
	case pegInsertSide:
		head := e.sitePos(e.pegHead)
		scaled := func(a, b [3]float64) float64 {
			return math.Sqrt((a[0]-b[0])*(a[0]-b[0]) + 4*(a[1]-b[1])*(a[1]-b[1]) + 4*(a[2]-b[2])*(a[2]-b[2]))
		}
		toGoal := scaled(head, ep.goal)
		inPlace := tolerance(toGoal, 0, targetRadius, scaled(ep.headInit, ep.goal), longTail)
		outside := hamacher(
			rectPrism(head, add(ep.box, pegPrism2Zero), add(ep.box, pegPrism2One)),
			rectPrism(head, add(ep.box, pegPrism1Zero), add(ep.box, pegPrism1One)))
		inPlace = hamacher(inPlace, outside)
		grasped := e.caging(obj, grip, pegCaging)
		lifted := dist(obj, tcp) < 0.08 && opening > 0 && obj[2]-0.01 > ep.objInit[2]
		if lifted {
			grasped = 1
		}
		r := hamacher(grasped, inPlace)
		if lifted {
			r += 1 + 5*inPlace
		}
		if toGoal <= pegInsertRadius {
			r = 10
		}
		return r, toGoal <= pegInsertRadius
	}
	panic(fmt.Sprintf("metaworld: task kind %d", e.task.kind))
}

// doorProgress is Meta-World's door reward terms: how ready the hand is to
// open the door (above a funnel around the handle and between the handle
// and the door) and how far the door is open (a bonus for any opening and
// the angle's nearness to 120°).
func doorProgress(hand, handle [3]float64, theta float64) (ready, opened float64) {
	door := add(handle, [3]float64{-0.05, 0, 0})
	const threshold = 0.12
	radius := math.Hypot(hand[0]-door[0], hand[1]-door[1])
	floor := 0.0
	if radius > threshold {
		floor = 0.04*math.Log(radius-threshold) + 0.4
	}
	aboveFloor := 1.0
	if hand[2] < floor {
		aboveFloor = tolerance(floor-hand[2], 0, 0.01, floor/2, longTail)
	}
	inPlace := tolerance(dist(hand, add(door, [3]float64{0.05, 0.03, -0.01})), 0, threshold/2, 0.5, longTail)
	ready = hamacher(aboveFloor, inPlace)
	if theta < -math.Pi/90 {
		opened = 0.2
	}
	opened += 0.8 * tolerance(math.Pi/2+math.Pi/6+theta, 0, 0.5, math.Pi/3, longTail)
	return ready, opened
}

// quatMul returns the product a·b of two quaternions (w, x, y, z).
func quatMul(a, b [4]float64) [4]float64 {
	return [4]float64{
		a[0]*b[0] - a[1]*b[1] - a[2]*b[2] - a[3]*b[3],
		a[0]*b[1] + a[1]*b[0] + a[2]*b[3] - a[3]*b[2],
		a[0]*b[2] - a[1]*b[3] + a[2]*b[0] + a[3]*b[1],
		a[0]*b[3] + a[1]*b[2] - a[2]*b[1] + a[3]*b[0],
	}
}

// Success thresholds not equal to targetRadius.
const (
	doorOpenRadius    = 0.08
	pegInsertRadius   = 0.07
	pickPlaceRadius   = 0.07
	drawerOpenRadius  = 0.03
	drawerCloseRadius = targetRadius + 0.015
	buttonPressRadius = 0.024
)

// Caging parameters of push and pick-place, and of peg-insert-side.
var (
	puckCaging = cagingParams{objRadius: 0.015, padSuccess: 0.05, xzThresh: 0.005, highDensity: true}
	pegCaging  = cagingParams{objRadius: 0.0075, padSuccess: 0.03, xzThresh: 0.005, highDensity: true}
)

// rectPrism is Meta-World's rect_prism_tolerance: inside the box spanned by
// the corners zero and one, the product of curr's fractions of the way from
// zero to one along each axis; 1 outside it.
func rectPrism(curr, zero, one [3]float64) float64 {
	f := 1.0
	for i := range 3 {
		lo, hi := min(zero[i], one[i]), max(zero[i], one[i])
		if curr[i] < lo || curr[i] > hi {
			return 1
		}
		f *= (curr[i] - zero[i]) / (one[i] - zero[i])
	}
	return f
}

const stateTag = "MetaWorld/1"

// MarshalBinary encodes the generator, the step count, the episode's
// constants, the observation frames and the physics state.
func (e *Env) MarshalBinary() ([]byte, error) {
	var enc env.Encoder
	enc.String(stateTag)
	enc.String(e.task.ID())
	enc.Pcg(e.pcg)
	enc.Int(e.steps)
	for _, p := range e.ep.floats() {
		enc.Float64(*p)
	}
	for _, x := range e.cur {
		enc.Float64(x)
	}
	for _, x := range e.prev {
		enc.Float64(x)
	}
	e.data.State(e.stateBuf)
	enc.Int(len(e.stateBuf))
	for _, x := range e.stateBuf {
		enc.Float64(x)
	}
	return enc.Data(), nil
}

// UnmarshalBinary restores a state written by MarshalBinary by an Env of
// the same task. On error the Env is left unchanged.
func (e *Env) UnmarshalBinary(data []byte) error {
	d := env.NewDecoder(data)
	tag, id := string(d.Bytes()), string(d.Bytes())
	if d.Err() == nil && (tag != stateTag || id != e.task.ID()) {
		return fmt.Errorf("metaworld: state is %q of %q, want %q of %q", tag, id, stateTag, e.task.ID())
	}
	pcg := new(rand.PCG)
	d.Pcg(pcg)
	steps := d.Int()
	var ep episode
	for _, p := range ep.floats() {
		*p = d.Float64()
	}
	var cur, prev [frame]float64
	for i := range cur {
		cur[i] = d.Float64()
	}
	for i := range prev {
		prev[i] = d.Float64()
	}
	if n := d.Int(); d.Err() == nil && n != len(e.stateBuf) {
		return fmt.Errorf("metaworld: physics state of %d values, want %d", n, len(e.stateBuf))
	}
	phys := make([]float64, len(e.stateBuf))
	for i := range phys {
		phys[i] = d.Float64()
	}
	if err := d.Done(); err != nil {
		return fmt.Errorf("metaworld: %w", err)
	}
	if steps < 0 {
		return errors.New("metaworld: negative step count in state")
	}
	if err := e.data.SetState(phys); err != nil {
		return err
	}
	e.data.Kinematics()
	*e.pcg = *pcg
	e.steps, e.ep, e.cur, e.prev = steps, ep, cur, prev
	e.writeObs(make([]float32, ObsDim))
	return nil
}
