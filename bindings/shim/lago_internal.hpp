// lago_internal.hpp — the shim's handle types and error macros, shared by its
// C++ files (lago_torch.cpp, lago_fused.cpp, lago_dist.cpp). Never included
// from Go: the C ABI in lago_torch.h and lago_dist.h keeps these types opaque.
#ifndef LAGO_INTERNAL_HPP
#define LAGO_INTERNAL_HPP

#include <torch/torch.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "lago_torch.h"

struct lt_tensor_s {
  torch::Tensor t;
};

struct lt_adam_s {
  std::vector<torch::Tensor> params;
  torch::optim::Adam opt;
  lt_adam_s(std::vector<torch::Tensor> p, torch::optim::AdamOptions o)
      : params(p), opt(std::move(p), o) {}
};

namespace lago_shim {

// make_error returns a malloc'ed "where: what" for an lt_error.
inline lt_error make_error(const std::string& where, const std::string& what) {
  std::string msg = where.empty() ? what : where + ": " + what;
  // libtorch appends a C++ backtrace on later lines; Go callers want one line.
  char* out = static_cast<char*>(std::malloc(msg.size() + 1));
  if (out == nullptr) return nullptr;  // cannot report; nothing better to do
  std::memcpy(out, msg.data(), msg.size());
  out[msg.size()] = '\0';
  return out;
}

inline std::string first_line(const char* s) {
  std::string str(s);
  auto nl = str.find('\n');
  return nl == std::string::npos ? str : str.substr(0, nl);
}

}  // namespace lago_shim

// LT_TRY/LT_CATCH wrap an exported function's body so that every C++
// exception becomes an lt_error and never unwinds into Go.
#define LT_TRY try {
#define LT_CATCH(where)                                                             \
  }                                                                                 \
  catch (const c10::Error& e) {                                                     \
    return lago_shim::make_error(where, lago_shim::first_line(e.what_without_backtrace())); \
  }                                                                                 \
  catch (const std::exception& e) {                                                 \
    return lago_shim::make_error(where, lago_shim::first_line(e.what()));           \
  }                                                                                 \
  catch (...) {                                                                     \
    return lago_shim::make_error(where, "unknown C++ exception");                   \
  }                                                                                 \
  return nullptr;

#endif
