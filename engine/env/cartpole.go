package env

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// CartPole physical constants, as in Gymnasium's CartPoleEnv.
const (
	cartPoleGravity   = 9.8
	cartPoleMassCart  = 1.0
	cartPoleMassPole  = 0.1
	cartPoleTotalMass = cartPoleMassPole + cartPoleMassCart
	cartPoleLength    = 0.5 // half the pole's length
	cartPolePoleMassL = cartPoleMassPole * cartPoleLength
	cartPoleForceMag  = 10.0
	cartPoleTau       = 0.02 // seconds between state updates

	// An episode terminates when the cart leaves [-2.4, 2.4] or the pole
	// leans more than 12 degrees.
	cartPoleXThreshold     = 2.4
	cartPoleThetaThreshold = 12 * 2 * math.Pi / 360

	cartPoleMaxSteps = 500
	cartPoleStateTag = "CartPole-v1/1"
)

func init() {
	Register("CartPole-v1", func() Env { return NewCartPole() })
}

// CartPole is Gymnasium's CartPole-v1: a pole hinged on a cart that is
// pushed left (action 0) or right (action 1) with a force of 10 N. The
// observation is [x, x_dot, theta, theta_dot]; the reward is 1 for every
// step, the terminal one included; the episode terminates when |x| > 2.4
// or |theta| > 12°, and is truncated after 500 steps.
//
// Success is reported on the step that reaches the 500-step time limit
// without terminating, that is when the pole was balanced for a whole
// episode. CartPole counts its own steps for this rather than relying on
// the Vec's time limit, so that Success means the same outside a Vec.
type CartPole struct {
	rng *rand.PCG
	// x, xDot, theta, thetaDot, in float64 as Gymnasium keeps them.
	state [4]float64
	steps int
	// terminated remembers that the episode already ended, so that
	// further steps give no reward, as in Gymnasium.
	terminated bool
}

// NewCartPole returns a CartPole seeded with 0.
func NewCartPole() *CartPole {
	return &CartPole{rng: newPCG(0)}
}

// Spec returns the spec of CartPole-v1.
func (c *CartPole) Spec() Spec {
	return Spec{ID: "CartPole-v1", MaxEpisodeSteps: cartPoleMaxSteps, HasSuccess: true}
}

// ObservationSpace returns Gymnasium's bounds: twice the termination
// thresholds for x and theta, unbounded velocities.
func (c *CartPole) ObservationSpace() Space {
	inf := float32(math.Inf(1))
	x, th := float32(2*cartPoleXThreshold), float32(2*cartPoleThetaThreshold)
	return Box([]float32{-x, -inf, -th, -inf}, []float32{x, inf, th, inf})
}

// ActionSpace returns Discrete(2).
func (c *CartPole) ActionSpace() Space { return Discrete(2) }

// Seed reseeds the generator used by Reset.
func (c *CartPole) Seed(seed uint64) { SeedPCG(c.rng, seed) }

// Reset draws every state variable uniformly from [-0.05, 0.05).
func (c *CartPole) Reset(obs []float32) {
	for i := range c.state {
		c.state[i] = uniform(c.rng, -0.05, 0.05)
	}
	c.steps = 0
	c.terminated = false
	c.observe(obs)
}

// Step integrates the equations of motion over one time step with the
// explicit Euler method. It panics if action[0] is not 0 or 1.
func (c *CartPole) Step(action []float32, obs []float32) Transition {
	a := action[0]
	if a != 0 && a != 1 {
		panic(fmt.Sprintf("env: CartPole action %v not in {0, 1}", a))
	}
	// Computed rather than chosen by a branch: under a stochastic policy
	// the action is unpredictable, and mispredicting it costs as much as
	// the rest of the step.
	force := cartPoleForceMag * float64(2*a-1)
	x, xDot, theta, thetaDot := c.state[0], c.state[1], c.state[2], c.state[3]
	sin, cos := math.Sincos(theta)
	temp := (force + cartPolePoleMassL*thetaDot*thetaDot*sin) / cartPoleTotalMass
	thetaAcc := (cartPoleGravity*sin - cos*temp) /
		(cartPoleLength * (4.0/3.0 - cartPoleMassPole*cos*cos/cartPoleTotalMass))
	xAcc := temp - cartPolePoleMassL*thetaAcc*cos/cartPoleTotalMass

	x += cartPoleTau * xDot
	xDot += cartPoleTau * xAcc
	theta += cartPoleTau * thetaDot
	thetaDot += cartPoleTau * thetaAcc
	c.state = [4]float64{x, xDot, theta, thetaDot}
	c.steps++
	c.observe(obs)

	terminated := x < -cartPoleXThreshold || x > cartPoleXThreshold ||
		theta < -cartPoleThetaThreshold || theta > cartPoleThetaThreshold
	reward := 1.0
	if c.terminated {
		reward = 0 // stepping past the end: Gymnasium warns and gives 0
	}
	c.terminated = c.terminated || terminated
	return Transition{
		Reward:     reward,
		Terminated: terminated,
		Success:    !c.terminated && c.steps == cartPoleMaxSteps,
	}
}

func (c *CartPole) observe(obs []float32) {
	for i, v := range c.state {
		obs[i] = float32(v)
	}
}

// ExpertAction pushes the cart towards the side the pole is falling to,
// looking a little ahead through the angular velocity. The small cart
// terms keep the cart from drifting out of bounds over 500 steps.
func (c *CartPole) ExpertAction(action []float32) {
	x, xDot, theta, thetaDot := c.state[0], c.state[1], c.state[2], c.state[3]
	action[0] = 0
	if theta+0.5*thetaDot+0.01*x+0.05*xDot > 0 {
		action[0] = 1
	}
}

// WrongExpertAction pushes the other way: it topples the pole.
func (c *CartPole) WrongExpertAction(action []float32) {
	c.ExpertAction(action)
	action[0] = 1 - action[0]
}

// MarshalBinary encodes the generator, the physical state and the step
// count.
func (c *CartPole) MarshalBinary() ([]byte, error) {
	var e Encoder
	e.String(cartPoleStateTag)
	e.Pcg(c.rng)
	for _, v := range c.state {
		e.Float64(v)
	}
	e.Int(c.steps)
	e.Bool(c.terminated)
	return e.buf, nil
}

// UnmarshalBinary restores a state written by MarshalBinary. On error
// the CartPole is left unchanged.
func (c *CartPole) UnmarshalBinary(data []byte) error {
	d := NewDecoder(data)
	d.Tag(cartPoleStateTag)
	rng := new(rand.PCG)
	d.Pcg(rng)
	var state [4]float64
	for i := range state {
		state[i] = d.Float64()
	}
	steps := d.Int()
	terminated := d.Bool()
	if err := d.Done(); err != nil {
		return err
	}
	*c.rng = *rng
	c.state, c.steps, c.terminated = state, steps, terminated
	return nil
}
