// Package envs registers every environment lago ships with engine/env, in
// one place: a package that resolves env ids (env.Make, env.NewVec) imports
// it, instead of relying on some other import happening to register an env.
// The CartPole and Pendulum ids are engine/env's own; each import below
// registers the ids of one env package.
package envs

import (
	_ "github.com/lago-rl/lago/engine/clevr"     // CLEVR-Robot-v0 and its sparse/heldout variants
	_ "github.com/lago-rl/lago/engine/metaworld" // MetaWorld-<task>-v3 for MT10's 10 tasks
)
