// Package clevr is CLEVR-Robot, the discrete-control benchmark of the
// language-conditioned RL literature (Jiang et al., "Language as an
// Abstraction for Hierarchical Deep Reinforcement Learning", 2019), rebuilt
// in Go on MuJoCo 2.2 after google-research/clevr_robot_env.
//
// # Scene
//
// Five rubber balls of radius 0.13 (red, blue, green, purple, cyan, always in
// that order) lie on a table between four invisible walls at x = ±0.6,
// y = −0.3 and y = 0.7. A small pusher sphere on two actuated slide joints
// touches the balls but passes through the walls. Seen from above, x grows
// to the right and y to the front: "left" is −x, "right" +x, "front" +y and
// "behind" −y.
//
// # Actions
//
// There are 40 discrete actions: action = ball*8 + direction, with the
// directions of [Dirs] (right, forward, left, backward and the four
// diagonals). An action teleports the pusher, at rest, to 0.15 m behind the
// ball's centre against the push direction, sets the motors to the
// direction and simulates 40 time steps of 0.01 s. A cardinal push moves a
// free ball about 0.25 m, a diagonal one about 0.2 m along each axis.
//
// Leftover velocities are kept between pushes, as in the original, which
// keeps its physics running: a push ends with the ball still moving at about
// 0.66 m/s, and it coasts on during the next push (0.034 m, 0.047 m after a
// diagonal push). This is part of the benchmark's dynamics; the observation,
// like the original's, holds positions only, and the marshalled state holds
// the velocities.
//
// # Task
//
// Each episode samples one of the 80 goals "ball S in relation R to ball
// D" ([Goal]) that is false at reset, and an instruction sentence for it.
// Success: the direction from D to S lies within the 90° sector centred on
// R's direction and the balls' centres are closer than 0.39 ([SuccessRadius]).
// An episode terminates on success and is truncated after 50 pushes.
//
// The observation is 24 float32: the x, y of the five balls, then one-hots
// of the source ball (5), the destination ball (5) and the relation (4).
//
// # Variants
//
// Registered ids (see [Options.ID]):
//
//	CLEVR-Robot-v0                 shaped reward, training instructions
//	CLEVR-Robot-sparse-v0          sparse reward, training instructions
//	CLEVR-Robot-heldout-v0         shaped reward, held-out instructions
//	CLEVR-Robot-sparse-heldout-v0  sparse reward, held-out instructions
//
// Each id takes options (engine/env's Make, from the config keys of the
// same names): "CLEVR-Robot-v0:task_level=hard,goal_encoding=text".
//
//   - task_level: relation (the task above, the default), easy (one push of
//     a named ball in a named direction; it succeeds when the push is one
//     of the three directions with a component that way, and the episode
//     ends after it), hard (two or three relations at once, none met at
//     reset; the balls in colour order from left to right, each step within
//     30° of +x; the other balls closer than 0.325 to the green one), rephrase
//     (relation goals said in a larger set of paraphrases) or mixed (each
//     episode draws one of the four; [Env.EpisodeLevel] names it). See
//     [Task].
//   - goal_encoding: onehot (the default) or text, a bag of the
//     instruction's words ([encodeText]) instead of the one-hots.
//   - reward: shaped (the default, below) or distance (ImagineBench's: 10
//     per metre the source-destination distance shrinks, no success bonus;
//     see [Task.Potential]).
//   - phrasing: train (the default) or heldout: every level has held-out
//     phrasings, meant for evaluation only.
//
// The one-hot layout of the hard and mixed levels is wider: the positions,
// one-hots of the episode's level (4: relation, easy, hard, rephrase) and
// goal kind (4: relations, push, order, gather), then three relation slots
// of source, destination and relation one-hots (14 each): 60 float32. A
// push task fills the first slot's source and relation; the others leave
// the slots they do not use at 0. The easy and rephrase levels keep the
// 24-float layout (an easy task: its ball as source, its direction as
// relation, no destination). The text encoding replaces every one-hot: 10
// positions and [textDim] word features.
//
// The shaped reward, the default, is 10·(d_prev − d) per push, where d is
// the distance from the source ball to the goal region ([Goal.Distance]),
// plus 10 on success. It is a difference of potentials, so it leaves the
// optimal policies unchanged (up to discounting), and it tells the agent at
// every push whether that push helped. The sparse reward (1 on success, else
// 0) only says, at the end of an episode, that one of up to 50 pushes did;
// a random policy already succeeds in about a third of episodes, and vanilla
// PPO with 300k pushes barely improves on that with the sparse reward (40%)
// while the shaped one reaches 54% (bench/results/clevr-ppo.md).
//
// Instructions do not enter the observation; they matter to
// language-conditioned agents and to the LLM prior through [Env.TextView],
// which is where the held-out paraphrases
// test generalisation. [Env.ExpertAction] is a scripted expert and
// [Env.Render] draws a state.
package clevr

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/lago-rl/lago/engine/env"
	"github.com/lago-rl/lago/engine/sim/mujoco"
)

