// lago_fused.cpp — fused optimiser steps (lago_fused.h).
//
// Why: a PPO minibatch of a small MLP is dispatch-bound. torch::optim::Adam
// runs ~7 ops per parameter tensor and clip_grad_norm_ ~3 more, each a trip
// through libtorch's dispatcher (and, for the clip, a cgo call per op from
// Go). Over one flat buffer the same maths is ~8 kernels in all.
//
// Equivalence with torch::optim::Adam (libtorch 1.13) + clip_grad_norm_:
// the element-wise maths is the same formula in the same order; only the
// gradient norm is summed in another order (one flat norm instead of the
// norm of the per-tensor norms), a difference of float rounding.

#include "lago_fused.h"

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "lago_internal.hpp"

struct lt_flat_adam_s {
  lt_adam adam;
  std::vector<torch::Tensor> params;
  std::vector<int64_t> offset, numel;
  torch::Tensor P, G, M, V;  // flat parameters, gradients, first and second moments
  int64_t relinks = 0;
};

namespace {

std::string state_key(const torch::Tensor& p) {
  // torch::optim keys a parameter's state by its TensorImpl's address.
  return c10::guts::to_string(p.unsafeGetTensorImpl());
}

bool is_view_of(const torch::Tensor& t, const torch::Tensor& flat, int64_t off, int64_t n) {
  return t.defined() && t.is_contiguous() && t.numel() == n &&
         t.data_ptr() == static_cast<char*>(flat.data_ptr()) + off * flat.element_size();
}

torch::Tensor slice(const torch::Tensor& flat, int64_t off, const torch::Tensor& like) {
  return flat.narrow(0, off, like.numel()).view(like.sizes());
}

// link makes parameter i, its gradient and its Adam moments views into the
// flat buffers, copying in whatever values they hold. It returns whether
// anything had to be copied.
bool link(lt_flat_adam_s& f, size_t i, int64_t step_if_new) {
  torch::NoGradGuard no_grad;
  auto& p = f.params[i];
  int64_t off = f.offset[i], n = f.numel[i];
  bool copied = false;
  if (!is_view_of(p, f.P, off, n)) {
    auto sizes = p.sizes().vec();
    f.P.narrow(0, off, n).copy_(p.reshape({-1}));
    p.set_(f.P.storage(), f.P.storage_offset() + off, sizes, {});
    copied = true;
  }
  auto& g = p.mutable_grad();
  if (!is_view_of(g, f.G, off, n)) {
    auto gs = f.G.narrow(0, off, n);
    if (g.defined())
      gs.copy_(g.reshape({-1}));
    else
      gs.zero_();
    g = slice(f.G, off, p);
    copied = true;
  }
  auto& states = f.adam->opt.state();
  auto key = state_key(p);
  auto it = states.find(key);
  if (it == states.end()) {
    auto st = std::make_unique<torch::optim::AdamParamState>();
    st->step(step_if_new);
    f.M.narrow(0, off, n).zero_();
    f.V.narrow(0, off, n).zero_();
    st->exp_avg(slice(f.M, off, p));
    st->exp_avg_sq(slice(f.V, off, p));
    states[key] = std::move(st);
    return true;
  }
  auto& st = static_cast<torch::optim::AdamParamState&>(*it->second);
  if (!is_view_of(st.exp_avg(), f.M, off, n)) {
    f.M.narrow(0, off, n).copy_(st.exp_avg().reshape({-1}));
    st.exp_avg(slice(f.M, off, p));
    copied = true;
  }
  if (!is_view_of(st.exp_avg_sq(), f.V, off, n)) {
    f.V.narrow(0, off, n).copy_(st.exp_avg_sq().reshape({-1}));
    st.exp_avg_sq(slice(f.V, off, p));
    copied = true;
  }
  return copied;
}

torch::optim::AdamParamState& state_of(lt_flat_adam_s& f, size_t i) {
  return static_cast<torch::optim::AdamParamState&>(
      *f.adam->opt.state().at(state_key(f.params[i])));
}

// common_step is the step count every parameter's state shares (they step
// together); 0 when none has state yet.
int64_t common_step(lt_flat_adam_s& f) {
  auto& states = f.adam->opt.state();
  int64_t step = -1;
  for (auto& p : f.params) {
    auto it = states.find(state_key(p));
    int64_t s = it == states.end()
                    ? 0
                    : static_cast<torch::optim::AdamParamState&>(*it->second).step();
    if (step >= 0 && s != step)
      throw std::invalid_argument("parameters have taken different numbers of Adam steps (" +
                                  std::to_string(step) + " and " + std::to_string(s) +
                                  "); a flat Adam steps them all together");
    step = s;
  }
  return step < 0 ? 0 : step;
}

void check_options(const torch::optim::AdamOptions& o) {
  if (o.amsgrad()) throw std::invalid_argument("flat Adam does not implement amsgrad");
}

// relink puts back into the flat buffers whatever was replaced behind
// their back (a loaded optimiser state, gradients set to none).
void relink(lt_flat_adam_s& f) {
  check_options(static_cast<torch::optim::AdamOptions&>(f.adam->opt.param_groups()[0].options()));
  int64_t step = common_step(f);
  for (size_t i = 0; i < f.params.size(); i++)
    if (link(f, i, step)) f.relinks++;
}

// clip_step clips, steps and zeroes the (linked) gradients; it returns the
// norm before clipping and changes nothing when that is not finite.
double clip_step(lt_flat_adam_s& f, double max_norm) {
  auto& o = static_cast<torch::optim::AdamOptions&>(f.adam->opt.param_groups()[0].options());
  torch::NoGradGuard no_grad;
  // clip_grad_norm_: coef = max_norm / (norm + 1e-6), clamped to 1, in
  // float32 as libtorch computes it (x / t is t.reciprocal() * x).
  double norm = f.G.norm().item<double>();
  if (!std::isfinite(norm)) return norm;
  float coef = (1.0f / (static_cast<float>(norm) + 1e-6f)) * static_cast<float>(max_norm);
  if (coef < 1.0f) f.G.mul_(coef);

  // torch::optim::Adam::step (libtorch 1.13) over every parameter at once.
  int64_t step = common_step(f) + 1;
  for (size_t i = 0; i < f.params.size(); i++) state_of(f, i).step(step);
  double beta1 = std::get<0>(o.betas()), beta2 = std::get<1>(o.betas());
  double bc1 = 1 - std::pow(beta1, static_cast<double>(step));
  double bc2 = 1 - std::pow(beta2, static_cast<double>(step));
  torch::Tensor grad = f.G;
  if (o.weight_decay() != 0) grad = grad.add(f.P, o.weight_decay());
  f.M.mul_(beta1).add_(grad, 1 - beta1);
  f.V.mul_(beta2).addcmul_(grad, grad, 1 - beta2);
  auto denom = (f.V.sqrt() / std::sqrt(bc2)).add_(o.eps());
  f.P.addcdiv_(f.M, denom, -o.lr() / bc1);
  f.G.zero_();
  return norm;
}

const torch::Tensor& get(lt_tensor t, const char* name) {
  if (t == nullptr) throw std::invalid_argument(std::string(name) + " is a NULL tensor");
  return t->t;
}

torch::Tensor mlp(const std::vector<torch::Tensor>& ps, size_t first, int layers, bool relu,
                  torch::Tensor x) {
  for (int l = 0; l < layers; l++) {
    x = torch::linear(x, ps[first + 2 * l], ps[first + 2 * l + 1]);
    if (l + 1 < layers) x = relu ? x.relu() : x.tanh();
  }
  return x;
}

// ½ log 2π, the Gaussian density's normalising constant (engine/ppo's halfLog2).
const double half_log_2pi = 0.5 * std::log(2 * M_PI);

}  // namespace

