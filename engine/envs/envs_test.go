package envs_test

import (
	"slices"
	"testing"

	"github.com/lago-rl/lago/engine/env"
	_ "github.com/lago-rl/lago/engine/envs"
)

// Every shipped id resolves through this package alone, without the CLI.
func TestEveryEnvRegistered(t *testing.T) {
	for _, id := range []string{"CartPole-v1", "Pendulum-v1", "CLEVR-Robot-v0", "CLEVR-Robot-sparse-v0", "CLEVR-Robot-heldout-v0", "CLEVR-Robot-sparse-heldout-v0",
		"MetaWorld-reach-v3", "MetaWorld-push-v3", "MetaWorld-pick-place-v3", "MetaWorld-drawer-open-v3",
		"MetaWorld-drawer-close-v3", "MetaWorld-button-press-topdown-v3", "MetaWorld-window-open-v3", "MetaWorld-window-close-v3", "MetaWorld-door-open-v3",
		"MetaWorld-peg-insert-side-v3"} {
		if !slices.Contains(env.IDs(), id) {
			t.Errorf("%s is not registered; known: %v", id, env.IDs())
			continue
		}
		e, err := env.Make(id)
		if err != nil {
			t.Errorf("env.Make(%q): %v", id, err)
			continue
		}
		if c, ok := e.(interface{ Close() }); ok {
			c.Close()
		}
	}
}
