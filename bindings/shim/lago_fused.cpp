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


#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "lago_internal.hpp"

namespace hand {
struct Work;
void free_work(Work* w);
}  // namespace hand

struct lt_flat_adam_s {
  lt_adam adam;
  std::vector<torch::Tensor> params;
  std::vector<int64_t> offset, numel;
  torch::Tensor P, G, M, V;  // flat parameters, gradients, first and second moments
  int64_t relinks = 0;
  // The hand-written step's workspace (hand::Work), kept between minibatches
  // so that a steady-state step allocates nothing.
  std::unique_ptr<hand::Work, void (*)(hand::Work*)> work{nullptr, hand::free_work};
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

// The hand-written minibatch step.
//
// Why: autograd records ~60 nodes per minibatch and replays them backward,
// each a trip through the dispatcher with its own output allocation; for a
// 64-row minibatch of a small MLP that bookkeeping costs more than the
// arithmetic. Here the forward keeps each layer's output in a workspace
// tensor, the loss and its gradient with respect to the heads' outputs are
// plain loops over the rows, and the backward is two GEMMs per layer
// (at::addmm_ straight into the flat gradient buffer, at::mm_out into the
// workspace) plus element-wise loops. The forward's GEMMs are the same
// at::addmm torch::linear runs, so the forward values equal the autograd
// path's; the gradients differ from autograd's by float rounding only
// (TestFusedMatchesUnfused; TestPPOGradCheck checks them against finite
// differences in float64).
namespace hand {

// Net is one MLP's parameters, their gradients (views into the flat
// gradient buffer) and its per-minibatch workspace.
struct Net {
  std::vector<torch::Tensor> W, b, gW, gb;  // W[l] [out, in], b[l] [out]
  std::vector<torch::Tensor> h;  // h[l] [B, out]: layer l's output (activated, but for the last layer's)
  std::vector<torch::Tensor> d;  // d[l] [B, out]: the loss's gradient w.r.t. layer l's pre-activation

  void bind(const std::vector<torch::Tensor>& ps, size_t first, int layers) {
    W.clear(), b.clear(), gW.clear(), gb.clear();
    for (int l = 0; l < layers; l++) {
      W.push_back(ps[first + 2 * l]), b.push_back(ps[first + 2 * l + 1]);
      gW.push_back(W.back().grad()), gb.push_back(b.back().grad());
      if (W.back().dim() != 2 || b.back().dim() != 1 || b.back().size(0) != W.back().size(0))
        throw std::invalid_argument("parameters " + std::to_string(first + 2 * l) + " and " +
                                    std::to_string(first + 2 * l + 1) +
                                    " are not a Linear layer's weight [out, in] and bias [out]");
      if (l > 0 && W[l].size(1) != W[l - 1].size(0))
        throw std::invalid_argument("layer " + std::to_string(l) + " takes " + std::to_string(W[l].size(1)) +
                                    " inputs after a layer of " + std::to_string(W[l - 1].size(0)) + " outputs");
    }
  }

  void resize(int64_t rows) {
    if (!h.empty() && h.size() == W.size() && h[0].size(0) == rows && h[0].scalar_type() == W[0].scalar_type())
      return;
    h.clear(), d.clear();
    for (auto& w : W) {
      h.push_back(torch::empty({rows, w.size(0)}, w.options()));
      d.push_back(torch::empty({rows, w.size(0)}, w.options()));
    }
  }

  // forward leaves the net's output in h.back().
  void forward(const torch::Tensor& x, bool relu) {
    for (size_t l = 0; l < W.size(); l++) {
      at::addmm_out(h[l], b[l], l == 0 ? x : h[l - 1], W[l].t());
      if (l + 1 < W.size()) relu ? h[l].relu_() : h[l].tanh_();
    }
  }

