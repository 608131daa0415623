package mujoco

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// A ball on a plane, pushed along x by a motor on a slide joint, and a free
// body falling onto the plane: enough to exercise contacts, actuators and
// every kind of state entry the package copies.
const testXML = `
<mujoco model="test">
  <option timestep="0.005"/>
  <worldbody>
    <geom name="floor" type="plane" size="2 2 0.1"/>
    <body name="slider" pos="0 0 0.1">
      <joint name="x" type="slide" axis="1 0 0" damping="0.1"/>
      <geom type="sphere" size="0.1"/>
    </body>
    <body name="faller" pos="0.5 0 0.5">
      <joint name="free" type="free"/>
      <geom type="box" size="0.05 0.05 0.05"/>
    </body>
  </worldbody>
  <actuator>
    <motor name="push" joint="x" ctrlrange="-1 1" ctrllimited="true"/>
  </actuator>
</mujoco>`

func load(t testing.TB) (*Model, *Data) {
	t.Helper()
	m, err := LoadXML(testXML)
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewData(m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(); m.Close() })
	return m, d
}

func TestVersion(t *testing.T) {
	if v := Version(); !strings.HasPrefix(v, "2.") {
		t.Errorf("Version() = %q, want MuJoCo 2.x", v)
	}
}

func TestLoadXMLErrors(t *testing.T) {
	tests := []struct {
		name, xml, want string
	}{
		{"empty", "", "empty"},
		{"malformed", "<mujoco><worldbody>", "XML"},
		{"unknown attribute", `<mujoco><worldbody><geom type="sphere" size="1" bogus="2"/></worldbody></mujoco>`, "bogus"},
		{"unknown joint", `<mujoco><actuator><motor joint="nope"/></actuator></mujoco>`, "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := LoadXML(tt.xml)
			if err == nil {
				m.Close()
				t.Fatal("LoadXML succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestModelLookups(t *testing.T) {
	m, _ := load(t)
	if m.NQ() != 8 || m.NV() != 7 || m.NU() != 1 {
		t.Errorf("sizes nq=%d nv=%d nu=%d, want 8 7 1", m.NQ(), m.NV(), m.NU())
	}
	if got := m.Timestep(); got != 0.005 {
		t.Errorf("Timestep() = %v, want 0.005", got)
	}
	tests := []struct {
		name string
		want Joint
	}{
		{"x", Joint{ID: 0, Type: Slide, QPos: 0, Dof: 0}},
		{"free", Joint{ID: 1, Type: Free, QPos: 1, Dof: 1}},
	}
	for _, tt := range tests {
		got, err := m.Joint(tt.name)
		if err != nil || got != tt.want {
			t.Errorf("Joint(%q) = %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
	}
	if _, err := m.Joint("missing"); err == nil {
		t.Error("Joint(missing) succeeded")
	}
	if a, err := m.Actuator("push"); err != nil || a != 0 {
		t.Errorf("Actuator(push) = %d, %v; want 0", a, err)
	}
	if _, err := m.Actuator("x"); err == nil {
		t.Error("Actuator(x) found a joint")
	}
}

func TestStepAndReset(t *testing.T) {
	_, d := load(t)
	if got := d.QPos()[3]; got != 0.5 {
		t.Fatalf("initial z of the free body = %v, want 0.5 from the MJCF", got)
	}
	d.Ctrl()[0] = 1
	d.Step(100)
	if got := d.Time(); math.Abs(got-0.5) > 1e-12 {
		t.Errorf("Time() after 100 steps = %v, want 0.5", got)
	}
	if x := d.QPos()[0]; x <= 0 {
		t.Errorf("slider at x=%v after pushing +x, want > 0", x)
	}
	// The box falls onto the plane and rests at its half height.
	d.Step(400)
	if z := d.QPos()[3]; math.Abs(z-0.05) > 0.005 {
		t.Errorf("box rests at z=%v, want about 0.05", z)
	}

	d.Reset()
	if d.Time() != 0 || d.QPos()[0] != 0 || d.QPos()[3] != 0.5 || d.Ctrl()[0] != 0 {
		t.Errorf("after Reset: time %v qpos %v ctrl %v, want the initial state",
			d.Time(), d.QPos(), d.Ctrl())
	}
	if d.Warnings(BadQAcc) != 0 {
		t.Errorf("BadQAcc warnings %d on a stable model", d.Warnings(BadQAcc))
	}
}

func TestStepNEqualsNSteps(t *testing.T) {
	_, a := load(t)
	_, b := load(t)
	a.Ctrl()[0], b.Ctrl()[0] = 0.7, 0.7
	a.Step(60)
	for range 60 {
		b.Step(1)
	}
	if !slices.Equal(a.QPos(), b.QPos()) || !slices.Equal(a.QVel(), b.QVel()) {
		t.Errorf("Step(60) gives qpos %v, 60 × Step(1) gives %v", a.QPos(), b.QPos())
	}
}

func TestStateRoundTrip(t *testing.T) {
	_, d := load(t)
	d.Ctrl()[0] = -0.5
	d.Step(70) // mid-fall, with contacts starting: warm start matters

	state := make([]float64, d.StateSize())
	d.State(state)
	d.Step(50)
	want := slices.Clone(d.QPos())
	wantVel := slices.Clone(d.QVel())

	_, e := load(t)
	if err := e.SetState(state); err != nil {
		t.Fatal(err)
	}
	e.Step(50)
	for i := range want {
		if math.Float64bits(e.QPos()[i]) != math.Float64bits(want[i]) {
			t.Fatalf("qpos after restore %v, want bit-exactly %v", e.QPos(), want)
		}
	}
	for i := range wantVel {
		if math.Float64bits(e.QVel()[i]) != math.Float64bits(wantVel[i]) {
			t.Fatalf("qvel after restore %v, want bit-exactly %v", e.QVel(), wantVel)
		}
	}
	if err := e.SetState(state[1:]); err == nil {
		t.Error("SetState accepted a short state")
	}
}

func TestCloseIdempotent(t *testing.T) {
	m, d := load(t)
	d.Close()
	d.Close()
	m.Close()
	m.Close()
	defer func() {
		if recover() == nil {
			t.Error("Step after Close did not panic")
		}
	}()
	d.Step(1)
}

func BenchmarkStep(b *testing.B) {
	_, d := load(b)
	d.Ctrl()[0] = 0.3
	for b.Loop() {
		d.Step(1)
	}
}

// A free hand welded to a mocap body, with a site below it: what Meta-World's
// gripper needs from the package.
const mocapXML = `
<mujoco model="mocap">
  <option timestep="0.0025" gravity="0 0 0"/>
  <worldbody>
    <body name="target" mocap="true" pos="0 0 0.5"/>
    <body name="hand" pos="0 0 0.5">
      <freejoint/>
      <geom type="box" size="0.02 0.02 0.02" mass="1"/>
      <site name="tip" pos="0 0 -0.05"/>
    </body>
  </worldbody>
  <equality>
    <weld body1="target" body2="hand" solref="0.02 1"/>
  </equality>
</mujoco>`

func TestBodiesSitesAndMocap(t *testing.T) {
	m, err := LoadXML(mocapXML)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	d, err := NewData(m)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	hand, err := m.Body("hand")
	if err != nil {
		t.Fatal(err)
	}
	tip, err := m.Site("tip")
	if err != nil {
		t.Fatal(err)
	}
	mc, err := m.Mocap("target")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Mocap("hand"); err == nil || !strings.Contains(err.Error(), "not a mocap body") {
		t.Errorf(`Mocap("hand") error = %v, want "not a mocap body"`, err)
	}
	if _, err := m.Site("nope"); err == nil {
		t.Error(`Site("nope") succeeded`)
	}
	if got := len(d.MocapPos()); got != 3 {
		t.Fatalf("len(MocapPos) = %d, want 3", got)
	}
	if q := d.MocapQuat()[4*mc : 4*mc+4]; q[0] != 1 {
		t.Errorf("mocap quat = %v, want identity", q)
	}
	d.Forward()
	if z := d.SiteXPos()[3*tip+2]; math.Abs(z-0.45) > 1e-12 {
		t.Errorf("site z = %v, want 0.45", z)
	}
	// Moving the mocap body drags the welded hand along.
	d.MocapPos()[3*mc] = 0.1
	d.Step(400)
	if x := d.BodyXPos()[3*hand]; math.Abs(x-0.1) > 1e-3 {
		t.Errorf("hand x = %v after the mocap moved to 0.1", x)
	}
	// The weld is 6 constraint rows; nothing touches.
	if c, r := d.Contacts(), d.Constraints(); c != 0 || r != 6 {
		t.Errorf("Contacts() = %d, Constraints() = %d, want 0 and 6 (the weld)", c, r)
	}
	if w := d.BodyXQuat()[4*hand]; math.Abs(w-1) > 1e-6 {
		t.Errorf("hand quat w = %v, want 1 (not rotated)", w)
	}
	// The mocap pose is part of the state.
	s := make([]float64, d.StateSize())
	d.State(s)
	d.MocapPos()[3*mc] = -0.3
	if err := d.SetState(s); err != nil {
		t.Fatal(err)
	}
	if x := d.MocapPos()[3*mc]; x != 0.1 {
		t.Errorf("restored mocap x = %v, want 0.1", x)
	}
}
