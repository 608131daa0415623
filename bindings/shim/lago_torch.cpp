// lago_torch.cpp — the libtorch side of the C ABI declared in lago_torch.h.
//
// Each exported function runs its body inside LT_TRY/LT_CATCH, so every C++
// exception (shape errors, CUDA errors, bad archives, std::bad_alloc) becomes
// an lt_error string and never unwinds into Go.

#include "lago_torch.h"
#include "lago_internal.hpp"

#include <torch/torch.h>
#include <torch/version.h>

#ifdef LAGO_TORCH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

#include <dlfcn.h>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>


namespace {

std::atomic<int64_t> live_tensors{0};

lt_tensor wrap(torch::Tensor t) {
  live_tensors.fetch_add(1, std::memory_order_relaxed);
  return new lt_tensor_s{std::move(t)};
}

std::string shape_str(const torch::Tensor& t) {
  if (!t.defined()) return "[undefined]";
  std::ostringstream os;
  os << "[";
  for (int64_t i = 0; i < t.dim(); i++) os << (i ? " " : "") << t.size(i);
  os << "]";
  return os.str();
}

torch::ScalarType scalar_type(int dtype) {
  switch (dtype) {
    case LT_FLOAT32: return torch::kFloat32;
    case LT_FLOAT64: return torch::kFloat64;
    case LT_INT64: return torch::kInt64;
    case LT_BOOL: return torch::kBool;
  }
  throw std::invalid_argument("unknown dtype code " + std::to_string(dtype));
}

int dtype_code(torch::ScalarType s) {
  switch (s) {
    case torch::kFloat32: return LT_FLOAT32;
    case torch::kFloat64: return LT_FLOAT64;
    case torch::kInt64: return LT_INT64;
    case torch::kBool: return LT_BOOL;
    default: return -1;
  }
}

torch::Device device_of(int device) {
  if (device < 0) return torch::Device(torch::kCPU);
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(device));
}

torch::TensorOptions options(int dtype, int device) {
  return torch::TensorOptions().dtype(scalar_type(dtype)).device(device_of(device));
}

std::vector<int64_t> dims(const int64_t* shape, int ndim) {
  if (ndim < 0) throw std::invalid_argument("negative ndim");
  return std::vector<int64_t>(shape, shape + ndim);
}

std::vector<torch::Tensor> tensors(const lt_tensor* ts, int n) {
  std::vector<torch::Tensor> v;
  v.reserve(n);
  for (int i = 0; i < n; i++) {
    if (ts[i] == nullptr) throw std::invalid_argument("tensor " + std::to_string(i) + " is NULL");
    v.push_back(ts[i]->t);
  }
  return v;
}

const torch::Tensor& get(lt_tensor t, const char* name) {
  if (t == nullptr) throw std::invalid_argument(std::string(name) + " is a NULL tensor");
  return t->t;
}

}  // namespace

