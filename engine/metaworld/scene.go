package metaworld

import (
	"fmt"
	"strings"
)

// Geometry shared by every task, in metres, in the world frame: x to the
// right, y away from the robot, z up; the table top is z = 0.
const (
	// tcpOffset is how far the tool centre point (the mean of the two
	// fingertip sites) sits below the hand body's origin.
	tcpOffset = 0.045
	// actionScale turns an action in [−1, 1] into a mocap displacement:
	// at most 1 cm per axis per step.
	actionScale = 0.01
	// frameSkip MuJoCo steps of 2.5 ms make one env step (12.5 ms).
	frameSkip = 5
	// resetSteps env-step-long iterations with the mocap held at the
	// task's initial hand position and the fingers driven open settle the
	// hand at reset.
	resetSteps = 50

	puckRadius     = 0.02
	puckHalfHeight = 0.02

	// The drawer's slide joint opens it by up to drawerTravel.
	drawerTravel = 0.16
	// The button's slide joint presses it by up to buttonTravel.
	buttonTravel = 0.06
	// The window's pane slides by up to windowTravel.
	windowTravel = 0.2
)

// Mocap bounds of the hand for the MT10 tasks.
var (
	handLow  = [3]float64{-0.5, 0.40, 0.05}
	handHigh = [3]float64{0.5, 1, 0.5}
)

// Observation bounds of the hand position.
var (
	obsHandLow  = [3]float64{-0.525, 0.348, -0.0525}
	obsHandHigh = [3]float64{0.525, 1.025, 0.7}
)

// objects a scene holds; a task needs one of them.
type objects int

const (
	withPuck objects = iota
	withDrawer
	withButton
	withWindow
	withDoor
	withPeg
)