  // backward adds the parameters' gradients, given the gradient w.r.t. the
  // output in d.back().
  template <typename T>
  void backward(const torch::Tensor& x, bool relu) {
    for (size_t l = W.size(); l-- > 0;) {
      gW[l].addmm_(d[l].t(), l == 0 ? x : h[l - 1]);
      const int64_t rows = d[l].size(0), n = d[l].size(1);
      const T* dl = d[l].data_ptr<T>();
      T* gbl = gb[l].data_ptr<T>();
      for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < n; j++) gbl[j] += dl[i * n + j];
      if (l == 0) break;
      at::mm_out(d[l - 1], d[l], W[l]);
      // The activation's derivative from its output: tanh' = 1 − y², relu' = [y > 0].
      const int64_t m = d[l - 1].numel();
      T* dp = d[l - 1].data_ptr<T>();
      const T* y = h[l - 1].data_ptr<T>();
      if (relu)
        for (int64_t k = 0; k < m; k++) dp[k] = y[k] > 0 ? dp[k] : T(0);
      else
        for (int64_t k = 0; k < m; k++) dp[k] = dp[k] * (T(1) - y[k] * y[k]);
    }
  }
};

// Rows is a minibatch: its observations [B, obs_dim] (a tensor, the nets'
// input) and per-row arrays.
template <typename T>
struct Rows {
  torch::Tensor X;
  const int64_t* act_i = nullptr;  // discrete: [B]
  const T* act_f = nullptr;        // continuous: [B, d]
  const T *old_logp, *adv, *ret, *old_v;
  // The prior term, when given: log-prior [B, n] and mask [B].
  const T *log_prior = nullptr, *mask = nullptr;
  int64_t covered = 0;
  double beta = 0;
  bool forward_kl = false;
  int64_t* argmax = nullptr;
};

struct Work {
  Net actor, critic;
  torch::Tensor X;                             // the gathered observations
  std::vector<int64_t> act_i;                  // gathered rows, float32 path
  std::vector<float> act_f, old_logp, adv, ret, old_v;
  std::vector<double> lp, p, z, newLogp, r, an, gr;  // per-row (and per-row × action) loss terms
};

void free_work(Work* w) { delete w; }

// maxw is torch::maximum's backward weight of the first argument: 1 when
// it is the larger, ½ on a tie, 0 otherwise.
inline double maxw(double a, double b) { return a > b ? 1 : a == b ? 0.5 : 0; }

// loss computes CleanRL's loss (and the prior term) from the nets' outputs
// into out, as lt_ppo_minibatch_step documents; when the total is finite
// it writes the loss's gradients w.r.t. the actor's and the critic's
// outputs into actor.d.back() and critic.d.back(), and adds the log-std's
// into g_log_std (Gaussian policies), and returns true.
template <typename T>
bool loss(const lt_ppo_spec& c, Work& w, const Rows<T>& rw, const torch::Tensor& log_std,
          const torch::Tensor& g_log_std, double* out) {
  const int64_t B = rw.X.size(0);
  const auto& head = w.actor.h.back();
  const int64_t n = head.size(1);
  const T* y = head.template data_ptr<T>();
  const double invB = 1.0 / static_cast<double>(B);
  w.lp.resize(B * n), w.p.resize(B * n), w.z.resize(B * n);
  w.newLogp.resize(B), w.r.resize(B), w.an.resize(B), w.gr.resize(B);

  // The policy's log-probability of each row's action, and its entropy.
  double entSum = 0;
  if (c.discrete) {
    for (int64_t i = 0; i < B; i++) {
      const T* yi = y + i * n;
      double mx = yi[0];
      for (int64_t j = 1; j < n; j++) mx = std::max(mx, static_cast<double>(yi[j]));
      double s = 0;
      for (int64_t j = 0; j < n; j++) s += std::exp(yi[j] - mx);
      double lse = mx + std::log(s), ent = 0;
      for (int64_t j = 0; j < n; j++) {
        double l = yi[j] - lse, pj = std::exp(l);
        w.lp[i * n + j] = l, w.p[i * n + j] = pj;
        ent -= pj * l;
      }
      int64_t a = rw.act_i[i];
      if (a < 0 || a >= n)
        throw std::invalid_argument("action " + std::to_string(a) + " outside [0, " + std::to_string(n) + ")");
      w.newLogp[i] = w.lp[i * n + a];
      entSum += ent;
    }
  } else {
    if (log_std.numel() != n)
      throw std::invalid_argument("the log-std holds " + std::to_string(log_std.numel()) + " values for " +
                                  std::to_string(n) + " action dimensions");
    const T* ls = log_std.template data_ptr<T>();
    double entRow = 0;
    for (int64_t j = 0; j < n; j++) entRow += ls[j] + (0.5 + half_log_2pi);
    for (int64_t i = 0; i < B; i++) {
      double s = 0;
      for (int64_t j = 0; j < n; j++) {
        double zz = (rw.act_f[i * n + j] - static_cast<double>(y[i * n + j])) / std::exp(static_cast<double>(ls[j]));
        w.z[i * n + j] = zz;
        s += -0.5 * zz * zz - (ls[j] + half_log_2pi);
      }
      w.newLogp[i] = s;
    }
    entSum = entRow * B;
  }

  // engine/ppo's Loss.
  double oldApproxKL = 0, approxKL = 0, clipFrac = 0;
  for (int64_t i = 0; i < B; i++) {
    double lr = w.newLogp[i] - rw.old_logp[i], r = std::exp(lr);
    w.r[i] = r;
    oldApproxKL -= lr;
    approxKL += (r - 1) - lr;
    clipFrac += std::abs(r - 1) > c.clip_coef ? 1 : 0;
  }
  double mean = 0, sd = 0;
  if (c.norm_adv) {
    for (int64_t i = 0; i < B; i++) mean += rw.adv[i];
    mean *= invB;
    for (int64_t i = 0; i < B; i++) sd += (rw.adv[i] - mean) * (rw.adv[i] - mean);
    sd = std::sqrt(sd / static_cast<double>(B - 1));  // torch.std: unbiased (NaN for one row, as torch)
  }
  const double lo = 1 - c.clip_coef, hi = 1 + c.clip_coef;
  double pg = 0;
  for (int64_t i = 0; i < B; i++) {
    double a = c.norm_adv ? (rw.adv[i] - mean) / (sd + 1e-8) : static_cast<double>(rw.adv[i]);
    w.an[i] = a;
    pg += std::max(-a * w.r[i], -a * std::clamp(w.r[i], lo, hi));
  }
  pg *= invB;
  const T* v = w.critic.h.back().template data_ptr<T>();
  double vl = 0;
  for (int64_t i = 0; i < B; i++) {
    double u = (v[i] - static_cast<double>(rw.ret[i])) * (v[i] - static_cast<double>(rw.ret[i]));
    if (c.clip_vloss) {
      double vc = rw.old_v[i] + std::clamp(v[i] - static_cast<double>(rw.old_v[i]), -c.clip_coef, c.clip_coef);
      u = std::max(u, (vc - rw.ret[i]) * (vc - rw.ret[i]));
    }
    vl += u;
  }
  vl *= 0.5 * invB;
  double H = entSum * invB;
  double total = (pg - H * c.ent_coef) + vl * c.vf_coef, D = 0;
  const bool prior = rw.log_prior != nullptr;
  if (prior) {
    for (int64_t i = 0; i < B; i++) {
      if (rw.mask[i] == 0) continue;
      double kl = 0;
      for (int64_t j = 0; j < n; j++) {
        double l = w.lp[i * n + j], L = rw.log_prior[i * n + j];
        kl += rw.forward_kl ? std::exp(L) * (L - l) : w.p[i * n + j] * (l - L);
      }
      D += kl * rw.mask[i];
    }
    D /= static_cast<double>(rw.covered);
    if (rw.beta != 0) total += D * rw.beta;
    if (rw.argmax != nullptr)
      for (int64_t i = 0; i < B; i++)
        rw.argmax[i] = std::max_element(w.lp.begin() + i * n, w.lp.begin() + (i + 1) * n) - (w.lp.begin() + i * n);
  }
  out[LT_PPO_PG] = pg;
  out[LT_PPO_V] = vl;
  out[LT_PPO_ENT] = H;
  out[LT_PPO_APPROX_KL] = approxKL * invB;
  out[LT_PPO_OLD_APPROX_KL] = oldApproxKL * invB;
  out[LT_PPO_CLIPFRAC] = clipFrac * invB;
  out[LT_PPO_TOTAL] = total;
  out[LT_PPO_REG] = D;
  out[LT_PPO_GRAD_NORM] = 0;
  if (!std::isfinite(total)) return false;

  // d total / d newLogp per row, through the ratio and the clipped surrogate
  // (torch::maximum's and clamp's backward: ties split, the clamp passes
  // the gradient on [lo, hi]).
  for (int64_t i = 0; i < B; i++) {
    double r = w.r[i], a = w.an[i], u1 = -a * r, u2 = -a * std::clamp(r, lo, hi);
    double gate = r >= lo && r <= hi ? 1 : 0;
    w.gr[i] = -a * invB * (maxw(u1, u2) + maxw(u2, u1) * gate) * r;
  }
  T* g = w.actor.d.back().template data_ptr<T>();
  if (c.discrete) {
    const double ge = c.ent_coef * invB;  // d total / d ent_i = −ent_coef / B
    const bool klGrad = prior && rw.beta != 0;
    for (int64_t i = 0; i < B; i++) {
      // The gradient w.r.t. the row's log-probabilities, then log_softmax's
      // backward: g − p · Σ g.
      double* gl = &w.z[i * n];  // scratch for this row
      const double* l = &w.lp[i * n];
      const double* pr = &w.p[i * n];
      double kc = klGrad ? rw.beta * rw.mask[i] / static_cast<double>(rw.covered) : 0;
      double sum = 0;
      for (int64_t j = 0; j < n; j++) {
        double x = ge * pr[j] * (l[j] + 1);
        if (kc != 0) {
          double L = rw.log_prior[i * n + j];
          x += rw.forward_kl ? -kc * std::exp(L) : kc * pr[j] * (l[j] - L + 1);
        }
        gl[j] = x;
      }
      gl[rw.act_i[i]] += w.gr[i];
      for (int64_t j = 0; j < n; j++) sum += gl[j];
      for (int64_t j = 0; j < n; j++) g[i * n + j] = static_cast<T>(gl[j] - pr[j] * sum);
    }
  } else {
    const T* ls = log_std.template data_ptr<T>();
    T* gls = g_log_std.template data_ptr<T>();
    std::vector<double> gs(n, -c.ent_coef);  // d(−ent_coef·H)/d log_std_j = −ent_coef
    for (int64_t i = 0; i < B; i++)
      for (int64_t j = 0; j < n; j++) {
        double zz = w.z[i * n + j];
        g[i * n + j] = static_cast<T>(w.gr[i] * zz / std::exp(static_cast<double>(ls[j])));
        gs[j] += w.gr[i] * (zz * zz - 1);
      }
    for (int64_t j = 0; j < n; j++) gls[j] += static_cast<T>(gs[j]);
  }
  T* gv = w.critic.d.back().template data_ptr<T>();
  const double cv = c.vf_coef * invB;
  for (int64_t i = 0; i < B; i++) {
    double e = v[i] - static_cast<double>(rw.ret[i]);
    if (!c.clip_vloss) {
      gv[i] = static_cast<T>(cv * e);
      continue;
    }
    double dv = v[i] - static_cast<double>(rw.old_v[i]);
    double vc = rw.old_v[i] + std::clamp(dv, -c.clip_coef, c.clip_coef), ec = vc - rw.ret[i];
    double gate = dv >= -c.clip_coef && dv <= c.clip_coef ? 1 : 0;
    gv[i] = static_cast<T>(cv * (maxw(e * e, ec * ec) * e + maxw(ec * ec, e * e) * gate * ec));
  }
  return true;
}

// step runs forward, loss and backward of a bound Work on rw; false when
// the loss is not finite (no gradient written).
template <typename T>
bool step(const lt_ppo_spec& c, Work& w, const Rows<T>& rw, const std::vector<torch::Tensor>& ps,
          double* out) {
  const bool relu = c.relu != 0;
  w.actor.forward(rw.X, relu);
  w.critic.forward(rw.X, relu);
  torch::Tensor ls, gls;
  if (!c.discrete) ls = ps.back(), gls = ps.back().grad();
  if (!loss<T>(c, w, rw, ls, gls, out)) return false;
  w.actor.backward<T>(rw.X, relu);
  w.critic.backward<T>(rw.X, relu);
  return true;
}

// bind points w's nets at ps (lago's order, see lago_fused.h) for rows rows.
void bind(Work& w, const lt_ppo_spec& c, const std::vector<torch::Tensor>& ps, int64_t rows) {
  w.actor.bind(ps, 0, c.actor_layers);
  w.critic.bind(ps, 2 * c.actor_layers, c.critic_layers);
  if (w.critic.W.back().size(0) != 1)
    throw std::invalid_argument("the critic's last layer has " + std::to_string(w.critic.W.back().size(0)) +
                                " outputs; a value head has 1");
  w.actor.resize(rows);
  w.critic.resize(rows);
}

// usable says whether the hand-written step can run on these tensors:
// float32 on the CPU, contiguous, the parameters' gradients defined.
bool usable(const std::vector<torch::Tensor>& ps, std::initializer_list<const torch::Tensor*> ts) {
  for (auto& p : ps)
    if (!p.device().is_cpu() || !p.grad().defined()) return false;
  for (auto* t : ts)
    if (!t->device().is_cpu() || !t->is_contiguous()) return false;
  return true;
}

}  // namespace hand