extern "C" {

void lt_error_free(lt_error e) { std::free(e); }
void lt_buffer_free(void* p) { std::free(p); }

const char* lt_torch_version(void) { return TORCH_VERSION; }

int lt_cuda_is_available(void) {
  try {
    return torch::cuda::is_available() ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

int lt_cuda_device_count(void) {
  try {
    return static_cast<int>(torch::cuda::device_count());
  } catch (...) {
    return 0;
  }
}

lt_error lt_cuda_device_name(int device, char* buf, size_t n) {
  LT_TRY
  if (n == 0) throw std::invalid_argument("empty buffer");
#ifdef LAGO_TORCH_CUDA
  if (device < 0 || device >= lt_cuda_device_count())
    throw std::invalid_argument("no CUDA device " + std::to_string(device));
  const char* name = at::cuda::getDeviceProperties(device)->name;
  std::strncpy(buf, name, n - 1);
  buf[n - 1] = '\0';
#else
  (void)device;
  (void)buf;
  throw std::runtime_error("this lago was built against a libtorch without CUDA");
#endif
  LT_CATCH("cuda_device_name")
}

int64_t lt_live_tensors(void) { return live_tensors.load(); }

lt_error lt_manual_seed(uint64_t seed) {
  LT_TRY
  torch::manual_seed(seed);
  LT_CATCH("manual_seed")
}

// lt_set_num_threads sets libtorch's intra-op threads and OpenBLAS's pool.
// Why both: Debian's libtorch runs every float GEMM through OpenBLAS, whose
// pthread build keeps its own process-wide pool of one thread per core,
// untouched by at::set_num_threads. With torch_threads 1, a 64×128·128×128
// GEMM still forks onto a second thread, and the pool's idle workers spin
// in sched_yield: in a profile of the one-thread CLEVR-LaGO update, 17% of
// the process's CPU time was that spinning (and 17% of a language-model
// scoring run's), and on a loaded machine each forked GEMM waits for a
// core. OpenBLAS is found by name, so that lago links to no BLAS; without
// it (MKL, or the ATen fallback) only libtorch's count is set. The pool is
// process-wide, so the last call sets it for every thread.
lt_error lt_set_num_threads(int n) {
  LT_TRY
  torch::set_num_threads(n);
  using set_fn = void (*)(int);
  static const set_fn blas = reinterpret_cast<set_fn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (blas != nullptr) blas(n);
  LT_CATCH("set_num_threads")
}

int lt_get_num_threads(void) { return at::get_num_threads(); }

int lt_blas_num_threads(void) {
  using get_fn = int (*)(void);
  static const get_fn get = reinterpret_cast<get_fn>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  return get != nullptr ? get() : 0;
}

void lt_set_grad_enabled(int enabled, int* previous) {
  if (previous != nullptr) *previous = torch::GradMode::is_enabled() ? 1 : 0;
  torch::GradMode::set_enabled(enabled != 0);
}

int lt_is_grad_enabled(void) { return torch::GradMode::is_enabled() ? 1 : 0; }

lt_error lt_set_deterministic(int on) {
  LT_TRY
  at::globalContext().setDeterministicAlgorithms(on != 0, /*warn_only=*/false);
  LT_CATCH("set_deterministic")
}

lt_error lt_rng_get_state(int device, uint8_t** buf, size_t* len) {
  LT_TRY
  auto gen = at::globalContext().defaultGenerator(device_of(device));
  torch::Tensor state;
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    state = gen.get_state();
  }
  state = state.contiguous();
  size_t n = static_cast<size_t>(state.numel());
  uint8_t* out = static_cast<uint8_t*>(std::malloc(n == 0 ? 1 : n));
  if (out == nullptr) throw std::bad_alloc();
  std::memcpy(out, state.data_ptr(), n);
  *buf = out;
  *len = n;
  LT_CATCH("rng_get_state")
}

lt_error lt_rng_set_state(int device, const uint8_t* buf, size_t len) {
  LT_TRY
  auto gen = at::globalContext().defaultGenerator(device_of(device));
  auto state = torch::empty({static_cast<int64_t>(len)}, torch::kUInt8);
  std::memcpy(state.data_ptr(), buf, len);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
  LT_CATCH("rng_set_state")
}

lt_error lt_from_data(const void* data, const int64_t* shape, int ndim, int dtype, int device,
                      lt_tensor* out) {
  LT_TRY
  auto cpu = torch::empty(dims(shape, ndim), options(dtype, LT_CPU));
  size_t nbytes = static_cast<size_t>(cpu.numel()) * cpu.element_size();
  if (nbytes > 0) std::memcpy(cpu.data_ptr(), data, nbytes);
  *out = wrap(device < 0 ? cpu : cpu.to(device_of(device)));
  LT_CATCH("from_data")
}

lt_error lt_full(const int64_t* shape, int ndim, double value, int dtype, int device,
                 lt_tensor* out) {
  LT_TRY
  *out = wrap(torch::full(dims(shape, ndim), value, options(dtype, device)));
  LT_CATCH("full")
}

lt_error lt_randn(const int64_t* shape, int ndim, int dtype, int device, lt_tensor* out) {
  LT_TRY
  *out = wrap(torch::randn(dims(shape, ndim), options(dtype, device)));
  LT_CATCH("randn")
}

lt_error lt_rand(const int64_t* shape, int ndim, int dtype, int device, lt_tensor* out) {
  LT_TRY
  *out = wrap(torch::rand(dims(shape, ndim), options(dtype, device)));
  LT_CATCH("rand")
}

void lt_free(lt_tensor t) {
  if (t == nullptr) return;
  live_tensors.fetch_sub(1, std::memory_order_relaxed);
  delete t;
}

lt_error lt_shape(lt_tensor t, int64_t* shape, int cap, int* ndim) {
  LT_TRY
  const auto& x = get(t, "tensor");
  *ndim = static_cast<int>(x.dim());
  if (*ndim > cap) throw std::invalid_argument("tensor has more dimensions than the buffer");
  for (int i = 0; i < *ndim; i++) shape[i] = x.size(i);
  LT_CATCH("shape")
}

int lt_dtype_of(lt_tensor t) { return t == nullptr ? -1 : dtype_code(t->t.scalar_type()); }

int lt_device_of(lt_tensor t) {
  if (t == nullptr || !t->t.is_cuda()) return LT_CPU;
  return t->t.get_device();
}

int64_t lt_numel(lt_tensor t) { return t == nullptr ? 0 : t->t.numel(); }

lt_error lt_copy_to_host(lt_tensor t, void* data, size_t nbytes) {
  LT_TRY
  auto x = get(t, "tensor").detach().to(torch::kCPU).contiguous();
  size_t have = static_cast<size_t>(x.numel()) * x.element_size();
  if (have != nbytes)
    throw std::invalid_argument("tensor " + shape_str(x) + " holds " + std::to_string(have) +
                                " bytes, the buffer " + std::to_string(nbytes));
  if (have > 0) std::memcpy(data, x.data_ptr(), have);
  LT_CATCH("copy_to_host")
}

lt_error lt_to(lt_tensor t, int device, int dtype, lt_tensor* out) {
  LT_TRY
  *out = wrap(get(t, "tensor").to(device_of(device), scalar_type(dtype)));
  LT_CATCH("to")
}

lt_error lt_item(lt_tensor t, double* out) {
  LT_TRY
  *out = get(t, "tensor").item<double>();
  LT_CATCH("item")
}

static const char* unary_name(int op) {
  static const char* names[] = {"neg",  "exp",     "log",    "tanh",   "relu",     "sqrt",
                                "abs",  "sigmoid", "detach", "clone",  "sum",      "mean",
                                "std",  "var",     "logical_not", "t", "log1p", "square",
                                "rsqrt", "silu",   "contiguous", "round to float16"};
  return (op >= 0 && op <= LT_ROUND_F16) ? names[op] : "unary";
}

lt_error lt_unary(int op, lt_tensor a, lt_tensor* out) {
  LT_TRY
  const auto& x = get(a, "operand");
  torch::Tensor r;
  switch (op) {
    case LT_NEG: r = x.neg(); break;
    case LT_EXP: r = x.exp(); break;
    case LT_LOG: r = x.log(); break;
    case LT_TANH: r = x.tanh(); break;
    case LT_RELU: r = x.relu(); break;
    case LT_SQRT: r = x.sqrt(); break;
    case LT_ABS: r = x.abs(); break;
    case LT_SIGMOID: r = x.sigmoid(); break;
    case LT_DETACH: r = x.detach(); break;
    case LT_CLONE: r = x.clone(); break;
    case LT_SUM_ALL: r = x.sum(); break;
    case LT_MEAN_ALL: r = x.mean(); break;
    case LT_STD_ALL: r = x.std(); break;
    case LT_VAR_ALL: r = x.var(); break;
    case LT_LOGICAL_NOT: r = x.logical_not(); break;
    case LT_T: r = x.t(); break;
    case LT_LOG1P: r = x.log1p(); break;
    case LT_SQUARE: r = x.square(); break;
    case LT_RSQRT: r = x.rsqrt(); break;
    case LT_SILU: r = torch::silu(x); break;
    case LT_CONTIGUOUS: r = x.contiguous(); break;
    case LT_ROUND_F16:
      if (x.scalar_type() != torch::kFloat32 && x.scalar_type() != torch::kFloat64)
        throw std::invalid_argument(std::string("operand must be float32 or float64, not ") +
                                    c10::toString(x.scalar_type()));
      r = x.to(torch::kHalf).to(x.scalar_type());
      break;
    default: throw std::invalid_argument("unknown unary op " + std::to_string(op));
  }
  *out = wrap(std::move(r));
  LT_CATCH(unary_name(op))
}

static const char* binary_name(int op) {
  static const char* names[] = {"add", "sub", "mul", "div", "matmul", "minimum", "maximum", "pow",
                                "eq",  "gt",  "lt",  "ge",  "le",     "logical_and", "logical_or"};
  return (op >= 0 && op <= LT_LOGICAL_OR) ? names[op] : "binary";
}

lt_error lt_binary(int op, lt_tensor a, lt_tensor b, lt_tensor* out) {
  std::string where = binary_name(op);
  LT_TRY
  const auto& x = get(a, "left operand");
  const auto& y = get(b, "right operand");
  where += " of shapes " + shape_str(x) + " and " + shape_str(y);
  torch::Tensor r;
  switch (op) {
    case LT_ADD: r = x + y; break;
    case LT_SUB: r = x - y; break;
    case LT_MUL: r = x * y; break;
    case LT_DIV: r = x / y; break;
    case LT_MATMUL: r = x.matmul(y); break;
    case LT_MINIMUM: r = torch::minimum(x, y); break;
    case LT_MAXIMUM: r = torch::maximum(x, y); break;
    case LT_POW: r = x.pow(y); break;
    case LT_EQ: r = x.eq(y); break;
    case LT_GT: r = x.gt(y); break;
    case LT_LT: r = x.lt(y); break;
    case LT_GE: r = x.ge(y); break;
    case LT_LE: r = x.le(y); break;
    case LT_LOGICAL_AND: r = x.logical_and(y); break;
    case LT_LOGICAL_OR: r = x.logical_or(y); break;
    default: throw std::invalid_argument("unknown binary op " + std::to_string(op));
  }
  *out = wrap(std::move(r));
  LT_CATCH(where)
}

lt_error lt_scalar(int op, lt_tensor a, double s, lt_tensor* out) {
  LT_TRY
  const auto& x = get(a, "operand");
  torch::Tensor r;
  switch (op) {
    case LT_ADD_S: r = x + s; break;
    case LT_SUB_S: r = x - s; break;
    case LT_MUL_S: r = x * s; break;
    case LT_DIV_S: r = x / s; break;
    case LT_POW_S: r = x.pow(s); break;
    case LT_RSUB_S: r = torch::rsub(x, s); break;
    case LT_GT_S: r = x.gt(s); break;
    case LT_LT_S: r = x.lt(s); break;
    case LT_GE_S: r = x.ge(s); break;
    case LT_LE_S: r = x.le(s); break;
    case LT_EQ_S: r = x.eq(s); break;
    default: throw std::invalid_argument("unknown scalar op " + std::to_string(op));
  }
  *out = wrap(std::move(r));
  LT_CATCH("scalar op")
}

static const char* dim_name(int op) {
  static const char* names[] = {"sum",     "mean",    "softmax", "log_softmax", "argmax",
                                "max",     "min",     "squeeze", "unsqueeze",   "logsumexp"};
  return (op >= 0 && op <= LT_LOGSUMEXP) ? names[op] : "dim op";
}

lt_error lt_dim(int op, lt_tensor a, int64_t dim, int keepdim, lt_tensor* out) {
  std::string where = dim_name(op);
  LT_TRY
  const auto& x = get(a, "operand");
  where += " over dim " + std::to_string(dim) + " of shape " + shape_str(x);
  bool keep = keepdim != 0;
  torch::Tensor r;
  switch (op) {
    case LT_SUM_DIM: r = x.sum(dim, keep); break;
    case LT_MEAN_DIM: r = x.mean(dim, keep); break;
    case LT_SOFTMAX: r = x.softmax(dim); break;
    case LT_LOG_SOFTMAX: r = x.log_softmax(dim); break;
    case LT_ARGMAX: r = x.argmax(dim, keep); break;
    case LT_MAX_DIM: r = std::get<0>(x.max(dim, keep)); break;
    case LT_MIN_DIM: r = std::get<0>(x.min(dim, keep)); break;
    case LT_SQUEEZE: r = x.squeeze(dim); break;
    case LT_UNSQUEEZE: r = x.unsqueeze(dim); break;
    case LT_LOGSUMEXP: r = x.logsumexp(dim, keep); break;
    default: throw std::invalid_argument("unknown dim op " + std::to_string(op));
  }
  *out = wrap(std::move(r));
  LT_CATCH(where)
}

lt_error lt_clamp(lt_tensor a, double lo, double hi, int has_lo, int has_hi, lt_tensor* out) {
  LT_TRY
  const auto& x = get(a, "operand");
  c10::optional<torch::Scalar> l, h;
  if (has_lo) l = lo;
  if (has_hi) h = hi;
  *out = wrap(x.clamp(l, h));
  LT_CATCH("clamp")
}

lt_error lt_where(lt_tensor cond, lt_tensor a, lt_tensor b, lt_tensor* out) {
  std::string where = "where";
  LT_TRY
  const auto& c = get(cond, "condition");
  const auto& x = get(a, "left operand");
  const auto& y = get(b, "right operand");
  where += " of shapes " + shape_str(c) + ", " + shape_str(x) + " and " + shape_str(y);
  *out = wrap(torch::where(c, x, y));
  LT_CATCH(where)
}

lt_error lt_gather(lt_tensor a, int64_t dim, lt_tensor index, lt_tensor* out) {
  std::string where = "gather";
  LT_TRY
  const auto& x = get(a, "operand");
  const auto& i = get(index, "index");
  where += " over dim " + std::to_string(dim) + " of shape " + shape_str(x) + " with index " +
           shape_str(i);
  *out = wrap(x.gather(dim, i));
  LT_CATCH(where)
}

lt_error lt_join(const lt_tensor* ts, int n, int64_t dim, int stack, lt_tensor* out) {
  LT_TRY
  auto v = tensors(ts, n);
  *out = wrap(stack ? torch::stack(v, dim) : torch::cat(v, dim));
  LT_CATCH(stack ? "stack" : "cat")
}

lt_error lt_view(lt_tensor a, const int64_t* shape, int ndim, int reshape, lt_tensor* out) {
  std::string where = reshape ? "reshape" : "view";
  LT_TRY
  const auto& x = get(a, "operand");
  auto d = dims(shape, ndim);
  std::ostringstream os;
  os << " of shape " << shape_str(x) << " to " << c10::IntArrayRef(d);
  where += os.str();
  *out = wrap(reshape ? x.reshape(d) : x.view(d));
  LT_CATCH(where)
}

lt_error lt_index_select(lt_tensor a, int64_t dim, lt_tensor index, lt_tensor* out) {
  std::string where = "index_select";
  LT_TRY
  const auto& x = get(a, "operand");
  const auto& i = get(index, "index");
  where += " over dim " + std::to_string(dim) + " of shape " + shape_str(x) + " with index " +
           shape_str(i);
  *out = wrap(x.index_select(dim, i));
  LT_CATCH(where)
}

lt_error lt_linear(lt_tensor x, lt_tensor w, lt_tensor b, lt_tensor* out) {
  std::string where = "linear";
  LT_TRY
  const auto& in = get(x, "input");
  const auto& weight = get(w, "weight");
  where += " of input " + shape_str(in) + " with weight " + shape_str(weight);
  *out = wrap(b == nullptr ? torch::linear(in, weight) : torch::linear(in, weight, b->t));
  LT_CATCH(where)
}

lt_error lt_normal(lt_tensor mean, lt_tensor std, lt_tensor* out) {
  std::string where = "normal";
  LT_TRY
  const auto& m = get(mean, "mean");
  const auto& s = get(std, "std");
  where += " of shapes " + shape_str(m) + " and " + shape_str(s);
  // Samples carry no gradient: PPO scores actions by log-probability, not by reparameterisation.
  *out = wrap(at::normal(m.detach(), s.detach()));
  LT_CATCH(where)
}

lt_error lt_categorical(lt_tensor logits, lt_tensor* out) {
  std::string where = "categorical";
  LT_TRY
  const auto& l = get(logits, "logits");
  where += " of logits " + shape_str(l);
  if (l.dim() < 1) throw std::invalid_argument("logits need at least one dimension");
  auto probs = l.detach().softmax(-1);
  auto flat = probs.reshape({-1, probs.size(-1)});
  auto idx = torch::multinomial(flat, 1, /*replacement=*/true).squeeze(-1);
  auto lead = l.sizes().vec();
  lead.pop_back();
  *out = wrap(idx.reshape(lead));
  LT_CATCH(where)
}

lt_error lt_set_requires_grad(lt_tensor t, int on) {
  LT_TRY
  get(t, "tensor").set_requires_grad(on != 0);
  LT_CATCH("set_requires_grad")
}

int lt_requires_grad(lt_tensor t) { return t != nullptr && t->t.requires_grad() ? 1 : 0; }

lt_error lt_backward(lt_tensor t) {
  LT_TRY
  get(t, "tensor").backward();
  LT_CATCH("backward")
}

lt_error lt_grad(lt_tensor t, lt_tensor* out) {
  LT_TRY
  const auto& g = get(t, "tensor").grad();
  *out = g.defined() ? wrap(g) : nullptr;
  LT_CATCH("grad")
}

lt_error lt_zero_grad(lt_tensor t) {
  LT_TRY
  get(t, "tensor").mutable_grad().reset();
  LT_CATCH("zero_grad")
}

lt_error lt_copy_(lt_tensor dst, lt_tensor src) {
  std::string where = "copy_";
  LT_TRY
  auto& d = get(dst, "destination");
  const auto& s = get(src, "source");
  where += " from " + shape_str(s) + " into " + shape_str(d);
  if (d.sizes() != s.sizes()) throw std::invalid_argument("shapes differ");
  torch::NoGradGuard no_grad;
  const_cast<torch::Tensor&>(d).copy_(s);
  LT_CATCH(where)
}

lt_error lt_fill_(lt_tensor t, double value) {
  LT_TRY
  torch::NoGradGuard no_grad;
  const_cast<torch::Tensor&>(get(t, "tensor")).fill_(value);
  LT_CATCH("fill_")
}

lt_error lt_orthogonal_(lt_tensor t, double gain) {
  LT_TRY
  torch::NoGradGuard no_grad;
  torch::nn::init::orthogonal_(const_cast<torch::Tensor&>(get(t, "tensor")), gain);
  LT_CATCH("orthogonal_")
}

lt_error lt_adam_new(const lt_tensor* params, int n, double lr, double beta1, double beta2,
                     double eps, double weight_decay, lt_adam* out) {
  LT_TRY
  auto opts = torch::optim::AdamOptions(lr).betas({beta1, beta2}).eps(eps).weight_decay(
      weight_decay);
  *out = new lt_adam_s(tensors(params, n), opts);
  LT_CATCH("adam_new")
}

void lt_adam_free(lt_adam a) { delete a; }

lt_error lt_adam_step(lt_adam a) {
  LT_TRY
  if (a == nullptr) throw std::invalid_argument("NULL optimiser");
  a->opt.step();
  LT_CATCH("adam_step")
}

lt_error lt_adam_zero_grad(lt_adam a) {
  LT_TRY
  if (a == nullptr) throw std::invalid_argument("NULL optimiser");
  // Setting gradients to none (PyTorch 2's default) rather than zero skips a
  // kernel per parameter and behaves the same under Adam.
  for (auto& p : a->params) p.mutable_grad().reset();
  LT_CATCH("adam_zero_grad")
}

lt_error lt_adam_set_lr(lt_adam a, double lr) {
  LT_TRY
  if (a == nullptr) throw std::invalid_argument("NULL optimiser");
  for (auto& g : a->opt.param_groups())
    static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr);
  LT_CATCH("adam_set_lr")
}

double lt_adam_get_lr(lt_adam a) {
  if (a == nullptr || a->opt.param_groups().empty()) return 0;
  return static_cast<torch::optim::AdamOptions&>(a->opt.param_groups()[0].options()).lr();
}

lt_error lt_clip_grad_norm(const lt_tensor* params, int n, double max_norm, double* total_norm) {
  LT_TRY
  *total_norm = torch::nn::utils::clip_grad_norm_(tensors(params, n), max_norm);
  LT_CATCH("clip_grad_norm")
}

lt_error lt_save_state(const lt_tensor* params, int n, lt_adam adam, uint8_t** buf, size_t* len) {
  LT_TRY
  torch::serialize::OutputArchive archive;
  auto ps = tensors(params, n);
  archive.write("num_params", torch::tensor(static_cast<int64_t>(n)));
  for (int i = 0; i < n; i++) archive.write("param." + std::to_string(i), ps[i].detach());
  archive.write("has_adam", torch::tensor(static_cast<int64_t>(adam != nullptr)));
  if (adam != nullptr) {
    torch::serialize::OutputArchive opt;
    adam->opt.save(opt);
    archive.write("adam", opt);
  }
  std::string bytes;
  archive.save_to([&bytes](const void* data, size_t size) -> size_t {
    bytes.append(static_cast<const char*>(data), size);
    return size;
  });
  uint8_t* out = static_cast<uint8_t*>(std::malloc(bytes.size() == 0 ? 1 : bytes.size()));
  if (out == nullptr) throw std::bad_alloc();
  std::memcpy(out, bytes.data(), bytes.size());
  *buf = out;
  *len = bytes.size();
  LT_CATCH("save_state")
}

lt_error lt_load_state(const uint8_t* buf, size_t len, const lt_tensor* params, int n,
                       lt_adam adam) {
  LT_TRY
  torch::serialize::InputArchive archive;
  archive.load_from(reinterpret_cast<const char*>(buf), len);
  torch::Tensor count;
  archive.read("num_params", count);
  if (count.item<int64_t>() != n)
    throw std::invalid_argument("checkpoint holds " + std::to_string(count.item<int64_t>()) +
                                " parameter tensors, the model " + std::to_string(n));
  auto ps = tensors(params, n);
  std::vector<torch::Tensor> loaded(n);
  for (int i = 0; i < n; i++) {
    archive.read("param." + std::to_string(i), loaded[i]);
    if (loaded[i].sizes() != ps[i].sizes())
      throw std::invalid_argument("parameter " + std::to_string(i) + " has shape " +
                                  shape_str(loaded[i]) + " in the checkpoint, " +
                                  shape_str(ps[i]) + " in the model");
  }
  torch::Tensor has_adam;
  archive.read("has_adam", has_adam);
  if (adam != nullptr && has_adam.item<int64_t>() == 0)
    throw std::invalid_argument("checkpoint holds no optimiser state");
  // Read everything before writing anything, so a bad archive leaves the model untouched.
  torch::serialize::InputArchive opt;
  if (adam != nullptr) archive.read("adam", opt);
  {
    torch::NoGradGuard no_grad;
    for (int i = 0; i < n; i++) ps[i].copy_(loaded[i]);
  }
  if (adam != nullptr) adam->opt.load(opt);
  LT_CATCH("load_state")
}

lt_error lt_permute(lt_tensor a, const int64_t* dims_, int ndim, lt_tensor* out) {
  std::string where = "permute";
  LT_TRY
  const auto& x = get(a, "operand");
  auto d = dims(dims_, ndim);
  std::ostringstream os;
  os << " of shape " << shape_str(x) << " by " << c10::IntArrayRef(d);
  where += os.str();
  if (static_cast<int64_t>(d.size()) != x.dim())
    throw std::invalid_argument("permutation has " + std::to_string(d.size()) +
                                " dims, the tensor " + std::to_string(x.dim()));
  *out = wrap(x.permute(d));
  LT_CATCH(where)
}

lt_error lt_transpose(lt_tensor a, int64_t d0, int64_t d1, lt_tensor* out) {
  std::string where = "transpose";
  LT_TRY
  const auto& x = get(a, "operand");
  where += " of dims " + std::to_string(d0) + " and " + std::to_string(d1) + " of shape " +
           shape_str(x);
  *out = wrap(x.transpose(d0, d1));
  LT_CATCH(where)
}

lt_error lt_narrow(lt_tensor a, int64_t dim, int64_t start, int64_t length, lt_tensor* out) {
  std::string where = "narrow";
  LT_TRY
  const auto& x = get(a, "operand");
  where += " of dim " + std::to_string(dim) + " [" + std::to_string(start) + ", " +
           std::to_string(start + length) + ") of shape " + shape_str(x);
  *out = wrap(x.narrow(dim, start, length));
  LT_CATCH(where)
}

lt_error lt_embedding(lt_tensor weight, lt_tensor ids, lt_tensor* out) {
  std::string where = "embedding";
  LT_TRY
  const auto& w = get(weight, "weight");
  const auto& i = get(ids, "ids");
  where += " of weight " + shape_str(w) + " with ids " + shape_str(i);
  if (w.dim() != 2) throw std::invalid_argument("weight must be 2-D [n, d]");
  if (i.scalar_type() != torch::kInt64) throw std::invalid_argument("ids must be int64");
  if (i.numel() > 0) {
    auto lo = i.min().item<int64_t>(), hi = i.max().item<int64_t>();
    if (lo < 0 || hi >= w.size(0))
      throw std::invalid_argument("ids span [" + std::to_string(lo) + ", " + std::to_string(hi) +
                                  "], the table has " + std::to_string(w.size(0)) + " rows");
  }
  *out = wrap(torch::embedding(w, i));
  LT_CATCH(where)
}

lt_error lt_masked_fill(lt_tensor a, lt_tensor mask, double value, lt_tensor* out) {
  std::string where = "masked_fill";
  LT_TRY
  const auto& x = get(a, "operand");
  const auto& m = get(mask, "mask");
  where += " of shape " + shape_str(x) + " with mask " + shape_str(m);
  if (m.scalar_type() != torch::kBool) throw std::invalid_argument("mask must be bool");
  *out = wrap(x.masked_fill(m, value));
  LT_CATCH(where)
}

lt_error lt_attention_f16acc(lt_tensor q, lt_tensor k, lt_tensor v, lt_tensor mask, double scale,
                             lt_tensor* out) {
  std::string where = "attention_f16acc";
  LT_TRY
  const auto& tq = get(q, "queries");
  const auto& tk = get(k, "keys");
  const auto& tv = get(v, "values");
  const auto& tm = get(mask, "mask");
  where += " of queries " + shape_str(tq) + ", keys " + shape_str(tk) + ", values " + shape_str(tv) +
           " and mask " + shape_str(tm);
  if (tq.dim() != 5 || tk.dim() != 4 || tv.dim() != 4)
    throw std::invalid_argument("want queries [B, Hkv, G, T, D], keys and values [B, Hkv, Tk, D]");
  const int64_t B = tq.size(0), Hkv = tq.size(1), G = tq.size(2), T = tq.size(3), D = tq.size(4);
  const int64_t Tk = tk.size(2);
  if (tk.size(0) != B || tk.size(1) != Hkv || tk.size(3) != D || tv.sizes() != tk.sizes())
    throw std::invalid_argument("keys and values must be [B, Hkv, Tk, D] of the queries' B, Hkv and D");
  if (tq.scalar_type() != torch::kFloat32 || tk.scalar_type() != torch::kFloat32 ||
      tv.scalar_type() != torch::kFloat32)
    throw std::invalid_argument("queries, keys and values must be float32");
  if (tm.scalar_type() != torch::kBool) throw std::invalid_argument("mask must be bool");
  if (!tq.device().is_cpu() || !tk.device().is_cpu() || !tv.device().is_cpu() || !tm.device().is_cpu())
    throw std::invalid_argument("the f16-accumulator attention runs on the CPU only");
  // f16 copies, as llama.cpp's KV cache stores keys and values and its
  // flash-attention kernel converts the queries.
  auto q16 = tq.to(torch::kHalf).contiguous();
  auto k16 = tk.to(torch::kHalf).contiguous();
  auto v16 = tv.to(torch::kHalf).contiguous();
  auto m = tm.expand({B, Hkv, G, T, Tk}).contiguous();
  auto result = torch::empty({B, Hkv, G, T, D}, tq.options());
  const at::Half* Q = q16.data_ptr<at::Half>();
  const at::Half* K = k16.data_ptr<at::Half>();
  const at::Half* V = v16.data_ptr<at::Half>();
  const bool* M = m.data_ptr<bool>();
  float* O = result.data_ptr<float>();
  const float fscale = static_cast<float>(scale);
  std::vector<at::Half> acc(D);
  // ggml_compute_forward_flash_attn_ext_f16_one_chunk (scalar build): an
  // online softmax over the keys in order; the V accumulator stays f16 and
  // is rounded after every rescale and every multiply-add; dot products are
  // f32 products summed in double.
  for (int64_t b = 0; b < B; b++)
    for (int64_t h = 0; h < Hkv; h++)
      for (int64_t g = 0; g < G; g++)
        for (int64_t t = 0; t < T; t++) {
          const int64_t row = (((b * Hkv + h) * G + g) * T + t);
          const at::Half* qr = Q + row * D;
          const bool* mr = M + row * Tk;
          float Mx = -INFINITY, S = 0.0f;
          std::fill(acc.begin(), acc.end(), at::Half(0.0f));
          for (int64_t c = 0; c < Tk; c++) {
            if (mr[c]) continue;
            const at::Half* kr = K + ((b * Hkv + h) * Tk + c) * D;
            double dot = 0;
            for (int64_t i = 0; i < D; i++) dot += static_cast<double>(static_cast<float>(qr[i]) * static_cast<float>(kr[i]));
            const float s = static_cast<float>(dot) * fscale;
            const float Mold = Mx;
            float ms = 1.0f, vs = 1.0f;
            if (s > Mx) {
              Mx = s;
              ms = expf(Mold - Mx);
              for (int64_t i = 0; i < D; i++) acc[i] = at::Half(static_cast<float>(acc[i]) * ms);
            } else {
              vs = expf(s - Mx);
            }
            const at::Half* vr = V + ((b * Hkv + h) * Tk + c) * D;
            for (int64_t i = 0; i < D; i++)
              acc[i] = at::Half(static_cast<float>(acc[i]) + static_cast<float>(vr[i]) * vs);
            S = S * ms + vs;
          }
          const float inv = S == 0.0f ? 0.0f : 1.0f / S;
          for (int64_t i = 0; i < D; i++) O[row * D + i] = static_cast<float>(acc[i]) * inv;
        }
  *out = wrap(std::move(result));
  LT_CATCH(where)
}

lt_error lt_cross_entropy(lt_tensor logits, lt_tensor targets, int64_t ignore_index,
                          lt_tensor* out) {
  std::string where = "cross_entropy";
  LT_TRY
  const auto& l = get(logits, "logits");
  const auto& t = get(targets, "targets");
  where += " of logits " + shape_str(l) + " with targets " + shape_str(t);
  if (l.dim() != 2 || t.dim() != 1 || t.size(0) != l.size(0))
    throw std::invalid_argument("want logits [n, c] and targets [n]");
  if (t.scalar_type() != torch::kInt64) throw std::invalid_argument("targets must be int64");
  *out = wrap(torch::nn::functional::cross_entropy(
      l, t, torch::nn::functional::CrossEntropyFuncOptions().ignore_index(ignore_index)));
  LT_CATCH(where)
}

lt_error lt_scale_(lt_tensor t, double s) {
  LT_TRY
  torch::NoGradGuard no_grad;
  const_cast<torch::Tensor&>(get(t, "tensor")).mul_(s);
  LT_CATCH("scale_")
}

}  // extern "C"
