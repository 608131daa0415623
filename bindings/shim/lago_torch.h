/*
 * lago_torch.h — the C ABI between Go and libtorch.
 *
 * Every function that can fail returns an lt_error: NULL on success, else a
 * malloc'ed, NUL-terminated message that the caller releases with
 * lt_error_free. No C++ exception and no C++ type crosses this boundary:
 * tensors and optimisers travel as opaque handles owned by the caller.
 *
 * Devices are ints: LT_CPU (-1), or k >= 0 for cuda:k.
 */
#ifndef LAGO_TORCH_H
#define LAGO_TORCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lt_tensor_s* lt_tensor;
typedef struct lt_adam_s* lt_adam;
typedef char* lt_error;

#define LT_CPU (-1)

enum lt_dtype { LT_FLOAT32 = 0, LT_FLOAT64 = 1, LT_INT64 = 2, LT_BOOL = 3 };

void lt_error_free(lt_error e);
void lt_buffer_free(void* p);

/* Library and device facts. */
const char* lt_torch_version(void);
int lt_cuda_is_available(void);
int lt_cuda_device_count(void);
/* Writes the device's name into buf (at most n bytes, NUL-terminated). */
lt_error lt_cuda_device_name(int device, char* buf, size_t n);
/* Tensors alive in this process: a leak detector for tests. */
int64_t lt_live_tensors(void);

/* Global state. Grad mode is per OS thread. */
lt_error lt_manual_seed(uint64_t seed);
/* Sets libtorch's intra-op threads (of the calling OS thread) and, when the
   BLAS is OpenBLAS, its process-wide pool to n. */
lt_error lt_set_num_threads(int n);
int lt_get_num_threads(void);
/* OpenBLAS's thread count; 0 when the BLAS is not OpenBLAS. */
int lt_blas_num_threads(void);
/* Sets grad mode for the calling OS thread and reports the previous mode. */
void lt_set_grad_enabled(int enabled, int* previous);
int lt_is_grad_enabled(void);
lt_error lt_set_deterministic(int on);
/* The default generator of the device as bytes (malloc'ed; free with lt_buffer_free). */
lt_error lt_rng_get_state(int device, uint8_t** buf, size_t* len);
lt_error lt_rng_set_state(int device, const uint8_t* buf, size_t len);

/* Creation, inspection, transfer. */
lt_error lt_from_data(const void* data, const int64_t* shape, int ndim, int dtype, int device,
                      lt_tensor* out);
lt_error lt_full(const int64_t* shape, int ndim, double value, int dtype, int device, lt_tensor* out);
lt_error lt_randn(const int64_t* shape, int ndim, int dtype, int device, lt_tensor* out);
lt_error lt_rand(const int64_t* shape, int ndim, int dtype, int device, lt_tensor* out);
void lt_free(lt_tensor t);
/* Fills shape (capacity cap) and ndim. */
lt_error lt_shape(lt_tensor t, int64_t* shape, int cap, int* ndim);
int lt_dtype_of(lt_tensor t);
int lt_device_of(lt_tensor t);
int64_t lt_numel(lt_tensor t);
/* Copies the tensor's elements (any device, made contiguous) into data of nbytes. */
lt_error lt_copy_to_host(lt_tensor t, void* data, size_t nbytes);
lt_error lt_to(lt_tensor t, int device, int dtype, lt_tensor* out);
lt_error lt_item(lt_tensor t, double* out);

/* Element-wise and reduction ops, selected by code (see the enums).
   LT_ROUND_F16 rounds a float32/float64 tensor to the nearest float16
   (ties to even, beyond ±65504 to ±inf) and back to its own dtype. */
enum lt_unary_op {
  LT_NEG, LT_EXP, LT_LOG, LT_TANH, LT_RELU, LT_SQRT, LT_ABS, LT_SIGMOID, LT_DETACH, LT_CLONE,
  LT_SUM_ALL, LT_MEAN_ALL, LT_STD_ALL, LT_VAR_ALL, LT_LOGICAL_NOT, LT_T, LT_LOG1P, LT_SQUARE,
  LT_RSQRT, LT_SILU, LT_CONTIGUOUS, LT_ROUND_F16
};
lt_error lt_unary(int op, lt_tensor a, lt_tensor* out);

enum lt_binary_op {
  LT_ADD, LT_SUB, LT_MUL, LT_DIV, LT_MATMUL, LT_MINIMUM, LT_MAXIMUM, LT_POW,
  LT_EQ, LT_GT, LT_LT, LT_GE, LT_LE, LT_LOGICAL_AND, LT_LOGICAL_OR
};
lt_error lt_binary(int op, lt_tensor a, lt_tensor b, lt_tensor* out);

enum lt_scalar_op {
  LT_ADD_S, LT_SUB_S, LT_MUL_S, LT_DIV_S, LT_POW_S, LT_RSUB_S, LT_GT_S, LT_LT_S, LT_GE_S, LT_LE_S,
  LT_EQ_S
};
lt_error lt_scalar(int op, lt_tensor a, double s, lt_tensor* out);

