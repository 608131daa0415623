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

// Leveled is implemented by envs whose episodes come in task levels
// (CLEVR-Robot's task_level = mixed draws one per episode). [Vec] records
// the level of every finished episode in EpisodeLevel, so that success can
// be reported per level.
type Leveled interface {
	// EpisodeLevel names the level of the running episode, e.g. "easy".
	EpisodeLevel() string
}

var (
	registryMu sync.RWMutex
	registry   = map[string]func() Env{}
	// withOptions holds the constructors that accept options, by base id.
	withOptions = map[string]func(opts map[string]string) (Env, error){}
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

// RegisterOptions lets [Make] build the environment registered under id
// with options, written after the id as "id:key=value,key=value" (e.g.
// "CLEVR-Robot-v0:task_level=easy"). make receives the options and reports
// an unknown key or value as an error listing the allowed ones. id must
// also be registered with [Register], which Make uses when no options are
// given. Like Register, it panics on an empty id, a nil constructor or a
// second registration.
func RegisterOptions(id string, make func(opts map[string]string) (Env, error)) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if id == "" || make == nil || strings.Contains(id, ":") {
		panic("env: RegisterOptions with empty id, an id holding ':' or nil constructor")
	}
	if _, dup := withOptions[id]; dup {
		panic(fmt.Sprintf("env: RegisterOptions called twice for %q", id))
	}
	withOptions[id] = make
}

// Make returns a new, unseeded instance of the environment registered
// under id. An id may carry options, "id:key=value,key=value", for an
// environment registered with [RegisterOptions].
func Make(id string) (Env, error) {
	base, optText, hasOpts := strings.Cut(id, ":")
	registryMu.RLock()
	newEnv, ok := registry[base]
	newWith, takesOpts := withOptions[base]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown env_id %q; known: %s", base, strings.Join(IDs(), ", "))
	}
	if !hasOpts {
		return newEnv(), nil
	}
	if !takesOpts {
		return nil, fmt.Errorf("env: %s takes no options, got %q", base, optText)
	}
	opts, err := parseOptions(optText)
	if err != nil {
		return nil, fmt.Errorf("env: %s: %w", id, err)
	}
	return newWith(opts)
}

// parseOptions reads "key=value,key=value"; keys must be distinct.
func parseOptions(text string) (map[string]string, error) {
	opts := map[string]string{}
	for _, kv := range strings.Split(text, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("option %q is not key=value", kv)
		}
		if _, dup := opts[k]; dup {
			return nil, fmt.Errorf("option %s given twice", k)
		}
		opts[k] = v
	}
	return opts, nil
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