// MaxEpisodeSteps is the number of pushes after which an episode is
// truncated.
const MaxEpisodeSteps = 50

// Reward of the shaped variant: shapeScale per metre of progress towards the
// goal region, and successBonus on success.
const (
	shapeScale   = 10
	successBonus = 10
)

func init() {
	for _, o := range []Options{{}, {Sparse: true}, {HeldOut: true}, {Sparse: true, HeldOut: true}} {
		env.Register(o.ID(), func() env.Env {
			e, err := New(o)
			if err != nil {
				// The scene is a constant of this package: failing to
				// compile it is a broken build or MuJoCo install, which
				// env.Register's signature has no way to report.
				panic(err)
			}
			return e
		})
		env.RegisterOptions(o.ID(), func(opts map[string]string) (env.Env, error) {
			o, err := o.with(opts)
			if err != nil {
				return nil, err
			}
			return New(o)
		})
	}
}

// model is the compiled scene, shared by every Env: a MuJoCo model is
// read-only during simulation. It lives as long as the process.
var model = sync.OnceValues(func() (*mujoco.Model, error) {
	return mujoco.LoadXML(sceneXML())
})

// Env is one CLEVR-Robot environment. It is not safe for concurrent use.
type Env struct {
	opt    Options
	frames []string // instruction templates of the variant

	data *mujoco.Data
	// Indices into qpos/qvel/ctrl.
	ballQPos, ballDof     [NumBalls]int
	pusherQPos            [2]int
	pusherDof             [2]int
	pusherCtrl            [2]int
	pcg                   *rand.PCG
	rng                   *rand.Rand
	task                  Task
	goal                  Goal // task.Rels[0]: the goal of the relation and rephrase levels
	template, phrase      int  // the instruction's frame and phrase (see taskInstruction)
	steps                 int
	stateBuf, expertSaved []float64 // scratch physics states

	obsDim   int
	wide     bool      // the 60-float one-hot layout of the hard and mixed levels
	textGoal []float32 // with goal_encoding = text: the encoding of the instruction
}

var (
	_ env.Env             = (*Env)(nil)
	_ env.Expert          = (*Env)(nil)
	_ env.Describer       = (*Env)(nil)
	_ env.FactoredActions = (*Env)(nil)
	_ env.Leveled         = (*Env)(nil)
)

