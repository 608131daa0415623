package clevr

import (
	"fmt"
	"strings"
)

// Scene geometry, in metres, in the world frame: x grows to the right, y to
// the front, z up.
const (
	NumBalls   = 5
	NumDirs    = 8
	NumActions = NumBalls * NumDirs

	BallRadius   = 0.13
	PusherRadius = 0.05
	tableZ       = -0.325
	ballZ        = tableZ + BallRadius // −0.195: resting on the table

	// The invisible walls that keep the balls on the table.
	WallXMin, WallXMax = -0.6, 0.6
	WallYMin, WallYMax = -0.3, 0.7

	// Reset samples ball centres in this box, at least minBallSpacing
	// apart (the original's 0.1 m gap between the surfaces of two balls).
	spawnXMin, spawnXMax = -0.5, 0.5
	spawnYMin, spawnYMax = -0.3, 0.5
	minBallSpacing       = 0.36
	spawnTries           = 10

	// A push starts the pusher this far behind the ball's centre, against
	// the push direction, at rest.
	pushOffset = 0.15
	// pushSubsteps time steps of 0.01 s make one push, as the original's
	// frame_skip of 20 doubled.
	pushSubsteps = 40
	// Reset lets a freshly placed scene settle in chunks of settleChunk
	// time steps until no ball moves faster than restSpeed (m/s, rad/s),
	// or for at most settleMax steps; see Env.Reset.
	settleChunk = 10
	settleMax   = 300
	restSpeed   = 1e-3
)

// Colours names the balls in their fixed order: ball i is Colours[i].
var Colours = [NumBalls]string{"red", "blue", "green", "purple", "cyan"}

// rgba are the balls' display colours, those of the original.
var rgba = [NumBalls][4]float64{
	{1, 0.1, 0.1, 1},
	{0.2, 0.5, 1, 1},
	{0.2, 1, 0, 1},
	{0.8, 0.2, 1, 1},
	{0.2, 1, 1, 1},
}

// Dirs are the push directions, in action order: a push of ball b in
// direction k is action b*NumDirs + k. The diagonals are 0.8 per axis, not
// unit vectors, as in the original, so a diagonal push is a little longer
// (0.8·√2 ≈ 1.13 times the force) than a cardinal one.
var Dirs = [NumDirs][2]float64{
	{1, 0}, {0, 1}, {-1, 0}, {0, -1},
	{0.8, 0.8}, {-0.8, 0.8}, {0.8, -0.8}, {-0.8, -0.8},
}

// DirNames name Dirs in the convention of the relations: +x is right, +y is
// forward (towards the front).
var DirNames = [NumDirs]string{
	"right", "forward", "left", "backward",
	"forward-right", "forward-left", "backward-right", "backward-left",
}

// parkX, parkY is where the pusher waits at reset: outside the walls, which
// it passes through, and away from every ball.
const parkX, parkY = 0.0, -0.9

// sceneXML returns the MJCF of the scene. Collision filtering: a pair of
// geoms collides when contype of one and conaffinity of the other share a
// bit. Table and walls are 1/1, balls 3/3 and the pusher 2/2, so the balls
// touch everything, while the pusher touches only the balls and passes
// through the walls, which lets it start a push from anywhere.
func sceneXML() string {
	var b strings.Builder
	b.WriteString(`<mujoco model="clevr-robot">
  <compiler angle="radian" coordinate="local" inertiafromgeom="true"/>
  <!-- jacobian="sparse": the same dynamics, but the Newton solver then
       exploits the block structure of five free bodies; about 25% faster
       than dense on MuJoCo 2.2.2 for this scene. -->
  <option timestep="0.01" gravity="0 0 -9.81" iterations="20" integrator="Euler" jacobian="sparse"/>
  <size njmax="200" nconmax="50"/>
  <default>
    <joint armature="0.04" damping="0.75" limited="false"/>
    <geom friction="0.8 0.1 0.1" margin="0.002" condim="3"/>
  </default>
  <worldbody>
    <geom name="table" type="plane" pos="0 0.2 -0.325" size="1 1 0.1" contype="1" conaffinity="1" rgba="0.7 0.7 0.7 1"/>
    <geom name="wall_left" type="plane" pos="-0.6 0 0" zaxis="1 0 0" size="2 2 0.1" contype="1" conaffinity="1" rgba="0 0 0 0"/>
    <geom name="wall_right" type="plane" pos="0.6 0 0" zaxis="-1 0 0" size="2 2 0.1" contype="1" conaffinity="1" rgba="0 0 0 0"/>
    <geom name="wall_front" type="plane" pos="0 0.7 0" zaxis="0 -1 0" size="2 2 0.1" contype="1" conaffinity="1" rgba="0 0 0 0"/>
    <geom name="wall_behind" type="plane" pos="0 -0.3 0" zaxis="0 1 0" size="2 2 0.1" contype="1" conaffinity="1" rgba="0 0 0 0"/>
`)
	for i, c := range Colours {
		// A row of balls that MJCF needs to compile; Reset places them.
		x := -0.4 + 0.2*float64(i)
		fmt.Fprintf(&b, `    <body name="%s" pos="%g 0 %g">
      <joint name="%s" type="free"/>
      <geom type="sphere" size="%g" density="1" contype="3" conaffinity="3" rgba="%g %g %g %g"/>
    </body>
`, c, x, ballZ, c, BallRadius, rgba[i][0], rgba[i][1], rgba[i][2], rgba[i][3])
	}
	// The pusher's body sits at the world origin, at the height of the ball
	// centres so that it pushes horizontally; its slide joints' qpos are
	// then its world x and y.
	fmt.Fprintf(&b, `    <body name="pusher" pos="0 0 %g">
      <joint name="pusher_x" type="slide" axis="1 0 0" damping="0.5"/>
      <joint name="pusher_y" type="slide" axis="0 1 0" damping="0.5"/>
      <geom type="sphere" size="%g" density="0.5" contype="2" conaffinity="2" rgba="1 1 1 1"/>
    </body>
  </worldbody>
  <actuator>
    <motor name="push_x" joint="pusher_x" ctrlrange="-2 2" ctrllimited="true"/>
    <motor name="push_y" joint="pusher_y" ctrlrange="-2 2" ctrllimited="true"/>
  </actuator>
</mujoco>
`, ballZ, PusherRadius)
	return b.String()
}