extern "C" {

lt_error lt_flat_adam_new(lt_adam adam, lt_flat_adam* out) {
  LT_TRY
  if (adam == nullptr) throw std::invalid_argument("NULL optimiser");
  if (adam->opt.param_groups().size() != 1)
    throw std::invalid_argument("flat Adam needs exactly one parameter group");
  auto f = std::make_unique<lt_flat_adam_s>();
  f->adam = adam;
  f->params = adam->params;
  if (f->params.empty()) throw std::invalid_argument("no parameters");
  auto dev = f->params[0].device();
  int64_t total = 0;
  for (size_t i = 0; i < f->params.size(); i++) {
    const auto& p = f->params[i];
    if (p.scalar_type() != torch::kFloat32)
      throw std::invalid_argument("parameter " + std::to_string(i) + " is not float32");
    if (p.device() != dev)
      throw std::invalid_argument("parameter " + std::to_string(i) + " is on another device");
    for (size_t j = 0; j < i; j++)
      if (f->params[j].unsafeGetTensorImpl() == p.unsafeGetTensorImpl())
        throw std::invalid_argument("parameter " + std::to_string(i) + " is listed twice");
    f->offset.push_back(total);
    f->numel.push_back(p.numel());
    total += p.numel();
  }
  auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(dev);
  f->P = torch::empty({total}, opts);
  f->G = torch::zeros({total}, opts);
  f->M = torch::zeros({total}, opts);
  f->V = torch::zeros({total}, opts);
  int64_t step = common_step(*f);
  for (size_t i = 0; i < f->params.size(); i++) link(*f, i, step);
  *out = f.release();
  LT_CATCH("flat_adam_new")
}

void lt_flat_adam_free(lt_flat_adam f) { delete f; }

lt_error lt_flat_adam_clip_step(lt_flat_adam f, double max_norm, double* norm) {
  LT_TRY
  if (f == nullptr) throw std::invalid_argument("NULL flat optimiser");
  relink(*f);
  *norm = clip_step(*f, max_norm);
  LT_CATCH("flat_adam_clip_step")
}

lt_error lt_flat_adam_zero_grad(lt_flat_adam f) {
  LT_TRY
  if (f == nullptr) throw std::invalid_argument("NULL flat optimiser");
  torch::NoGradGuard no_grad;
  f->G.zero_();
  LT_CATCH("flat_adam_zero_grad")
}

lt_error lt_ppo_minibatch_step(lt_flat_adam f, const lt_ppo_spec* spec, lt_tensor obs,
                               lt_tensor actions, lt_tensor old_logp, lt_tensor adv,
                               lt_tensor returns, lt_tensor old_values, const int64_t* idx,
                               int64_t n_idx, const lt_ppo_prior* prior, double* out,
                               int* status) {
  LT_TRY
  if (f == nullptr) throw std::invalid_argument("NULL flat optimiser");
  if (spec == nullptr) throw std::invalid_argument("NULL spec");
  const auto& c = *spec;
  const auto& ps = f->params;
  size_t want = 2 * static_cast<size_t>(c.actor_layers + c.critic_layers) + (c.discrete ? 0 : 1);
  if (c.actor_layers < 1 || c.critic_layers < 1 || ps.size() != want)
    throw std::invalid_argument("the optimiser holds " + std::to_string(ps.size()) +
                                " parameters; an actor of " + std::to_string(c.actor_layers) +
                                " and a critic of " + std::to_string(c.critic_layers) +
                                " layers need " + std::to_string(want));
  if (n_idx < 1) throw std::invalid_argument("empty minibatch");
  relink(*f);  // before backward, so that the gradients accumulate in place
  const auto& O = get(obs, "obs");
  auto I = torch::from_blob(const_cast<int64_t*>(idx), {n_idx}, torch::kInt64).to(O.device());
  auto mbObs = O.index_select(0, I);
  auto act = get(actions, "actions").index_select(0, I);
  auto oldLogp = get(old_logp, "old_logp").index_select(0, I);
  auto A = get(adv, "adv").index_select(0, I);
  auto R = get(returns, "returns").index_select(0, I);
  auto oldV = get(old_values, "old_values").index_select(0, I);

  // The policy (engine/ppo's Agent.Distribution, Dist.LogProb, Dist.Entropy).
  auto head = mlp(ps, 0, c.actor_layers, c.relu != 0, mbObs);
  torch::Tensor logPi, newLogp, ent;
  if (c.discrete) {
    logPi = head.log_softmax(-1);
    newLogp = logPi.gather(1, act.unsqueeze(1)).squeeze(1);
    ent = -(logPi.exp() * logPi).sum(1);
  } else {
    const auto& logStd = ps.back();
    auto z = (act - head) / logStd.exp();
    newLogp = ((z.square() * -0.5) - (logStd + half_log_2pi)).sum(1);
    ent = (logStd + (0.5 + half_log_2pi)).sum(1);
  }
  auto newV = mlp(ps, 2 * c.actor_layers, c.critic_layers, c.relu != 0, mbObs).view(-1);

  // engine/ppo's Loss, op for op.
  auto logRatio = newLogp - oldLogp;
  auto ratio = logRatio.exp();
  auto lr = logRatio.detach(), r = ratio.detach();
  auto oldApproxKL = (-lr).mean();
  auto approxKL = ((r - 1) - lr).mean();
  auto clipFrac = ((r - 1).abs() > c.clip_coef).to(torch::kFloat32).mean();
  if (c.norm_adv) A = (A - A.mean()) / (A.std() + 1e-8);
  auto negAdv = -A;
  auto pg = torch::maximum(negAdv * ratio, negAdv * ratio.clamp(1 - c.clip_coef, 1 + c.clip_coef)).mean();
  torch::Tensor v;
  if (c.clip_vloss) {
    auto unclipped = (newV - R).square();
    auto vClipped = oldV + (newV - oldV).clamp(-c.clip_coef, c.clip_coef);
    v = torch::maximum(unclipped, (vClipped - R).square()).mean() * 0.5;
  } else {
    v = (newV - R).square().mean() * 0.5;
  }
  auto H = ent.mean();
  auto total = (pg - H * c.ent_coef) + v * c.vf_coef;
  double d = 0;
  if (prior != nullptr && prior->log_prior != nullptr) {
    if (!c.discrete) throw std::invalid_argument("a discrete KL needs a discrete-action policy");
    if (prior->covered < 1) throw std::invalid_argument("a prior term covering no row");
    int64_t n = logPi.size(1);
    auto logP = torch::from_blob(const_cast<float*>(prior->log_prior), {n_idx, n}, torch::kFloat32)
                    .to(O.device());
    auto m = torch::from_blob(const_cast<float*>(prior->mask), {n_idx}, torch::kFloat32).to(O.device());
    auto kl = prior->forward ? (logP.exp() * (logP - logPi)).sum(1) : (logPi.exp() * (logPi - logP)).sum(1);
    auto D = (kl * m).sum() / static_cast<double>(prior->covered);
    d = D.item<double>();
    if (prior->beta != 0) total = total + D * prior->beta;
    if (prior->argmax != nullptr) {
      auto am = logPi.detach().argmax(1).to(torch::kCPU).contiguous();
      std::memcpy(prior->argmax, am.data_ptr<int64_t>(), n_idx * sizeof(int64_t));
    }
  }
  out[LT_PPO_PG] = pg.item<double>();
  out[LT_PPO_V] = v.item<double>();
  out[LT_PPO_ENT] = H.item<double>();
  out[LT_PPO_APPROX_KL] = approxKL.item<double>();
  out[LT_PPO_OLD_APPROX_KL] = oldApproxKL.item<double>();
  out[LT_PPO_CLIPFRAC] = clipFrac.item<double>();
  out[LT_PPO_TOTAL] = total.item<double>();
  out[LT_PPO_REG] = d;
  out[LT_PPO_GRAD_NORM] = 0;
  if (!std::isfinite(out[LT_PPO_TOTAL])) {
    *status = LT_PPO_NONFINITE_LOSS;
    return nullptr;
  }
  total.backward();
  out[LT_PPO_GRAD_NORM] = clip_step(*f, c.max_grad_norm);
  *status = std::isfinite(out[LT_PPO_GRAD_NORM]) ? LT_PPO_STEPPED : LT_PPO_NONFINITE_NORM;
  LT_CATCH("ppo_minibatch_step")
}

int64_t lt_flat_adam_relinks(lt_flat_adam f) { return f == nullptr ? 0 : f->relinks; }

}  // extern "C"
