package policy

import (
	"crypto/sha256"
	"fmt"

	"github.com/lago-rl/lago/engine/env"
)

// Walk seeds e with seed, resets it and acts the built-in policy b (random
// draws from seed) for up to steps steps, stopping where an episode
// terminates, so that e is left in the state reached, to be looked at
// (its text view, a render). Like stepping an env by hand it applies no
// time limit and resets nothing: the terminal state is what is shown.
func Walk(e env.Env, b Builtin, seed uint64, steps int) error {
	if steps < 0 {
		return fmt.Errorf("policy: walk of %d steps: want 0 or more", steps)
	}
	v, p, err := single(e, b, seed)
	if err != nil {
		return err
	}
	defer v.Close()
	act := make([]float32, v.ActDim)
	for range steps {
		if err := p(v, act); err != nil {
			return err
		}
		// Stepped directly, not through v: v would reset the env where
		// the episode ends, and the state reached is what the caller wants.
		if e.Step(act, v.Obs).Terminated {
			break
		}
	}
	return nil
}

// KeyCount is what CountKeys saw.
type KeyCount struct {
	Steps     int // steps acted
	Episodes  int // episodes that ended, by termination or the time limit
	Successes int // of those, the ones that succeeded
	Keys      int // distinct state keys of the states acted on
}

// CountKeys seeds e with seed, resets it and acts the built-in policy b
// for steps steps, resetting episodes that end (by termination or the
// env's time limit), and counts the distinct text views of the states it
// acted on. The LLM prior caches a state by its text view, so Keys is the
// number of model queries an uncached run of that many steps would make.
// e must implement env.Describer.
func CountKeys(e env.Env, b Builtin, seed uint64, steps int) (KeyCount, error) {
	if steps < 1 {
		return KeyCount{}, fmt.Errorf("policy: counting keys over %d steps: want 1 or more", steps)
	}
	d, ok := e.(env.Describer)
	if !ok {
		return KeyCount{}, fmt.Errorf("policy: %s has no text view (it does not implement env.Describer)", e.Spec().ID)
	}
	v, p, err := single(e, b, seed)
	if err != nil {
		return KeyCount{}, err
	}
	defer v.Close()
	act := make([]float32, v.ActDim)
	// Hashes rather than the texts keep the memory small over long counts.
	seen := make(map[[sha256.Size]byte]struct{})
	c := KeyCount{Steps: steps}
	for range steps {
		seen[sha256.Sum256([]byte(d.TextView()))] = struct{}{}
		if err := p(v, act); err != nil {
			return c, err
		}
		v.Step(act)
		if v.Terminated[0] || v.Truncated[0] {
			c.Episodes++
			if v.EpisodeSuccess[0] {
				c.Successes++
			}
		}
	}
	c.Keys = len(seen)
	return c, nil
}

// single wraps e in a Vec of one env, seeded with seed and reset, and
// builds b for it: the built-in policies act on Vecs.
func single(e env.Env, b Builtin, seed uint64) (*env.Vec, Policy, error) {
	v, err := env.NewVecFrom([]env.Env{e}, 1, seed)
	if err != nil {
		return nil, nil, err
	}
	p, err := b.For(v, seed)
	if err != nil {
		v.Close()
		return nil, nil, err
	}
	v.Reset()
	return v, p, nil
}