namespace {

// hand_minibatch_step is lt_ppo_minibatch_step's hand-written path: it
// gathers the minibatch's rows into f's workspace, runs hand::step and,
// when the loss is finite, the flat clip + Adam.
void hand_minibatch_step(lt_flat_adam_s& f, const lt_ppo_spec& c, const torch::Tensor& O,
                         const torch::Tensor& Act, const torch::Tensor& OldLogp, const torch::Tensor& Adv,
                         const torch::Tensor& Ret, const torch::Tensor& OldV, const int64_t* idx, int64_t B,
                         const lt_ppo_prior* prior, double* out, int* status) {
  torch::NoGradGuard no_grad;
  if (!f.work) f.work.reset(new hand::Work);
  auto& w = *f.work;
  hand::bind(w, c, f.params, B);
  const int64_t N = O.size(0), od = O.size(1), ad = c.discrete ? 1 : Act.size(1);
  for (auto* t : {&Act, &OldLogp, &Adv, &Ret, &OldV})
    if (t->size(0) != N)
      throw std::invalid_argument("the rollout tensors hold " + std::to_string(t->size(0)) + " and " +
                                  std::to_string(N) + " rows");
  if (!w.X.defined() || w.X.size(0) != B || w.X.size(1) != od) w.X = torch::empty({B, od}, O.options());
  w.act_i.resize(B), w.act_f.resize(c.discrete ? 0 : B * ad);
  w.old_logp.resize(B), w.adv.resize(B), w.ret.resize(B), w.old_v.resize(B);
  const float* o = O.data_ptr<float>();
  float* x = w.X.data_ptr<float>();
  const float *olp = OldLogp.data_ptr<float>(), *a = Adv.data_ptr<float>(), *r = Ret.data_ptr<float>(),
              *ov = OldV.data_ptr<float>();
  for (int64_t i = 0; i < B; i++) {
    int64_t k = idx[i];
    if (k < 0 || k >= N)
      throw std::invalid_argument("row index " + std::to_string(k) + " outside [0, " + std::to_string(N) + ")");
    std::memcpy(x + i * od, o + k * od, od * sizeof(float));
    if (c.discrete)
      w.act_i[i] = Act.data_ptr<int64_t>()[k];
    else
      std::memcpy(w.act_f.data() + i * ad, Act.data_ptr<float>() + k * ad, ad * sizeof(float));
    w.old_logp[i] = olp[k], w.adv[i] = a[k], w.ret[i] = r[k], w.old_v[i] = ov[k];
  }
  hand::Rows<float> rw;
  rw.X = w.X;
  rw.act_i = w.act_i.data(), rw.act_f = w.act_f.data();
  rw.old_logp = w.old_logp.data(), rw.adv = w.adv.data(), rw.ret = w.ret.data(), rw.old_v = w.old_v.data();
  if (prior != nullptr && prior->log_prior != nullptr) {
    if (!c.discrete) throw std::invalid_argument("a discrete KL needs a discrete-action policy");
    if (prior->covered < 1) throw std::invalid_argument("a prior term covering no row");
    rw.log_prior = prior->log_prior, rw.mask = prior->mask, rw.covered = prior->covered;
    rw.beta = prior->beta, rw.forward_kl = prior->forward != 0, rw.argmax = prior->argmax;
  }
  if (!hand::step<float>(c, w, rw, f.params, out)) {
    *status = LT_PPO_NONFINITE_LOSS;
    return;
  }
  out[LT_PPO_GRAD_NORM] = clip_step(f, c.max_grad_norm);
  *status = std::isfinite(out[LT_PPO_GRAD_NORM]) ? LT_PPO_STEPPED : LT_PPO_NONFINITE_NORM;
}

// gradcheck compares hand::step's gradients in float64 with central
// finite differences of its loss on a random net and minibatch.
void gradcheck(const lt_ppo_spec& c, int64_t od, int64_t hidden, int64_t nout, int64_t B, int prior_kind,
               uint64_t seed, double* max_err, double* max_grad) {
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(seed);
  auto dopt = torch::TensorOptions().dtype(torch::kFloat64);
  auto randn = [&](std::vector<int64_t> sizes) { return at::randn(sizes, gen, dopt); };
  std::vector<torch::Tensor> ps;
  auto net = [&](int layers, int64_t out) {
    for (int l = 0; l < layers; l++) {
      int64_t in = l == 0 ? od : hidden, o = l + 1 == layers ? out : hidden;
      ps.push_back(randn({o, in}) / std::sqrt(static_cast<double>(in)));
      ps.push_back(randn({o}) * 0.1);
    }
  };
  net(c.actor_layers, nout);
  net(c.critic_layers, 1);
  if (!c.discrete) ps.push_back(randn({1, nout}) * 0.3);
  for (auto& p : ps) p.mutable_grad() = torch::zeros_like(p);
  hand::Work w;
  hand::bind(w, c, ps, B);

  auto X = randn({B, od});
  auto acts = c.discrete ? at::randint(nout, {B}, gen, torch::TensorOptions().dtype(torch::kInt64))
                         : randn({B, nout});
  auto vec = [&](torch::Tensor t) {
    t = t.contiguous();
    return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
  };
  std::vector<double> old_logp(B, 0.0), adv = vec(randn({B})), ret = vec(randn({B})),
                                          old_v = vec(randn({B}) * 0.3), log_prior, mask;
  hand::Rows<double> rw;
  rw.X = X;
  rw.act_i = c.discrete ? acts.data_ptr<int64_t>() : nullptr;
  rw.act_f = c.discrete ? nullptr : acts.data_ptr<double>();
  rw.old_logp = old_logp.data(), rw.adv = adv.data(), rw.ret = ret.data(), rw.old_v = old_v.data();
  if (prior_kind != 0) {
    log_prior = vec(randn({B, nout}).log_softmax(1));
    mask = vec((at::rand({B}, gen, dopt) < 0.7).to(torch::kFloat64));
    mask[0] = 1;
    rw.log_prior = log_prior.data(), rw.mask = mask.data();
    rw.covered = static_cast<int64_t>(std::count(mask.begin(), mask.end(), 1.0));
    rw.beta = 0.7, rw.forward_kl = prior_kind == 2;
  }
  double out[LT_PPO_NOUT];
  torch::Tensor ls = c.discrete ? torch::Tensor() : ps.back(), scratch = c.discrete ? torch::Tensor() : torch::zeros_like(ps.back());
  auto total = [&]() {
    w.actor.forward(rw.X, c.relu != 0);
    w.critic.forward(rw.X, c.relu != 0);
    if (!hand::loss<double>(c, w, rw, ls, scratch, out)) throw std::runtime_error("gradcheck: non-finite loss");
    return out[LT_PPO_TOTAL];
  };
  // Old log-probabilities near the new ones, so that some ratios fall
  // inside the clip range and some outside.
  total();
  auto noise = vec(randn({B}) * 0.3);
  for (int64_t i = 0; i < B; i++) old_logp[i] = w.newLogp[i] + noise[i];
  if (!hand::step<double>(c, w, rw, ps, out)) throw std::runtime_error("gradcheck: non-finite loss");
  const double eps = 1e-6;
  *max_err = 0, *max_grad = 0;
  for (auto& p : ps) {
    double* v = p.data_ptr<double>();
    const double* g = p.grad().data_ptr<double>();
    for (int64_t k = 0; k < p.numel(); k++) {
      double keep = v[k];
      v[k] = keep + eps;
      double up = total();
      v[k] = keep - eps;
      double down = total();
      v[k] = keep;
      double fd = (up - down) / (2 * eps);
      *max_err = std::max(*max_err, std::abs(fd - g[k]));
      *max_grad = std::max(*max_grad, std::abs(g[k]));
    }
  }
}

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
  const auto &O = get(obs, "obs"), &Act = get(actions, "actions"), &OldLogp = get(old_logp, "old_logp"),
             &Adv = get(adv, "adv"), &Ret = get(returns, "returns"), &OldV = get(old_values, "old_values");
  bool floats = O.scalar_type() == torch::kFloat32 && O.dim() == 2 &&
                Act.scalar_type() == (c.discrete ? torch::kInt64 : torch::kFloat32) &&
                Act.dim() == (c.discrete ? 1 : 2);
  for (auto* t : {&OldLogp, &Adv, &Ret, &OldV}) floats = floats && t->scalar_type() == torch::kFloat32 && t->dim() == 1;
  if (!c.autograd && floats && hand::usable(ps, {&O, &Act, &OldLogp, &Adv, &Ret, &OldV})) {
    hand_minibatch_step(*f, c, O, Act, OldLogp, Adv, Ret, OldV, idx, n_idx, prior, out, status);
    return nullptr;
  }
  auto I = torch::from_blob(const_cast<int64_t*>(idx), {n_idx}, torch::kInt64).to(O.device());
  auto mbObs = O.index_select(0, I);
  auto act = Act.index_select(0, I);
  auto oldLogp = OldLogp.index_select(0, I);
  auto A = Adv.index_select(0, I);
  auto R = Ret.index_select(0, I);
  auto oldV = OldV.index_select(0, I);

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

lt_error lt_ppo_gradcheck(const lt_ppo_spec* spec, int64_t obs_dim, int64_t hidden, int64_t out_dim,
                          int64_t rows, int prior, uint64_t seed, double* max_err, double* max_grad) {
  LT_TRY
  if (spec == nullptr) throw std::invalid_argument("NULL spec");
  if (obs_dim < 1 || hidden < 1 || out_dim < 1 || rows < 2 || spec->actor_layers < 1 || spec->critic_layers < 1)
    throw std::invalid_argument("gradcheck needs positive sizes, at least 2 rows and a layer per net");
  if (prior < 0 || prior > 2 || (prior != 0 && !spec->discrete))
    throw std::invalid_argument("gradcheck prior: 0 none, 1 KL(pi||p), 2 KL(p||pi) (discrete only)");
  gradcheck(*spec, obs_dim, hidden, out_dim, rows, prior, seed, max_err, max_grad);
  LT_CATCH("ppo_gradcheck")
}

}  // extern "C"