// New returns an environment seeded with 0, in the state of a fresh Reset.
// Close frees its simulation deterministically; otherwise the garbage
// collector does.
func New(opt Options) (*Env, error) {
	m, err := model()
	if err != nil {
		return nil, err
	}
	d, err := mujoco.NewData(m)
	if err != nil {
		return nil, err
	}
	if opt.Level < 0 || opt.Level >= numLevels {
		d.Close()
		return nil, fmt.Errorf("clevr: task level %d out of range", int(opt.Level))
	}
	e := &Env{opt: opt, frames: trainFrames, data: d, pcg: new(rand.PCG), obsDim: obsDim}
	if opt.HeldOut {
		e.frames = heldOutFrames
	}
	switch {
	case opt.TextGoal:
		e.obsDim = 2*NumBalls + textDim
		e.textGoal = make([]float32, textDim)
	case opt.Level == LevelHard || opt.Level == LevelMixed:
		e.obsDim, e.wide = wideObsDim, true
	}
	e.rng = rand.New(e.pcg)
	for i, c := range Colours {
		j, err := m.Joint(c)
		if err != nil {
			d.Close()
			return nil, err
		}
		e.ballQPos[i], e.ballDof[i] = j.QPos, j.Dof
	}
	for i, name := range [2]string{"pusher_x", "pusher_y"} {
		j, err := m.Joint(name)
		if err != nil {
			d.Close()
			return nil, err
		}
		a, err := m.Actuator([2]string{"push_x", "push_y"}[i])
		if err != nil {
			d.Close()
			return nil, err
		}
		e.pusherQPos[i], e.pusherDof[i], e.pusherCtrl[i] = j.QPos, j.Dof, a
	}
	e.stateBuf = make([]float64, d.StateSize())
	e.expertSaved = make([]float64, d.StateSize())
	e.Seed(0)
	e.Reset(make([]float32, e.obsDim))
	return e, nil
}

// Close frees the simulation. The Env must not be used after.
func (e *Env) Close() { e.data.Close() }

// Observation sizes: the default layout, a relation slot of the wide one
// and the wide one (see the package documentation).
const (
	obsDim     = 2*NumBalls + NumBalls + NumBalls + NumRelations
	slotDim    = NumBalls + NumBalls + NumRelations
	wideObsDim = 2*NumBalls + len(episodeLevels) + int(numKinds) + MaxRelations*slotDim
)

// Spec returns the spec of the variant. An easy episode is one push.
func (e *Env) Spec() env.Spec {
	steps := MaxEpisodeSteps
	if e.opt.Level == LevelEasy {
		steps = 1
	}
	return env.Spec{ID: e.opt.ID(), MaxEpisodeSteps: steps, HasSuccess: true}
}

// ObservationSpace bounds ball coordinates by the walls, one-hots and the
// text encoding's positions by [0, 1] and its word counts by maxWordCount.
func (e *Env) ObservationSpace() env.Space {
	low, high := make([]float32, e.obsDim), make([]float32, e.obsDim)
	for i := range NumBalls {
		low[2*i], high[2*i] = WallXMin, WallXMax
		low[2*i+1], high[2*i+1] = WallYMin, WallYMax
	}
	for i := 2 * NumBalls; i < e.obsDim; i++ {
		high[i] = 1
		if e.opt.TextGoal && (i-2*NumBalls)%2 == 0 {
			high[i] = maxWordCount
		}
	}
	return env.Box(low, high)
}

// ActionSpace returns Discrete(40).
func (e *Env) ActionSpace() env.Space { return env.Discrete(NumActions) }

// Seed reseeds the generator that Reset draws scenes, goals and
// instructions from.
func (e *Env) Seed(seed uint64) { env.SeedPCG(e.pcg, seed) }

// Goal returns the goal of the current episode: for a relation or
// rephrase task its relation, for a hard task of relations the first one;
// see Task for the others.
func (e *Env) Goal() Goal { return e.goal }

// Task returns the task of the current episode.
func (e *Env) Task() Task { return e.task }

// EpisodeLevel names the level of the current episode (env.Leveled):
// relation, easy, hard or rephrase.
func (e *Env) EpisodeLevel() string { return e.task.Level.String() }

// Instruction returns the instruction of the current episode.
func (e *Env) Instruction() string {
	if e.task.Level == LevelRelation {
		return instruction(e.frames, e.template, e.goal)
	}
	return taskInstruction(e.task, e.opt.HeldOut, e.template, e.phrase)
}