enum lt_dim_op {
  LT_SUM_DIM, LT_MEAN_DIM, LT_SOFTMAX, LT_LOG_SOFTMAX, LT_ARGMAX, LT_MAX_DIM, LT_MIN_DIM,
  LT_SQUEEZE, LT_UNSQUEEZE, LT_LOGSUMEXP
};
lt_error lt_dim(int op, lt_tensor a, int64_t dim, int keepdim, lt_tensor* out);

lt_error lt_clamp(lt_tensor a, double lo, double hi, int has_lo, int has_hi, lt_tensor* out);
lt_error lt_where(lt_tensor cond, lt_tensor a, lt_tensor b, lt_tensor* out);
lt_error lt_gather(lt_tensor a, int64_t dim, lt_tensor index, lt_tensor* out);
/* stack = 0: cat along dim; stack = 1: stack along a new dim. */
lt_error lt_join(const lt_tensor* ts, int n, int64_t dim, int stack, lt_tensor* out);
/* reshape = 0: view (no copy, must be compatible); 1: reshape. */
lt_error lt_view(lt_tensor a, const int64_t* shape, int ndim, int reshape, lt_tensor* out);
lt_error lt_index_select(lt_tensor a, int64_t dim, lt_tensor index, lt_tensor* out);
lt_error lt_linear(lt_tensor x, lt_tensor w, lt_tensor b /* may be NULL */, lt_tensor* out);

/* Sampling from the default generator of the tensors' device. */
lt_error lt_normal(lt_tensor mean, lt_tensor std, lt_tensor* out);
/* One categorical sample per row of logits [..., n], as int64 [...]. */
lt_error lt_categorical(lt_tensor logits, lt_tensor* out);

/* Autograd. */
lt_error lt_set_requires_grad(lt_tensor t, int on);
int lt_requires_grad(lt_tensor t);
lt_error lt_backward(lt_tensor t);
/* *out is NULL when the tensor has no gradient yet. */
lt_error lt_grad(lt_tensor t, lt_tensor* out);
lt_error lt_zero_grad(lt_tensor t);

/* In-place, outside autograd: for initialisation and loading. */
lt_error lt_copy_(lt_tensor dst, lt_tensor src);
lt_error lt_fill_(lt_tensor t, double value);
lt_error lt_orthogonal_(lt_tensor t, double gain);

/* Adam (torch::optim::Adam) over a fixed list of parameters. */
lt_error lt_adam_new(const lt_tensor* params, int n, double lr, double beta1, double beta2,
                     double eps, double weight_decay, lt_adam* out);
void lt_adam_free(lt_adam a);
lt_error lt_adam_step(lt_adam a);
lt_error lt_adam_zero_grad(lt_adam a);
lt_error lt_adam_set_lr(lt_adam a, double lr);
double lt_adam_get_lr(lt_adam a);
/* Scales the gradients of params so that their global L2 norm is at most max_norm. */
lt_error lt_clip_grad_norm(const lt_tensor* params, int n, double max_norm, double* total_norm);

/* Parameters (and, when adam is not NULL, its state) to and from one archive in memory. */
lt_error lt_save_state(const lt_tensor* params, int n, lt_adam adam, uint8_t** buf, size_t* len);
lt_error lt_load_state(const uint8_t* buf, size_t len, const lt_tensor* params, int n, lt_adam adam);

/* Ops of the language model (engine/lm): attention layout, RoPE, norms, loss. */
/* Reorders a's dimensions: out's dim i is a's dim dims[i] (a view). */
lt_error lt_permute(lt_tensor a, const int64_t* dims, int ndim, lt_tensor* out);
/* Swaps dims d0 and d1 (a view). */
lt_error lt_transpose(lt_tensor a, int64_t d0, int64_t d1, lt_tensor* out);
/* Elements start … start+length-1 of dim (a view). */
lt_error lt_narrow(lt_tensor a, int64_t dim, int64_t start, int64_t length, lt_tensor* out);
/* Attention as llama.cpp's CPU flash-attention kernel computes it: queries
   [B, Hkv, G, T, D], keys and values [B, Hkv, Tk, D] (float32, read as f16),
   mask bool broadcastable to [B, Hkv, G, T, Tk] (true: forbidden); an online
   softmax over the keys in order with an f16 V accumulator. → [B, Hkv, G, T, D]. */
lt_error lt_attention_f16acc(lt_tensor q, lt_tensor k, lt_tensor v, lt_tensor mask, double scale,
                             lt_tensor* out);
/* Rows of weight [n, d] at the int64 ids [...] → [..., d]. */
lt_error lt_embedding(lt_tensor weight, lt_tensor ids, lt_tensor* out);
/* a with value where the bool mask (broadcast to a's shape) holds. */
lt_error lt_masked_fill(lt_tensor a, lt_tensor mask, double value, lt_tensor* out);
/* Mean cross-entropy of logits [n, c] against int64 targets [n], skipping
 * targets equal to ignore_index (NaN when every target is ignored). */
lt_error lt_cross_entropy(lt_tensor logits, lt_tensor targets, int64_t ignore_index,
                          lt_tensor* out);
/* t *= s in place, outside autograd: AdamW's decoupled weight decay. */
lt_error lt_scale_(lt_tensor t, double s);

#ifdef __cplusplus
}
#endif
#endif
