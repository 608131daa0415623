package metaworld

import (
	"math"
	"math/rand/v2"
)

// Task is one Meta-World task: its scene, initial hand position, reset
// ranges, success rule, reward and skills.
type Task struct {
	// Name is the task's Meta-World name, as in its env id
	// MetaWorld-<Name>-v3.
	Name string
	// Instruction says what to do, in words, for the text view.
	Instruction string
	// ObjectName names the observation's first object in the text view.
	ObjectName string
	objects    objects
	// handInit is where the mocap holds the hand at reset.
	handInit [3]float64
	// Skills are the task's latent actions; the expert switches between
	// them by the phase rule.
	Skills []Skill
	// phase is the scripted expert's state machine: the index in Skills of
	// the skill to act with at an observation.
	phase func(o Obs) int
	kind  taskKind
}

type taskKind int

const (
	reach taskKind = iota
	push
	pickPlace
	drawerOpen
	drawerClose
	buttonPressTopdown
	windowOpen
	windowClose
	doorOpen
	pegInsertSide
)

// ID returns the env id of the task.
func (t *Task) ID() string { return "MetaWorld-" + t.Name + "-v3" }

// Tasks are the tasks lago implements, in MT10's order.
var Tasks = []*Task{
	{
		Name: "reach", kind: reach, objects: withPuck,
		Instruction: "Reach the goal with the gripper.", ObjectName: "puck",
		handInit: [3]float64{0, 0.6, 0.2},
		Skills:   reachSkills, phase: reachPhase,
	},
	{
		Name: "push", kind: push, objects: withPuck,
		Instruction: "Push the puck to the goal.", ObjectName: "puck",
		handInit: [3]float64{0, 0.6, 0.2},
		Skills:   pushSkills, phase: pushPhase,
	},
	{
		Name: "pick-place", kind: pickPlace, objects: withPuck,
		Instruction: "Pick up the puck and place it at the goal.", ObjectName: "puck",
		handInit: [3]float64{0, 0.6, 0.2},
		Skills:   pickPlaceSkills, phase: pickPlacePhase,
	},
	{
		Name: "door-open", kind: doorOpen, objects: withDoor,
		Instruction: "Open the door by its handle.", ObjectName: "door handle",
		handInit: [3]float64{0, 0.6, 0.2},
		Skills:   doorOpenSkills, phase: doorOpenPhase,
	},
	{
		Name: "drawer-open", kind: drawerOpen, objects: withDrawer,
		Instruction: "Open the drawer.", ObjectName: "drawer handle",
		handInit: [3]float64{0, 0.6, 0.2},
		Skills:   drawerOpenSkills, phase: drawerOpenPhase,
	},
	{
		Name: "drawer-close", kind: drawerClose, objects: withDrawer,
		Instruction: "Close the drawer.", ObjectName: "drawer handle",
		handInit: [3]float64{0, 0.6, 0.2},
		Skills:   drawerCloseSkills, phase: drawerClosePhase,
	},
	{
		Name: "button-press-topdown", kind: buttonPressTopdown, objects: withButton,
		Instruction: "Press the button from the top.", ObjectName: "button",
		handInit: [3]float64{0, 0.4, 0.2},
		Skills:   buttonSkills, phase: buttonPhase,
	},
	{
		Name: "peg-insert-side", kind: pegInsertSide, objects: withPeg,
		Instruction: "Insert the peg into the hole in the side of the box.", ObjectName: "peg",
		handInit: [3]float64{0, 0.6, 0.2},
		Skills:   pegSkills, phase: pegPhase,
	},
	{
		Name: "window-open", kind: windowOpen, objects: withWindow,
		Instruction: "Slide the window open to the right.", ObjectName: "window handle",
		handInit: [3]float64{0, 0.4, 0.2},
		Skills:   windowOpenSkills, phase: windowOpenPhase,
	},
	{
		Name: "window-close", kind: windowClose, objects: withWindow,
		Instruction: "Slide the window closed to the left.", ObjectName: "window handle",
		handInit: [3]float64{0, 0.4, 0.2},
		Skills:   windowCloseSkills, phase: windowClosePhase,
	},
}

// TaskByName returns the task called name, or nil.
func TaskByName(name string) *Task {
	for _, t := range Tasks {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Reset ranges (Meta-World's obj_low/high and goal_low/high).
var (
	puckLow, puckHigh               = [3]float64{-0.1, 0.6, 0.02}, [3]float64{0.1, 0.7, 0.02}
	reachGoalLow, reachGoalHigh     = [3]float64{-0.1, 0.8, 0.05}, [3]float64{0.1, 0.9, 0.3}
	pushGoalLow, pushGoalHigh       = [3]float64{-0.1, 0.8, 0.01}, [3]float64{0.1, 0.9, 0.02}
	drawerLow, drawerHigh           = [3]float64{-0.1, 0.9, 0}, [3]float64{0.1, 0.9, 0}
	buttonBoxLow, buttonBoxHigh     = [3]float64{-0.1, 0.8, 0.115}, [3]float64{0.1, 0.9, 0.115}
	windowOpenLow, windowOpenHigh   = [3]float64{-0.1, 0.7, 0.16}, [3]float64{0.1, 0.9, 0.16}
	windowCloseLow, windowCloseHigh = [3]float64{0, 0.75, 0.2}, [3]float64{0, 0.9, 0.2}
	doorLow, doorHigh               = [3]float64{0, 0.85, 0.15}, [3]float64{0.1, 0.95, 0.15}
	doorGoalOffset                  = [3]float64{-0.3, -0.45, 0}
	// doorHandleQuat is the handle mesh geom's orientation in the door's
	// frame, which Meta-World's observation reports.
	doorHandleQuat        = [4]float64{0.151171, 0.690758, -0.150621, 0.690879}
	pegLow, pegHigh       = [3]float64{0, 0.5, 0.02}, [3]float64{0.2, 0.7, 0.02}
	pegBoxLow, pegBoxHigh = [3]float64{-0.35, 0.4, -0.001}, [3]float64{-0.25, 0.7, 0.001}
	pegGoalOffset         = [3]float64{0.03, 0, 0.13}
	// The reward's two regions in front of the box's channel (the corners
	// Meta-World's rect_prism_tolerance takes, each a zero and a one
	// corner), relative to the box.
	pegPrism1Zero, pegPrism1One = [3]float64{0.11, 0.1, 0.01}, [3]float64{0.15, -0.1, 0.096}
	pegPrism2Zero, pegPrism2One = [3]float64{0.11, 0.1, 0.16}, [3]float64{0.17, -0.1, 0.19}
	minObjGoalXY                = 0.15 // reach, push, pick-place redraw closer pairs
	drawerCloseStart            = 0.15 // drawer-close starts open by this much
	drawerOpenDist              = 0.2  // Meta-World's maxDist of drawer-open
	handleOffset                = [3]float64{0, -0.16, 0}
	drawerCloseHandleOffset     = [3]float64{0, -0.16, 0.05}
	buttonTopOffset             = [3]float64{0, 0, 0.193}
	buttonHoleOffset            = [3]float64{0, 0, 0.1}
	buttonQuat                  = [4]float64{math.Sqrt2 / 2, -math.Sqrt2 / 2, 0, 0}
	identityQuat                = [4]float64{1, 0, 0, 0}
)

func uniform3(r *rand.Rand, lo, hi [3]float64) [3]float64 {
	var v [3]float64
	for i := range v {
		v[i] = lo[i] + (hi[i]-lo[i])*r.Float64()
	}
	return v
}