// sceneXML returns the MJCF of a task's scene: the table with Meta-World's
// low retaining walls along its edges (12 cm high) and the floor below it, a
// free-floating gripper welded to the mocap body "mocap", and the task's
// objects.
//
// The gripper is Meta-World's Sawyer gripper without the arm: a hand body
// turned so that its +x axis points down, two claws on slide joints along
// world y (right: 0 to 0.04, left: −0.03 to 0; position actuators kp 400,
// ctrl ±1, heavily damped so that they close in about 15 steps), a pad on
// the inner face of each claw, and the fingertip sites 4.5 cm below the hand.
// The weld's solref of 0.02 s is Meta-World's; on MuJoCo 2.2.2 the compiler's
// eq_data for it (relative pose identity, torquescale 1) keeps the hand from
// rotating (../shared/reference/metaworld-gripper-probe.md).
//
// Objects carry Meta-World's collision geometry and offsets: the puck is a
// cylinder of radius and half-height 2 cm, 0.75 kg; the drawer and the
// button box are mocap bodies (so that a reset can place them without
// changing the shared model, as Meta-World changes body_pos) with the
// collision boxes and capsules of Meta-World's assets, the button box
// written directly in the world frame that Meta-World reaches with a −90°
// rotation about x.
func sceneXML(obj objects) string {
	var b strings.Builder
	b.WriteString(`<mujoco model="metaworld">
  <compiler angle="radian" coordinate="local" inertiafromgeom="true"/>
  <option timestep="0.0025" iterations="50" tolerance="1e-10" solver="Newton" jacobian="dense" cone="elliptic"/>
  <size njmax="500" nconmax="100"/>
  <default>
    <default class="gripper">
      <geom type="box" condim="4" margin="0.001" solimp="0.8 0.9 0.01" solref="0.02 1"/>
    </default>
    <default class="pad">
      <geom type="box" condim="4" margin="0.001" solimp="0.95 0.99 0.01" solref="0.01 1" friction="2 0.1 0.002"/>
    </default>
    <default class="finger">
      <joint type="slide" axis="0 1 0" armature="100" damping="1000" limited="true"/>
    </default>
    <default class="object">
      <geom condim="3" solimp="0.99 0.99 0.01" solref="0.01 1"/>
      <joint armature="0.001" damping="2" limited="true"/>
    </default>
  </default>
  <worldbody>
    <light directional="true" pos="0 0 3" dir="0 0 -1"/>
    <geom name="table" type="box" pos="0 0.6 -0.027" size="0.7 0.4 0.027" rgba="0.6 0.45 0.3 1"/>
    <geom name="wall_near" type="box" pos="0 0.21 0.06" size="0.7 0.01 0.06" rgba="0.5 0.5 0.55 1"/>
    <geom name="wall_far" type="box" pos="0 0.99 0.06" size="0.7 0.01 0.06" rgba="0.5 0.5 0.55 1"/>
    <geom name="wall_left" type="box" pos="-0.69 0.6 0.06" size="0.01 0.38 0.06" rgba="0.5 0.5 0.55 1"/>
    <geom name="wall_right" type="box" pos="0.69 0.6 0.06" size="0.01 0.38 0.06" rgba="0.5 0.5 0.55 1"/>
    <geom name="floor" type="plane" pos="0 0 -0.913" size="4 4 0.1"/>
    <body name="mocap" mocap="true" pos="0 0.6 0.2" quat="0.70710678 0 0.70710678 0"/>
    <body name="hand" pos="0 0.6 0.2" quat="0.70710678 0 0.70710678 0">
      <freejoint name="hand"/>
      <inertial pos="0 0 0" mass="1" diaginertia="0.001 0.001 0.001"/>
      <geom name="rail" class="gripper" pos="-0.05 0 0" size="0.005 0.055 0.005" condim="3" friction="2 0.1 0.002" rgba="0.5 0.5 0.5 1"/>
      <body name="rightclaw" pos="0 -0.05 0">
        <joint name="r_close" class="finger" range="0 0.04"/>
        <geom name="rightclaw" class="gripper" size="0.045 0.003 0.015" mass="0.1" rgba="0.9 0.9 0.9 1"/>
        <site name="rightEndEffector" pos="0.045 0 0" size="0.01"/>
        <body name="rightpad" pos="0 0.003 0">
          <geom name="rightpad" class="pad" size="0.045 0.003 0.015" mass="0.1"/>
        </body>
      </body>
      <body name="leftclaw" pos="0 0.05 0">
        <joint name="l_close" class="finger" range="-0.03 0"/>
        <geom name="leftclaw" class="gripper" size="0.045 0.003 0.015" mass="0.1" rgba="0.9 0.9 0.9 1"/>
        <site name="leftEndEffector" pos="0.045 0 0" size="0.01"/>
        <body name="leftpad" pos="0 -0.003 0">
          <geom name="leftpad" class="pad" size="0.045 0.003 0.015" mass="0.1"/>
        </body>
      </body>
    </body>
`)
	contacts := ""
	switch obj {
	case withPuck:
		fmt.Fprintf(&b, `    <body name="obj" pos="0 0.6 %g">
      <freejoint name="obj"/>
      <inertial pos="0 0 0" mass="0.75" diaginertia="8.80012e-04 8.80012e-04 8.80012e-04"/>
      <geom name="obj" type="cylinder" size="%g %g" condim="4" solimp="0.99 0.99 0.01" solref="0.01 1" friction="1 0.1 0.002" rgba="1 0 0 1"/>
    </body>
`, puckHalfHeight, puckRadius, puckHalfHeight)
	case withDrawer:
		// The case (fixed) and the drawer on its slide joint; the handle is
		// the three capsules at the drawer's front (−y).
		fmt.Fprintf(&b, `    <body name="drawer" mocap="true" pos="0 0.9 0">
      <body name="drawercase" pos="0 0 0.084" childclass="object">
        <geom type="box" pos="-0.11 0 0" size="0.008 0.1 0.084" mass="0.05"/>
        <geom type="box" pos="0.11 0 0" size="0.008 0.1 0.084" mass="0.05"/>
        <geom type="box" pos="0 0.092 -0.008" size="0.102 0.008 0.076" mass="0.05"/>
        <geom type="box" pos="0 -0.008 -0.07" size="0.102 0.092 0.014" mass="0.05"/>
        <geom type="box" pos="0 0 0.076" size="0.102 0.1 0.008" mass="0.05"/>
        <body name="drawer_link" pos="0 -0.01 0.006">
          <joint name="drawer" type="slide" axis="0 1 0" range="-%g 0"/>
          <geom type="box" pos="0 -0.082 0.008" size="0.1 0.008 0.052" mass="0.04" rgba="0.8 0.75 0.6 1"/>
          <geom type="box" pos="0 0.082 0.008" size="0.1 0.008 0.052" mass="0.04"/>
          <geom type="box" pos="-0.092 0 0.008" size="0.008 0.074 0.052" mass="0.04"/>
          <geom type="box" pos="0.092 0 0.008" size="0.008 0.074 0.052" mass="0.04"/>
          <geom type="box" pos="0 0 -0.052" size="0.1 0.09 0.008" mass="0.04"/>
          <geom type="capsule" euler="1.571 0 0" pos="-0.05 -0.12 0" size="0.009 0.03" mass="0.06"/>
          <geom type="capsule" euler="0 1.571 0" pos="0 -0.15 0" size="0.009 0.05" mass="0.06" rgba="1 1 1 1"/>
          <geom type="capsule" euler="1.571 0 0" pos="0.05 -0.12 0" size="0.009 0.03" mass="0.06"/>
        </body>
      </body>
    </body>
`, drawerTravel)
	case withButton:
		// The box is a frame around a square hole; the button body sits at
		// the box's origin and slides down (−z) by up to buttonTravel
		// against a weak spring. Its top is 0.194 above the origin.
		fmt.Fprintf(&b, `    <body name="box" mocap="true" pos="0 0.85 0.115">
      <geom class="object" type="box" pos="0 0.072 -0.012" size="0.12 0.048 0.102" rgba="0.2 0.2 0.2 1"/>
      <geom class="object" type="box" pos="0 -0.072 -0.012" size="0.12 0.048 0.102" rgba="0.2 0.2 0.2 1"/>
      <geom class="object" type="box" pos="-0.073 0 -0.012" size="0.047 0.024 0.102" rgba="0.2 0.2 0.2 1"/>
      <geom class="object" type="box" pos="0.073 0 -0.012" size="0.047 0.024 0.102" rgba="0.2 0.2 0.2 1"/>
      <body name="button" childclass="object">
        <inertial pos="0 0 0.1935" mass="0.01" diaginertia="0.001 0.001 0.001"/>
        <joint name="button" type="slide" axis="0 0 1" range="-%g 0" springref="0.5" stiffness="0.5" damping="1"/>
        <geom type="cylinder" pos="0 0 0.128" size="0.021 0.039"/>
        <geom type="cylinder" pos="0 0 0.166" size="0.026 0.008"/>
        <geom type="cylinder" pos="0 0 0.183" size="0.043 0.011" rgba="0.9 0.1 0.1 1"/>
      </body>
    </body>
`, buttonTravel)
	case withWindow:
		// The frame (fixed), the sliding pane with its handle (a vertical
		// bar held by two horizontal capsules, in front: −y) on a slide
		// joint along x, and the fixed pane. The handle sites are
		// Meta-World's handleOpenStart and handleCloseStart.
		fmt.Fprintf(&b, `    <body name="window" mocap="true" pos="0 0.785 0.16">
      <geom class="object" type="box" pos="-0.216 0 0" size="0.015 0.03 0.181" rgba="0.36 0.26 0.27 1"/>
      <geom class="object" type="box" pos="0 0 -0.192" size="0.25 0.06 0.01" rgba="0.36 0.26 0.27 1"/>
      <geom class="object" type="box" pos="0.216 0 0" size="0.015 0.03 0.181" rgba="0.36 0.26 0.27 1"/>
      <geom class="object" type="box" pos="0 0 -0.166" size="0.201 0.03 0.015" rgba="0.36 0.26 0.27 1"/>
      <geom class="object" type="box" pos="0 0 0.166" size="0.201 0.03 0.015" rgba="0.36 0.26 0.27 1"/>
      <body name="window_pane" childclass="object">
        <joint name="window" type="slide" axis="1 0 0" range="0 %g"/>
        <geom type="cylinder" euler="1.571 0 0" pos="-0.014 -0.028 0.045" size="0.012 0.003"/>
        <geom type="cylinder" euler="1.571 0 0" pos="-0.014 -0.028 -0.045" size="0.012 0.003"/>
        <geom type="capsule" euler="1.571 0 0" pos="-0.014 -0.06 0.045" size="0.008 0.035"/>
        <geom type="capsule" euler="1.571 0 0" pos="-0.014 -0.06 -0.045" size="0.008 0.035"/>
        <geom type="capsule" pos="-0.014 -0.095 0" size="0.008 0.045" rgba="0.9 0.9 0.9 1"/>
        <geom type="box" pos="-0.014 -0.013 0" size="0.014 0.012 0.15"/>
        <geom type="box" pos="-0.19 -0.013 0" size="0.01 0.012 0.15"/>
        <geom type="box" pos="-0.104 -0.013 0.14" size="0.076 0.012 0.01"/>
        <geom type="box" pos="-0.104 -0.013 -0.14" size="0.076 0.012 0.01"/>
        <geom type="box" pos="-0.104 -0.018 0" size="0.076 0.001 0.13"/>
        <geom type="box" pos="-0.104 -0.022 0" size="0.076 0.003 0.005"/>
        <site name="handleOpen" pos="-0.04 -0.095 0" size="0.005"/>
        <site name="handleClose" pos="0.01 -0.095 0" size="0.005"/>
      </body>
      <body name="window_fixed" pos="0.1 0.013 0" childclass="object">
        <geom type="box" pos="0 0 -0.14" size="0.08 0.012 0.01"/>
        <geom type="box" pos="0 0 0.14" size="0.08 0.012 0.01"/>
        <geom type="box" pos="0 -0.005 0" size="0.08 0.001 0.13"/>
        <geom type="box" pos="0 -0.009 0" size="0.08 0.003 0.005"/>
        <geom type="box" pos="-0.09 0 0" size="0.01 0.012 0.15"/>
        <geom type="box" pos="0.09 0 0" size="0.01 0.012 0.15"/>
      </body>
    </body>
`, windowTravel)
		// The panes run in tracks 2 mm apart and never touch; without the
		// exclusion MuJoCo tests their 66 geom pairs at every step.
		contacts = `  <contact>
    <exclude body1="window_pane" body2="window_fixed"/>
  </contact>
`
	case withDoor:
		// The safe (fixed) and its door on a hinge at its left edge,
		// opening towards the robot (negative angles), with the handle's
		// collision cylinders: a round base, a stem out of the door (−y)
		// and a grip bar along x. The door's inertia is that of
		// Meta-World's door with its meshes; the handle site is the
		// handle mesh geom's position, which Meta-World observes.
		fmt.Fprintf(&b, `    <body name="door" mocap="true" pos="0 0.9 0.15">
      <geom class="object" type="box" pos="-0.204 0 0" size="0.016 0.106 0.15" rgba="0.4 0.4 0.45 1"/>
      <geom class="object" type="box" pos="0.204 0 0" size="0.016 0.106 0.15" rgba="0.4 0.4 0.45 1"/>
      <geom class="object" type="box" pos="0 0 0.138" size="0.188 0.106 0.012" rgba="0.4 0.4 0.45 1"/>
      <geom class="object" type="box" pos="0 0 -0.138" size="0.189 0.106 0.012" rgba="0.4 0.4 0.45 1"/>
      <geom class="object" type="box" pos="0 0.094 0" size="0.188 0.012 0.126" rgba="0.4 0.4 0.45 1"/>
      <body name="door_link" pos="-0.185 -0.1 0" childclass="object">
        <inertial pos="0.223702 -0.0204281 0" quat="0.555446 0.555434 0.437591 0.437592" mass="2.22982" diaginertia="0.0436175 0.037338 0.0116904"/>
        <joint name="door" type="hinge" axis="0 0 1" range="-2 0"/>
        <geom type="cylinder" euler="1.571 0 0" pos="0.325 -0.006 0" size="0.028 0.012"/>
        <geom type="cylinder" euler="1.571 0 0" pos="0.325 -0.065 0" size="0.013 0.047"/>
        <geom type="cylinder" euler="0 1.571 0" pos="0.381 -0.12 0" size="0.019 0.075" rgba="0.9 0.9 0.9 1"/>
        <geom type="cylinder" euler="0 1.571 0" pos="0.395 -0.12 0" size="0.023 0.054" rgba="0.9 0.9 0.9 1"/>
        <geom type="box" pos="0.185 0 0" size="0.18 0.01 0.123" rgba="0.55 0.55 0.6 1"/>
        <site name="handle" pos="0.375722 -0.10714 0.0000359" size="0.005"/>
      </body>
    </body>
`)
	case withPeg:
		// The peg: a 24 cm bar along x, 3 cm square, that does not turn
		// (Meta-World gives it a huge rotational inertia), with the sites
		// of its head (−x end), and of the point the gripper takes it at.
		// The box with a 6 cm square channel along x at 10–16 cm height,
		// written in the world frame that Meta-World reaches with a 90°
		// turn about z, with the corners of the two regions its reward
		// keeps the peg's head out of.
		b.WriteString(`    <body name="peg" pos="0 0.6 0.02">
      <freejoint name="peg"/>
      <inertial pos="0 0 0" mass="0.1" diaginertia="100000 100000 100000"/>
      <geom name="peg" type="box" size="0.12 0.015 0.015" rgba="0.3 1 0.3 1"/>
      <site name="pegHead" pos="-0.1 0 0" size="0.005"/>
      <site name="pegGrasp" pos="0.03 0 0.01" size="0.005"/>
    </body>
    <body name="box" mocap="true" pos="-0.3 0.6 0">
      <geom class="object" type="box" pos="0 0 0.195" size="0.1 0.09 0.005" rgba="0.55 0.4 0.25 1"/>
      <geom class="object" type="box" pos="0 0 0.05" size="0.096 0.09 0.05" rgba="0.55 0.4 0.25 1"/>
      <geom class="object" type="box" pos="0 -0.06 0.13" size="0.096 0.03 0.03" rgba="0.55 0.4 0.25 1"/>
      <geom class="object" type="box" pos="0 0.06 0.13" size="0.096 0.03 0.03" rgba="0.55 0.4 0.25 1"/>
      <geom class="object" type="box" pos="0 0 0.175" size="0.096 0.09 0.015" rgba="0.55 0.4 0.25 1"/>
      <geom class="object" type="box" pos="0 0.095 0.1" size="0.1 0.005 0.1" rgba="0.55 0.4 0.25 1"/>
      <geom class="object" type="box" pos="0 -0.095 0.1" size="0.1 0.005 0.1" rgba="0.55 0.4 0.25 1"/>
      <site name="hole" pos="0.096 0 0.13" size="0.005"/>
    </body>
`)
	default:
		panic(fmt.Sprintf("metaworld: unknown objects %d", obj))
	}
	b.WriteString("  </worldbody>\n")
	b.WriteString(contacts)
	b.WriteString(`  <equality>
    <weld body1="mocap" body2="hand" solref="0.02 1"/>
  </equality>
  <actuator>
    <position name="r_close" joint="r_close" kp="400" ctrllimited="true" ctrlrange="-1 1"/>
    <position name="l_close" joint="l_close" kp="400" ctrllimited="true" ctrlrange="-1 1"/>
  </actuator>
</mujoco>
`)
	return b.String()
}
