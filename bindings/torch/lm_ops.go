package torch

/*
#include <malloc.h>
#include "lago_torch.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"
)

// KeepFreedMemory makes glibc's malloc keep freed blocks of up to 32 MB in
// the heap instead of returning them to the system: libtorch frees and
// reallocates the same activation sizes at every op, and a block that
// went back to the system page-faults afresh on each reuse (measured:
// ~40% of the language-model scorer's CPU was system time). It is
// process-wide; the heap keeps up to 256 MB unused before trimming.
func KeepFreedMemory() {
	C.mallopt(C.M_MMAP_THRESHOLD, 32<<20)
	C.mallopt(C.M_TRIM_THRESHOLD, 256<<20)
}

// The ops below serve the language model (engine/lm): attention layouts,
// rotary embeddings, RMSNorm, SwiGLU and the token loss.

// Permute reorders a's dimensions: the result's dim i is a's dim dims[i].
// It returns a view; Contiguous copies when a later View needs it.
func (s *Scope) Permute(a *Tensor, dims ...int64) *Tensor {
	hs, ok := s.handles(a)
	if !ok {
		return nil
	}
	var p *C.int64_t
	if len(dims) > 0 {
		p = (*C.int64_t)(unsafe.Pointer(&dims[0]))
	}
	var out C.lt_tensor
	e := C.lt_permute(hs[0], p, C.int(len(dims)), &out)
	runtime.KeepAlive(a)
	runtime.KeepAlive(dims)
	return s.result(out, e)
}

// Transpose swaps dims d0 and d1 (negative dims count from the end).
func (s *Scope) Transpose(a *Tensor, d0, d1 int) *Tensor {
	hs, ok := s.handles(a)
	if !ok {
		return nil
	}
	var out C.lt_tensor
	e := C.lt_transpose(hs[0], C.int64_t(d0), C.int64_t(d1), &out)
	runtime.KeepAlive(a)
	return s.result(out, e)
}

// Narrow is the slice [start, start+length) of dim, as a view.
func (s *Scope) Narrow(a *Tensor, dim int, start, length int64) *Tensor {
	hs, ok := s.handles(a)
	if !ok {
		return nil
	}
	var out C.lt_tensor
	e := C.lt_narrow(hs[0], C.int64_t(dim), C.int64_t(start), C.int64_t(length), &out)
	runtime.KeepAlive(a)
	return s.result(out, e)
}

// Rsqrt is 1/√a element-wise.
func (s *Scope) Rsqrt(a *Tensor) *Tensor { return s.unary(C.LT_RSQRT, a) }

// SiLU is a·σ(a) element-wise (the gate of SwiGLU).
func (s *Scope) SiLU(a *Tensor) *Tensor { return s.unary(C.LT_SILU, a) }

// Contiguous copies a into row-major layout (a itself when it already is).
func (s *Scope) Contiguous(a *Tensor) *Tensor { return s.unary(C.LT_CONTIGUOUS, a) }

// RoundF16 rounds a float32 or float64 tensor to the nearest float16 (ties
// to even; beyond ±65504 to ±inf) and returns it in a's dtype: what a
// value stored as f16 reads back as, as llama.cpp's f16 KV cache stores
// keys and values. Another dtype is an error naming it.
func (s *Scope) RoundF16(a *Tensor) *Tensor { return s.unary(C.LT_ROUND_F16, a) }

// AttentionF16Acc is attention as llama.cpp's CPU flash-attention kernel
// computes it, for matching Ollama's numbers: queries q [B, Hkv, G, T, D]
// (G query heads per KV head), keys k and values v [B, Hkv, Tk, D], all
// float32 and read as f16; mask bool broadcastable to [B, Hkv, G, T, Tk],
// true where attention is forbidden. Per query: an online softmax of
// scale·q·k over the keys in order, the V sum kept in f16 and rounded after
// every step. CPU only; no gradient. → [B, Hkv, G, T, D] float32.
func (s *Scope) AttentionF16Acc(q, k, v, mask *Tensor, scale float64) *Tensor {
	hs, ok := s.handles(q, k, v, mask)
	if !ok {
		return nil
	}
	var out C.lt_tensor
	e := C.lt_attention_f16acc(hs[0], hs[1], hs[2], hs[3], C.double(scale), &out)
	runtime.KeepAlive(q)
	runtime.KeepAlive(k)
	runtime.KeepAlive(v)
	runtime.KeepAlive(mask)
	return s.result(out, e)
}

// Embedding looks up rows of weight [n, d] at the int64 ids [...] → [..., d].
// An id outside [0, n) is an error naming the range, not a crash.
func (s *Scope) Embedding(weight, ids *Tensor) *Tensor {
	hs, ok := s.handles(weight, ids)
	if !ok {
		return nil
	}
	var out C.lt_tensor
	e := C.lt_embedding(hs[0], hs[1], &out)
	runtime.KeepAlive(weight)
	runtime.KeepAlive(ids)
	return s.result(out, e)
}

// MaskedFill is a with value wherever the bool mask (broadcast) holds.
func (s *Scope) MaskedFill(a, mask *Tensor, value float64) *Tensor {
	hs, ok := s.handles(a, mask)
	if !ok {
		return nil
	}
	var out C.lt_tensor
	e := C.lt_masked_fill(hs[0], hs[1], C.double(value), &out)
	runtime.KeepAlive(a)
	runtime.KeepAlive(mask)
	return s.result(out, e)
}

// CrossEntropy is the mean of −log softmax(logits)[target] over the rows of
// logits [n, c] whose int64 target is not ignoreIndex (NaN if all are).
func (s *Scope) CrossEntropy(logits, targets *Tensor, ignoreIndex int64) *Tensor {
	hs, ok := s.handles(logits, targets)
	if !ok {
		return nil
	}
	var out C.lt_tensor
	e := C.lt_cross_entropy(hs[0], hs[1], C.int64_t(ignoreIndex), &out)
	runtime.KeepAlive(logits)
	runtime.KeepAlive(targets)
	return s.result(out, e)
}

// Scale multiplies t by v in place, outside autograd (AdamW's decoupled
// weight decay: p ← p·(1 − lr·λ) before the Adam step).
func (t *Tensor) Scale(v float64) error {
	h, err := t.handle()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(t)
	return goError(C.lt_scale_(h, C.double(v)))
}

// AdamW is torch.optim.AdamW: Adam without L2 in the gradient, and the
// weights of the decayed parameters shrunk by lr·λ before each step.
type AdamW struct {
	*Adam
	decay       float64
	decayParams []*Tensor
}

// NewAdamW makes an AdamW over params; only decayed (a subset of params,
// usually the matrices but not norms) get weight decay, as is usual for
// transformers. opts.WeightDecay is the decoupled λ.
func NewAdamW(params, decayed []*Tensor, opts AdamOptions) (*AdamW, error) {
	in := make(map[*Tensor]bool, len(params))
	for _, p := range params {
		in[p] = true
	}
	for i, p := range decayed {
		if !in[p] {
			return nil, fmt.Errorf("torch: AdamW: decayed parameter %d is not among the parameters", i)
		}
	}
	lambda := opts.WeightDecay
	opts.WeightDecay = 0
	a, err := NewAdam(params, opts)
	if err != nil {
		return nil, err
	}
	return &AdamW{Adam: a, decay: lambda, decayParams: decayed}, nil
}

// Step decays the decayed parameters, then applies Adam's update.
func (a *AdamW) Step() error {
	if f := 1 - a.LR()*a.decay; f != 1 {
		for _, p := range a.decayParams {
			if err := p.Scale(f); err != nil {
				return err
			}
		}
	}
	return a.Adam.Step()
}
