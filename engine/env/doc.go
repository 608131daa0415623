// Package env defines the environments the training engine learns on and
// the batched vector environment that steps them.
//
// An [Env] is a single, single-threaded environment instance with its own
// seeded random number generator. Its full state, generator included, can
// be marshalled so that a run restored from a checkpoint continues
// bit-exactly. Environments are registered by id, much like database/sql
// drivers, and created with [Make]. An id may carry options for envs
// registered with [RegisterOptions] ("CLEVR-Robot-v0:task_level=easy"), and
// envs whose episodes have task levels report them through [Leveled].
//
// A [Vec] steps many instances of one environment in parallel over a fixed
// set of worker goroutines, applies the time limit from the [Spec] and
// resets finished episodes in the same step, keeping the final observation
// for bootstrapping, as Gymnasium 0.29 vector environments and CleanRL do.
// A [Normalizer] optionally normalises the observations and scales the
// rewards of a Vec, like Gymnasium's NormalizeObservation and
// NormalizeReward wrappers applied at batch level (as in SB3 VecNormalize).
//
// The package provides CartPole-v1 and Pendulum-v1 with Gymnasium's
// dynamics, limits and defaults.
package env