// Positions returns the x, y of the balls' centres.
func (e *Env) Positions() [NumBalls][2]float64 {
	q := e.data.QPos()
	var p [NumBalls][2]float64
	for i, a := range e.ballQPos {
		p[i] = [2]float64{q[a], q[a+1]}
	}
	return p
}

// Reset places the balls, lets the scene settle, and samples a goal that is
// false and an instruction for it.
//
// Sampling follows the original: each ball's centre is drawn uniformly from
// [−0.5, 0.5] × [−0.3, 0.5] and redrawn if closer than 0.36 to a ball
// already placed; after 10 failed draws for one ball the whole scene is
// redrawn. That box reaches within a ball's radius of the walls at x = ±0.6
// and y = −0.3, so a ball may start overlapping a wall. The original lets the
// first push resolve the overlap, which moves such balls by up to 0.13 m as
// a side effect of whatever action comes first. Here the scene is simulated,
// with the pusher parked off the table, until every ball is at rest (at
// most 3 s; 0.6 s on average, 0.2 s where nothing overlaps), so that the
// first observation is a resting scene and every push's effect is its own.
func (e *Env) Reset(obs []float32) {
	layout := sampleLayout(e.rng)
	e.data.Reset()
	q := e.data.QPos()
	for i, a := range e.ballQPos {
		q[a], q[a+1], q[a+2] = layout[i][0], layout[i][1], ballZ
	}
	q[e.pusherQPos[0]], q[e.pusherQPos[1]] = parkX, parkY
	for n := 0; n < settleMax; n += settleChunk {
		e.data.Step(settleChunk)
		if e.atRest() {
			break
		}
	}

	pos := e.Positions()
	level := e.opt.Level
	if level == LevelMixed {
		level = episodeLevels[e.rng.IntN(len(episodeLevels))]
	}
	switch level {
	case LevelRelation, LevelRephrase:
		e.goal = sampleGoal(e.rng, &pos)
		e.task = Task{Level: level, Kind: KindRelations, N: 1, Rels: [MaxRelations]Goal{e.goal}}
	case LevelEasy:
		e.task = sampleEasy(e.rng)
	case LevelHard:
		e.task = sampleHard(e.rng, &pos)
	}
	e.goal = e.task.Rels[0]
	frames, _ := phrasings(e.task, e.opt.HeldOut)
	e.template = e.rng.IntN(len(frames))
	e.phrase = 0
	if level != LevelRelation {
		e.phrase = e.rng.IntN(numPhrases(e.task, e.opt.HeldOut))
	}
	e.steps = 0
	e.encodeGoal()
	e.observe(obs, &pos)
}

// encodeGoal computes the text encoding of the episode's instruction, which
// every observation of the episode repeats.
func (e *Env) encodeGoal() {
	if e.textGoal != nil {
		encodeText(e.textGoal, e.Instruction())
	}
}

// atRest reports whether no ball moves faster than restSpeed.
func (e *Env) atRest() bool {
	v := e.data.QVel()
	for _, a := range e.ballDof {
		for _, x := range v[a : a+6] {
			if x > restSpeed || x < -restSpeed {
				return false
			}
		}
	}
	return true
}

// sampleLayout draws ball centres as Reset describes.
func sampleLayout(r *rand.Rand) [NumBalls][2]float64 {
	var p [NumBalls][2]float64
scene:
	for {
		for i := range NumBalls {
			placed := false
			for range spawnTries {
				x, y := uniform(r, spawnXMin, spawnXMax), uniform(r, spawnYMin, spawnYMax)
				placed = true
				for j := range i {
					dx, dy := x-p[j][0], y-p[j][1]
					if dx*dx+dy*dy < minBallSpacing*minBallSpacing {
						placed = false
						break
					}
				}
				if placed {
					p[i] = [2]float64{x, y}
					break
				}
			}
			if !placed {
				continue scene
			}
		}
		return p
	}
}

