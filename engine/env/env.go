package env

import (
	"encoding"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Spec describes an environment.
type Spec struct {
	// ID is the name the environment is registered under.
	ID string
	// MaxEpisodeSteps is the time limit that [Vec] applies as truncation,
	// like Gymnasium's TimeLimit wrapper; 0 means none.
	MaxEpisodeSteps int
	// HasSuccess reports whether Transition.Success means anything.
	HasSuccess bool
}

// Transition is the outcome of one step, apart from the observation.
type Transition struct {
	Reward float64
	// Terminated marks a terminal state of the MDP: the value of the
	// next state must not be bootstrapped.
	Terminated bool
	// Success reports task success at this step; see Spec.HasSuccess.
	Success bool
}

// Env is one environment instance. It is not safe for concurrent use.
// Step must not allocate, because a [Vec] calls it for every environment
// at every step of training.
type Env interface {
	Spec() Spec
	// ObservationSpace returns the space of observations, a Box.
	ObservationSpace() Space
	ActionSpace() Space
	// Seed reseeds the environment's private random number generator.
	Seed(seed uint64)
	// Reset starts an episode and writes its first observation into obs.
	Reset(obs []float32)
	// Step applies action and writes the next observation into obs.
	// For a Discrete action space, action[0] holds the action index.
	Step(action []float32, obs []float32) Transition
	// MarshalBinary encodes the full state: the generator, the physical
	// state and anything else needed so that restoring it with
	// UnmarshalBinary and stepping reproduces the original trajectory
	// bit-exactly.
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}

// Expert is implemented by environments that have a scripted expert,
// for demonstrations and as a reference for learned policies. The expert
// may read privileged state that is not in the observation.
type Expert interface {
	// ExpertAction writes the expert's action for the current state.
	ExpertAction(action []float32)
}

var (
	registryMu sync.RWMutex
	registry   = map[string]func() Env{}
)

// Register makes an environment available under id to [Make].
// It is meant to be called from init functions, as database/sql drivers
// register themselves, and panics if id is empty or already registered
// or make is nil, since either is a programming error.
func Register(id string, make func() Env) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if id == "" || make == nil {
		panic("env: Register with empty id or nil constructor")
	}
	if _, dup := registry[id]; dup {
		panic(fmt.Sprintf("env: Register called twice for %q", id))
	}
	registry[id] = make
}

// Make returns a new, unseeded instance of the environment registered
// under id.
func Make(id string) (Env, error) {
	registryMu.RLock()
	newEnv, ok := registry[id]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown env_id %q; known: %s", id, strings.Join(IDs(), ", "))
	}
	return newEnv(), nil
}

// IDs returns the registered environment ids, sorted.
func IDs() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	ids := make([]string, 0, len(registry))
	for id := range registry {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
