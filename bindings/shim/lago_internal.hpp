// lago_internal.hpp — C++ definitions shared by the shim's translation units
// (lago_torch.cpp, lago_dist.cpp). Never included from Go: the C ABI in
// lago_torch.h and lago_dist.h keeps these types opaque.
#ifndef LAGO_INTERNAL_HPP
#define LAGO_INTERNAL_HPP

#include <torch/torch.h>

struct lt_tensor_s {
  torch::Tensor t;
};

#endif