// sampleGoal draws uniformly among the goals that are false at pos. Some
// goal always is: a ball cannot be both left and right of another.
func sampleGoal(r *rand.Rand, pos *[NumBalls][2]float64) Goal {
	unmet := 0
	for i := range NumGoals {
		if !GoalByIndex(i).Satisfied(pos) {
			unmet++
		}
	}
	k := r.IntN(unmet)
	for i := range NumGoals {
		g := GoalByIndex(i)
		if g.Satisfied(pos) {
			continue
		}
		if k == 0 {
			return g
		}
		k--
	}
	panic("unreachable: fewer unmet goals on the second pass")
}

// Step pushes a ball and writes the next observation. action[0] is the
// action index; Step panics if it is not an integer in [0, 40).
func (e *Env) Step(action []float32, obs []float32) env.Transition {
	a := int(action[0])
	if float32(a) != action[0] || a < 0 || a >= NumActions {
		panic(fmt.Sprintf("clevr: action %v not in {0, ..., %d}", action[0], NumActions-1))
	}
	pos := e.Positions()
	before := e.task.Potential(&pos, e.opt.Distance)
	e.push(a/NumDirs, a%NumDirs)
	e.steps++

	pos = e.Positions()
	success := e.task.Satisfied(&pos)
	if e.task.Kind == KindPush {
		success = e.task.PushSucceeds(a/NumDirs, a%NumDirs)
	}
	e.observe(obs, &pos)
	var reward float64
	switch {
	case e.opt.Sparse && success:
		reward = 1
	case !e.opt.Sparse:
		reward = shapeScale * (before - e.task.Potential(&pos, e.opt.Distance))
		if success && !e.opt.Distance {
			reward += successBonus
		}
	}
	// A push task's episode is its one push.
	return env.Transition{Reward: reward, Terminated: success || e.task.Kind == KindPush, Success: success}
}

// push teleports the pusher, at rest, behind ball in direction dir and
// drives it that way for one push.
func (e *Env) push(ball, dir int) {
	e.aim(ball, dir)
	e.data.Step(pushSubsteps)
}

// aim sets up a push without simulating it: the pusher at rest behind the
// ball, the motors on.
func (e *Env) aim(ball, dir int) {
	q, v, c := e.data.QPos(), e.data.QVel(), e.data.Ctrl()
	d := Dirs[dir]
	b := e.ballQPos[ball]
	q[e.pusherQPos[0]] = q[b] - pushOffset*d[0]
	q[e.pusherQPos[1]] = q[b+1] - pushOffset*d[1]
	v[e.pusherDof[0]], v[e.pusherDof[1]] = 0, 0
	c[e.pusherCtrl[0]], c[e.pusherCtrl[1]] = d[0], d[1]
}

func (e *Env) observe(obs []float32, pos *[NumBalls][2]float64) {
	_ = obs[e.obsDim-1]
	for i, p := range pos {
		obs[2*i], obs[2*i+1] = float32(p[0]), float32(p[1])
	}
	goal := obs[2*NumBalls : e.obsDim]
	if e.textGoal != nil {
		copy(goal, e.textGoal)
		return
	}
	clear(goal)
	t := &e.task
	if e.wide {
		goal[t.Level] = 1
		goal[len(episodeLevels)+int(t.Kind)] = 1
		goal = goal[len(episodeLevels)+int(numKinds):]
	}
	switch t.Kind {
	case KindRelations:
		for k, g := range t.Rels[:t.N] {
			slot := goal[k*slotDim:]
			slot[g.Src] = 1
			slot[NumBalls+g.Dst] = 1
			slot[2*NumBalls+int(g.Rel)] = 1
		}
	case KindPush:
		goal[t.Ball] = 1
		goal[2*NumBalls+int(t.Dir)] = 1
	}
}

const stateTag = "CLEVR-Robot/1"

