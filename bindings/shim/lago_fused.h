/*
 * lago_fused.h — fused optimiser steps over the C ABI (see lago_torch.h for
 * the error and handle conventions).
 *
 * A flat Adam lays the parameters of an lt_adam, their gradients and Adam's
 * two moments out in four contiguous buffers: each parameter, its gradient
 * and its moments become views into them. Gradient-norm clipping and the
 * Adam step are then a handful of kernels over every parameter at once (one
 * shim call), instead of ~10 small ops per parameter. The lt_adam keeps
 * owning the state (its moments are the views), so saving and loading it,
 * and setting its learning rate, work as before.
 */
#ifndef LAGO_FUSED_H
#define LAGO_FUSED_H

#include "lago_torch.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lt_flat_adam_s* lt_flat_adam;

/* Flattens adam's parameters (float32, one device, none twice), their
 * gradients and its moments. Existing values (parameters, gradients, Adam
 * state from a loaded checkpoint) are kept. adam must outlive the result. */
lt_error lt_flat_adam_new(lt_adam adam, lt_flat_adam* out);
void lt_flat_adam_free(lt_flat_adam f);

/* Clips the gradients to a global L2 norm of at most max_norm (as
 * torch::nn::utils::clip_grad_norm_), takes one Adam step with adam's
 * current options, and zeroes the gradients. *norm is the norm before
 * clipping; when it is not finite nothing is changed. Parameters, gradients
 * or moments replaced behind its back (a loaded optimiser state, a
 * gradient set to none) are copied back into the flat buffers first. */
lt_error lt_flat_adam_clip_step(lt_flat_adam f, double max_norm, double* norm);

/* Zeroes the gradients (they stay views into the flat buffer). */
lt_error lt_flat_adam_zero_grad(lt_flat_adam f);

/* How many times a tensor was found outside the flat buffers and copied
 * back (for tests: 0 in steady state). */
int64_t lt_flat_adam_relinks(lt_flat_adam f);

/* One PPO minibatch step of an MLP actor-critic in one call: forward of
 * actor and critic on the minibatch's rows, CleanRL's loss (clipped
 * surrogate, optionally clipped value loss, entropy bonus) plus, when
 * prior is given, beta times the mean discrete KL to a per-row log-prior
 * over the covered rows, backward, then lt_flat_adam_clip_step.
 *
 * The parameters are f's, in lago's order: the actor's layers (weight,
 * bias each), the critic's, then, for Gaussian policies, the log-std
 * [1, d]. obs [N, obs_dim], actions (int64 [N] or float32 [N, d]),
 * old_logp, adv, returns and old_values [N] hold the whole rollout; idx
 * [n_idx] picks the minibatch's rows.
 *
 * out[LT_PPO_NOUT] receives the minibatch's figures. *status is
 * LT_PPO_STEPPED, or LT_PPO_NONFINITE_LOSS / LT_PPO_NONFINITE_NORM when the
 * loss / the gradient norm was not finite (nothing was stepped).
 *
 * Two implementations: a hand-written forward and backward (workspace
 * tensors, GEMMs straight into the flat gradient buffer, the loss's
 * gradient as loops over the rows), taken when every tensor is on the CPU,
 * contiguous and float32 (actions int64 for a discrete policy); and
 * libtorch's autograd over the same ops, taken otherwise or when
 * spec->autograd is set (the reference the first is tested against). */
typedef struct {
  int actor_layers, critic_layers; /* Linear layers of each MLP */
  int relu;                        /* hidden activation: 0 tanh, 1 relu */
  int discrete;                    /* 1: categorical over the actor's logits; 0: diagonal Gaussian */
  int clip_vloss, norm_adv;
  double clip_coef, ent_coef, vf_coef, max_grad_norm;
  int autograd;                    /* 1: always the autograd path */
} lt_ppo_spec;

typedef struct {
  const float* log_prior; /* [n_idx, num_actions]: the prior's log-probabilities per row */
  const float* mask;      /* [n_idx]: 1 where the row has a prior */
  int64_t covered;        /* rows with a prior (> 0) */
  double beta;            /* weight of D in the loss; 0 computes D without adding it */
  int forward;            /* 0: KL(pi||p), 1: KL(p||pi) */
  int64_t* argmax;        /* [n_idx] out, may be NULL: the policy's most likely action per row */
} lt_ppo_prior;

enum { LT_PPO_STEPPED = 0, LT_PPO_NONFINITE_LOSS = 1, LT_PPO_NONFINITE_NORM = 2 };
enum {
  LT_PPO_PG, LT_PPO_V, LT_PPO_ENT, LT_PPO_APPROX_KL, LT_PPO_OLD_APPROX_KL, LT_PPO_CLIPFRAC,
  LT_PPO_TOTAL, LT_PPO_REG, LT_PPO_GRAD_NORM, LT_PPO_NOUT
};

lt_error lt_ppo_minibatch_step(lt_flat_adam f, const lt_ppo_spec* spec, lt_tensor obs,
                               lt_tensor actions, lt_tensor old_logp, lt_tensor adv,
                               lt_tensor returns, lt_tensor old_values, const int64_t* idx,
                               int64_t n_idx, const lt_ppo_prior* prior, double* out,
                               int* status);

/* For tests: builds a random float64 actor-critic (layers of spec, hidden
 * units wide, out_dim logits or action dimensions) and minibatch of rows
 * rows, with prior 0 (none), 1 (KL(pi||p)) or 2 (KL(p||pi)) at beta 0.7,
 * and compares the hand-written backward's gradient of the loss with
 * central finite differences (step 1e-6). *max_err is the largest
 * absolute difference, *max_grad the largest gradient component. */
lt_error lt_ppo_gradcheck(const lt_ppo_spec* spec, int64_t obs_dim, int64_t hidden, int64_t out_dim,
                          int64_t rows, int prior, uint64_t seed, double* max_err, double* max_grad);

#ifdef __cplusplus
}
#endif
#endif
