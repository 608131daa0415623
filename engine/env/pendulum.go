package env

import (
	"math"
	"math/rand/v2"
)

// Pendulum constants, as in Gymnasium's PendulumEnv.
const (
	pendulumMaxSpeed  = 8.0
	pendulumMaxTorque = 2.0
	pendulumDt        = 0.05
	pendulumG         = 10.0
	pendulumM         = 1.0
	pendulumL         = 1.0

	pendulumMaxSteps = 200
	pendulumStateTag = "Pendulum-v1/1"

	// The pendulum counts as balanced within this angle of upright and
	// below this angular speed.
	pendulumSuccessAngle = 0.3
	pendulumSuccessSpeed = 1.0
)

func init() {
	Register("Pendulum-v1", func() Env { return NewPendulum() })
}

// Pendulum is Gymnasium's Pendulum-v1: swing a pendulum up from a random
// position and keep it upright with a torque in [-2, 2]. The observation
// is [cos theta, sin theta, theta_dot] with theta = 0 upright; the reward
// is -(theta² + 0.1 theta_dot² + 0.001 u²) with theta normalised to
// [-π, π). It never terminates and is truncated after 200 steps.
//
// Gymnasium defines no success for Pendulum. By the convention of this
// engine, so that success curves exist for it, Success is reported on the
// 200th step of an episode when the pendulum ends it balanced: within 0.3
// rad of upright and slower than 1 rad/s. Pendulum counts its own steps
// for this.
type Pendulum struct {
	rng *rand.PCG
	// theta and thetaDot, in float64 as Gymnasium keeps them.
	theta, thetaDot float64
	steps           int
}

// NewPendulum returns a Pendulum seeded with 0.
func NewPendulum() *Pendulum {
	return &Pendulum{rng: newPCG(0)}
}

// Spec returns the spec of Pendulum-v1.
func (p *Pendulum) Spec() Spec {
	return Spec{ID: "Pendulum-v1", MaxEpisodeSteps: pendulumMaxSteps, HasSuccess: true}
}

// ObservationSpace returns Box([-1, -1, -8], [1, 1, 8]).
func (p *Pendulum) ObservationSpace() Space {
	return Box([]float32{-1, -1, -pendulumMaxSpeed}, []float32{1, 1, pendulumMaxSpeed})
}

// ActionSpace returns Box([-2], [2]).
func (p *Pendulum) ActionSpace() Space {
	return Box([]float32{-pendulumMaxTorque}, []float32{pendulumMaxTorque})
}

// Seed reseeds the generator used by Reset.
func (p *Pendulum) Seed(seed uint64) { SeedPCG(p.rng, seed) }

// Reset draws theta from [-π, π) and theta_dot from [-1, 1).
func (p *Pendulum) Reset(obs []float32) {
	p.theta = uniform(p.rng, -math.Pi, math.Pi)
	p.thetaDot = uniform(p.rng, -1, 1)
	p.steps = 0
	p.observe(obs)
}

// Step applies the torque action[0], clipped to [-2, 2], for one time
// step with the semi-implicit Euler method of Gymnasium: the speed is
// updated first and clipped to [-8, 8], then the angle with the new speed.
func (p *Pendulum) Step(action []float32, obs []float32) Transition {
	u := min(max(float64(action[0]), -pendulumMaxTorque), pendulumMaxTorque)
	th, thDot := p.theta, p.thetaDot
	cost := sq(angleNormalize(th)) + 0.1*sq(thDot) + 0.001*sq(u)

	thDot += (3*pendulumG/(2*pendulumL)*math.Sin(th) + 3.0/(pendulumM*pendulumL*pendulumL)*u) * pendulumDt
	thDot = min(max(thDot, -pendulumMaxSpeed), pendulumMaxSpeed)
	p.theta = th + thDot*pendulumDt
	p.thetaDot = thDot
	p.steps++
	p.observe(obs)

	return Transition{
		Reward: -cost,
		Success: p.steps == pendulumMaxSteps &&
			math.Abs(angleNormalize(p.theta)) < pendulumSuccessAngle &&
			math.Abs(p.thetaDot) < pendulumSuccessSpeed,
	}
}

func (p *Pendulum) observe(obs []float32) {
	sin, cos := math.Sincos(p.theta)
	obs[0], obs[1] = float32(cos), float32(sin)
	obs[2] = float32(p.thetaDot)
}

// ExpertAction swings the pendulum up by pumping energy into it and
// balances it with a PD controller once it is near the top.
//
// With theta = 0 upright the dynamics are theta” = 15 sin theta + 3u, so
// E = theta'²/2 + 15 (cos theta - 1) is zero exactly at rest upright and
// dE/dt = 3u theta'. Pushing along the motion while E < 0, and against it
// while E > 0, drives the pendulum to the orbit that ends upright.
func (p *Pendulum) ExpertAction(action []float32) {
	th, thDot := angleNormalize(p.theta), p.thetaDot
	var u float64
	if math.Cos(th) > expertBalanceCos {
		u = -(expertKp*th + expertKd*thDot)
	} else {
		energy := 0.5*sq(thDot) + 3*pendulumG/(2*pendulumL)*(math.Cos(th)-1)
		dir := 1.0
		if thDot < 0 {
			dir = -1 // at rest (thDot == 0) any push starts the swing
		}
		u = -expertKe * energy * dir
	}
	action[0] = float32(min(max(u, -pendulumMaxTorque), pendulumMaxTorque))
}

// Gains of the Pendulum expert.
const (
	expertBalanceCos = 0.8
	expertKp         = 10.0
	expertKd         = 2.0
	expertKe         = 1.0
)

// MarshalBinary encodes the generator, the angle, speed and step count.
func (p *Pendulum) MarshalBinary() ([]byte, error) {
	var e Encoder
	e.String(pendulumStateTag)
	e.Pcg(p.rng)
	e.Float64(p.theta)
	e.Float64(p.thetaDot)
	e.Int(p.steps)
	return e.buf, nil
}

// UnmarshalBinary restores a state written by MarshalBinary. On error
// the Pendulum is left unchanged.
func (p *Pendulum) UnmarshalBinary(data []byte) error {
	d := NewDecoder(data)
	d.Tag(pendulumStateTag)
	rng := new(rand.PCG)
	d.Pcg(rng)
	theta, thetaDot, steps := d.Float64(), d.Float64(), d.Int()
	if err := d.Done(); err != nil {
		return err
	}
	*p.rng = *rng
	p.theta, p.thetaDot, p.steps = theta, thetaDot, steps
	return nil
}

// angleNormalize maps x to [-π, π) like Gymnasium's angle_normalize,
// whose Python % is a floored modulo, unlike math.Mod; flooring the
// quotient is also several times faster than math.Mod.
func angleNormalize(x float64) float64 {
	r := x + math.Pi
	return r - 2*math.Pi*math.Floor(r/(2*math.Pi)) - math.Pi
}

func sq(x float64) float64 { return x * x }