// MarshalBinary encodes the generator, the physics state (positions,
// velocities, controls and the solver's warm start), the goal, the
// instruction template and the step count; then, for a task level other
// than relation, the task and the instruction's phrase. The relation
// level's state is the one written before there were levels.
func (e *Env) MarshalBinary() ([]byte, error) {
	var enc env.Encoder
	enc.String(stateTag)
	enc.String(e.opt.ID())
	b, err := e.pcg.MarshalBinary()
	if err != nil {
		return nil, err
	}
	enc.Bytes(b)
	enc.Int(e.goal.Src)
	enc.Int(e.goal.Dst)
	enc.Int(int(e.goal.Rel))
	enc.Int(e.template)
	enc.Int(e.steps)
	e.data.State(e.stateBuf)
	enc.Int(len(e.stateBuf))
	for _, x := range e.stateBuf {
		enc.Float64(x)
	}
	if e.opt.Level != LevelRelation {
		t := &e.task
		enc.Int(int(t.Level))
		enc.Int(int(t.Kind))
		enc.Int(t.N)
		for _, g := range t.Rels {
			enc.Int(g.Src)
			enc.Int(g.Dst)
			enc.Int(int(g.Rel))
		}
		enc.Int(t.Ball)
		enc.Int(int(t.Dir))
		enc.Int(e.phrase)
	}
	return enc.Data(), nil
}

// UnmarshalBinary restores a state written by MarshalBinary by an Env of
// the same variant. On error the Env is left unchanged.
func (e *Env) UnmarshalBinary(data []byte) error {
	d := env.NewDecoder(data)
	tag, id := string(d.Bytes()), string(d.Bytes())
	if d.Err() == nil && (tag != stateTag || id != e.opt.ID()) {
		return fmt.Errorf("clevr: state is %q of %q, want %q of %q", tag, id, stateTag, e.opt.ID())
	}
	pcg := new(rand.PCG)
	if b := d.Bytes(); d.Err() == nil {
		if err := pcg.UnmarshalBinary(b); err != nil {
			return fmt.Errorf("clevr: generator state: %w", err)
		}
	}
	goal := Goal{Src: d.Int(), Dst: d.Int(), Rel: Relation(d.Int())}
	template, steps := d.Int(), d.Int()
	if n := d.Int(); d.Err() == nil && n != len(e.stateBuf) {
		return fmt.Errorf("clevr: physics state of %d values, want %d", n, len(e.stateBuf))
	}
	phys := make([]float64, len(e.stateBuf))
	for i := range phys {
		phys[i] = d.Float64()
	}
	task := Task{Level: LevelRelation, Kind: KindRelations, N: 1, Rels: [MaxRelations]Goal{goal}}
	phrase := 0
	if e.opt.Level != LevelRelation {
		task = Task{Level: Level(d.Int()), Kind: Kind(d.Int()), N: d.Int()}
		for k := range task.Rels {
			task.Rels[k] = Goal{Src: d.Int(), Dst: d.Int(), Rel: Relation(d.Int())}
		}
		task.Ball, task.Dir = d.Int(), Relation(d.Int())
		phrase = d.Int()
	}
	frames, phrases := 0, 0
	if task.valid() {
		f, _ := phrasings(task, e.opt.HeldOut)
		frames, phrases = len(f), numPhrases(task, e.opt.HeldOut)
	}
	switch err := d.Done(); {
	case err != nil:
		return fmt.Errorf("clevr: %w", err)
	case !task.valid() || task.Rels[0] != goal:
		return fmt.Errorf("clevr: invalid goal %+v (task %+v) in state", goal, task)
	case e.opt.Level != LevelMixed && task.Level != e.opt.Level:
		return fmt.Errorf("clevr: state of a %s task in a %s env", task.Level, e.opt.Level)
	case template < 0 || template >= frames || phrase < 0 || phrase >= phrases:
		return fmt.Errorf("clevr: instruction template %d, phrase %d out of range", template, phrase)
	case steps < 0:
		return errors.New("clevr: negative step count in state")
	}
	if err := e.data.SetState(phys); err != nil {
		return err
	}
	*e.pcg = *pcg
	e.task, e.goal, e.template, e.phrase, e.steps = task, goal, template, phrase, steps
	e.encodeGoal()
	return nil
}
