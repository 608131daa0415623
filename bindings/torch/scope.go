package torch

/*
#include "lago_torch.h"
*/
import "C"

import (
	"errors"
	"runtime"
)

var errEmptyJoin = errors.New("torch: cat/stack of no tensors")

// Scope owns temporary tensors and carries the first error of a computation,
// so that a chain of ops reads as maths and is checked once:
//
//	s := torch.NewScope()
//	defer s.Close()
//	ratio := s.Exp(s.Sub(newLogp, oldLogp))
//	loss := s.Neg(s.Mean(s.Minimum(s.Mul(ratio, adv), s.Mul(s.Clamp(ratio, 0.8, 1.2), adv))))
//	if err := s.Err(); err != nil { ... }
//
// After the first error every op returns nil and does nothing. A Scope is not
// safe for concurrent use.
type Scope struct {
	owned []*Tensor
	err   error
}

// NewScope makes an empty scope.
func NewScope() *Scope { return &Scope{} }

// Err is the first error any op in the scope met.
func (s *Scope) Err() error { return s.err }

// Fail records err (if it is the first) so later ops stop; it returns s.Err().
func (s *Scope) Fail(err error) error {
	if s.err == nil && err != nil {
		s.err = err
	}
	return s.err
}

// Close frees every tensor the scope still owns. The scope can be reused.
func (s *Scope) Close() {
	for i, t := range s.owned {
		t.Free()
		s.owned[i] = nil
	}
	s.owned = s.owned[:0]
}

// Reset frees the owned tensors and forgets the error, for reuse in a loop.
func (s *Scope) Reset() {
	s.Close()
	s.err = nil
}

// Own adopts t (as returned with err by a constructor such as FromSlice): the
// scope frees it at Close, and err becomes the scope's error.
func (s *Scope) Own(t *Tensor, err error) *Tensor {
	if err != nil {
		s.Fail(err)
		t.Free()
		return nil
	}
	if t != nil {
		s.owned = append(s.owned, t)
	}
	return t
}

// Keep takes t out of the scope: the caller now owns it and must Free it.
func (s *Scope) Keep(t *Tensor) *Tensor {
	for i, o := range s.owned {
		if o == t {
			last := len(s.owned) - 1
			s.owned[i] = s.owned[last]
			s.owned[last] = nil
			s.owned = s.owned[:last]
			break
		}
	}
	return t
}

// result wraps a handle the shim returned (or its error) as an owned tensor.
func (s *Scope) result(h C.lt_tensor, e C.lt_error) *Tensor {
	if err := goError(e); err != nil {
		s.Fail(err)
		return nil
	}
	return s.Own(newTensor(h), nil)
}

// handles returns the operands' handles, or false once the scope has failed.
func (s *Scope) handles(ts ...*Tensor) ([]C.lt_tensor, bool) {
	if s.err != nil {
		return nil, false
	}
	hs := make([]C.lt_tensor, len(ts))
	for i, t := range ts {
		h, err := t.handle()
		if err != nil {
			s.Fail(err)
			return nil, false
		}
		hs[i] = h
	}
	return hs, true
}

func (s *Scope) unary(op C.int, a *Tensor) *Tensor {
	hs, ok := s.handles(a)
	if !ok {
		return nil
	}
	var out C.lt_tensor
	e := C.lt_unary(op, hs[0], &out)
	runtime.KeepAlive(a)
	return s.result(out, e)
}

func (s *Scope) binary(op C.int, a, b *Tensor) *Tensor {
	hs, ok := s.handles(a, b)
	if !ok {
		return nil
	}
	var out C.lt_tensor
	e := C.lt_binary(op, hs[0], hs[1], &out)
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
	return s.result(out, e)
}

func (s *Scope) scalar(op C.int, a *Tensor, v float64) *Tensor {
	hs, ok := s.handles(a)
	if !ok {
		return nil
	}
	var out C.lt_tensor
	e := C.lt_scalar(op, hs[0], C.double(v), &out)
	runtime.KeepAlive(a)
	return s.result(out, e)
}

func (s *Scope) dim(op C.int, a *Tensor, dim int, keep bool) *Tensor {
	hs, ok := s.handles(a)
	if !ok {
		return nil
	}
	var out C.lt_tensor
	e := C.lt_dim(op, hs[0], C.int64_t(dim), cBool(keep), &out)
	runtime.KeepAlive(a)
	return s.result(out, e)
}

// Element-wise maths.

func (s *Scope) Neg(a *Tensor) *Tensor     { return s.unary(C.LT_NEG, a) }
func (s *Scope) Exp(a *Tensor) *Tensor     { return s.unary(C.LT_EXP, a) }
func (s *Scope) Log(a *Tensor) *Tensor     { return s.unary(C.LT_LOG, a) }
func (s *Scope) Log1p(a *Tensor) *Tensor   { return s.unary(C.LT_LOG1P, a) }
func (s *Scope) Tanh(a *Tensor) *Tensor    { return s.unary(C.LT_TANH, a) }
func (s *Scope) Relu(a *Tensor) *Tensor    { return s.unary(C.LT_RELU, a) }
func (s *Scope) Sqrt(a *Tensor) *Tensor    { return s.unary(C.LT_SQRT, a) }
func (s *Scope) Square(a *Tensor) *Tensor  { return s.unary(C.LT_SQUARE, a) }
func (s *Scope) Abs(a *Tensor) *Tensor     { return s.unary(C.LT_ABS, a) }
func (s *Scope) Sigmoid(a *Tensor) *Tensor { return s.unary(C.LT_SIGMOID, a) }
func (s *Scope) Not(a *Tensor) *Tensor     { return s.unary(C.LT_LOGICAL_NOT, a) }

// Detach returns a view of a outside the autograd graph.
func (s *Scope) Detach(a *Tensor) *Tensor { return s.unary(C.LT_DETACH, a) }

// Clone copies a (keeping it in the graph).
func (s *Scope) Clone(a *Tensor) *Tensor { return s.unary(C.LT_CLONE, a) }

// T transposes a 2-D tensor.
func (s *Scope) T(a *Tensor) *Tensor { return s.unary(C.LT_T, a) }

// Reductions over all elements.

func (s *Scope) Sum(a *Tensor) *Tensor  { return s.unary(C.LT_SUM_ALL, a) }
func (s *Scope) Mean(a *Tensor) *Tensor { return s.unary(C.LT_MEAN_ALL, a) }

// Std is the unbiased standard deviation of all elements (as torch.std).
func (s *Scope) Std(a *Tensor) *Tensor { return s.unary(C.LT_STD_ALL, a) }

// Var is the unbiased variance of all elements.
func (s *Scope) Var(a *Tensor) *Tensor { return s.unary(C.LT_VAR_ALL, a) }

// Binary ops broadcast as libtorch does; incompatible shapes are an error naming both.

func (s *Scope) Add(a, b *Tensor) *Tensor     { return s.binary(C.LT_ADD, a, b) }
func (s *Scope) Sub(a, b *Tensor) *Tensor     { return s.binary(C.LT_SUB, a, b) }
func (s *Scope) Mul(a, b *Tensor) *Tensor     { return s.binary(C.LT_MUL, a, b) }
func (s *Scope) Div(a, b *Tensor) *Tensor     { return s.binary(C.LT_DIV, a, b) }
func (s *Scope) Matmul(a, b *Tensor) *Tensor  { return s.binary(C.LT_MATMUL, a, b) }
func (s *Scope) Minimum(a, b *Tensor) *Tensor { return s.binary(C.LT_MINIMUM, a, b) }
func (s *Scope) Maximum(a, b *Tensor) *Tensor { return s.binary(C.LT_MAXIMUM, a, b) }
func (s *Scope) Pow(a, b *Tensor) *Tensor     { return s.binary(C.LT_POW, a, b) }
func (s *Scope) Eq(a, b *Tensor) *Tensor      { return s.binary(C.LT_EQ, a, b) }
func (s *Scope) Gt(a, b *Tensor) *Tensor      { return s.binary(C.LT_GT, a, b) }
func (s *Scope) Lt(a, b *Tensor) *Tensor      { return s.binary(C.LT_LT, a, b) }
func (s *Scope) Ge(a, b *Tensor) *Tensor      { return s.binary(C.LT_GE, a, b) }
func (s *Scope) Le(a, b *Tensor) *Tensor      { return s.binary(C.LT_LE, a, b) }
func (s *Scope) And(a, b *Tensor) *Tensor     { return s.binary(C.LT_LOGICAL_AND, a, b) }
func (s *Scope) Or(a, b *Tensor) *Tensor      { return s.binary(C.LT_LOGICAL_OR, a, b) }

// Ops with a scalar operand.

func (s *Scope) AddS(a *Tensor, v float64) *Tensor { return s.scalar(C.LT_ADD_S, a, v) }
func (s *Scope) SubS(a *Tensor, v float64) *Tensor { return s.scalar(C.LT_SUB_S, a, v) }
func (s *Scope) MulS(a *Tensor, v float64) *Tensor { return s.scalar(C.LT_MUL_S, a, v) }
func (s *Scope) DivS(a *Tensor, v float64) *Tensor { return s.scalar(C.LT_DIV_S, a, v) }
func (s *Scope) PowS(a *Tensor, v float64) *Tensor { return s.scalar(C.LT_POW_S, a, v) }
func (s *Scope) GtS(a *Tensor, v float64) *Tensor  { return s.scalar(C.LT_GT_S, a, v) }
func (s *Scope) LtS(a *Tensor, v float64) *Tensor  { return s.scalar(C.LT_LT_S, a, v) }
func (s *Scope) GeS(a *Tensor, v float64) *Tensor  { return s.scalar(C.LT_GE_S, a, v) }
func (s *Scope) LeS(a *Tensor, v float64) *Tensor  { return s.scalar(C.LT_LE_S, a, v) }
func (s *Scope) EqS(a *Tensor, v float64) *Tensor  { return s.scalar(C.LT_EQ_S, a, v) }

// RSubS is v − a.
func (s *Scope) RSubS(a *Tensor, v float64) *Tensor { return s.scalar(C.LT_RSUB_S, a, v) }

// Ops over one dimension (negative dims count from the end).

func (s *Scope) SumDim(a *Tensor, dim int, keep bool) *Tensor {
	return s.dim(C.LT_SUM_DIM, a, dim, keep)
}
func (s *Scope) MeanDim(a *Tensor, dim int, keep bool) *Tensor {
	return s.dim(C.LT_MEAN_DIM, a, dim, keep)
}
func (s *Scope) MaxDim(a *Tensor, dim int, keep bool) *Tensor {
	return s.dim(C.LT_MAX_DIM, a, dim, keep)
}
func (s *Scope) MinDim(a *Tensor, dim int, keep bool) *Tensor {
	return s.dim(C.LT_MIN_DIM, a, dim, keep)
}
func (s *Scope) Argmax(a *Tensor, dim int, keep bool) *Tensor {
	return s.dim(C.LT_ARGMAX, a, dim, keep)
}
func (s *Scope) LogSumExp(a *Tensor, dim int, keep bool) *Tensor {
	return s.dim(C.LT_LOGSUMEXP, a, dim, keep)
}
func (s *Scope) Softmax(a *Tensor, dim int) *Tensor    { return s.dim(C.LT_SOFTMAX, a, dim, false) }
func (s *Scope) LogSoftmax(a *Tensor, dim int) *Tensor { return s.dim(C.LT_LOG_SOFTMAX, a, dim, false) }
func (s *Scope) Squeeze(a *Tensor, dim int) *Tensor    { return s.dim(C.LT_SQUEEZE, a, dim, false) }
func (s *Scope) Unsqueeze(a *Tensor, dim int) *Tensor  { return s.dim(C.LT_UNSQUEEZE, a, dim, false) }

// Clamp limits a to [lo, hi].
func (s *Scope) Clamp(a *Tensor, lo, hi float64) *Tensor { return s.clamp(a, lo, hi, true, true) }

// ClampMin limits a from below.
func (s *Scope) ClampMin(a *Tensor, lo float64) *Tensor { return s.clamp(a, lo, 0, true, false) }

// ClampMax limits a from above.
func (s *Scope) ClampMax(a *Tensor, hi float64) *Tensor { return s.clamp(a, 0, hi, false, true) }

func (s *Scope) clamp(a *Tensor, lo, hi float64, hasLo, hasHi bool) *Tensor {
	hs, ok := s.handles(a)
	if !ok {
		return nil
	}
	var out C.lt_tensor
	e := C.lt_clamp(hs[0], C.double(lo), C.double(hi), cBool(hasLo), cBool(hasHi), &out)
	runtime.KeepAlive(a)
	return s.result(out, e)
}

// Where picks a where cond holds, else b.
func (s *Scope) Where(cond, a, b *Tensor) *Tensor {
	hs, ok := s.handles(cond, a, b)
	if !ok {
		return nil
	}
	var out C.lt_tensor
	e := C.lt_where(hs[0], hs[1], hs[2], &out)
	runtime.KeepAlive(cond)
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
	return s.result(out, e)
}

// Gather picks a's values along dim at the int64 index.
func (s *Scope) Gather(a *Tensor, dim int, index *Tensor) *Tensor {
	hs, ok := s.handles(a, index)
	if !ok {
		return nil
	}
	var out C.lt_tensor
	e := C.lt_gather(hs[0], C.int64_t(dim), hs[1], &out)
	runtime.KeepAlive(a)
	runtime.KeepAlive(index)
	return s.result(out, e)
}

// IndexSelect picks a's slices along dim at the int64 index (minibatch rows).
func (s *Scope) IndexSelect(a *Tensor, dim int, index *Tensor) *Tensor {
	hs, ok := s.handles(a, index)
	if !ok {
		return nil
	}
	var out C.lt_tensor
	e := C.lt_index_select(hs[0], C.int64_t(dim), hs[1], &out)
	runtime.KeepAlive(a)
	runtime.KeepAlive(index)
	return s.result(out, e)
}

// Cat concatenates along an existing dim.
func (s *Scope) Cat(dim int, ts ...*Tensor) *Tensor { return s.join(dim, false, ts) }

// Stack joins along a new dim.
func (s *Scope) Stack(dim int, ts ...*Tensor) *Tensor { return s.join(dim, true, ts) }

func (s *Scope) join(dim int, stack bool, ts []*Tensor) *Tensor {
	hs, ok := s.handles(ts...)
	if !ok {
		return nil
	}
	if len(hs) == 0 {
		s.Fail(errEmptyJoin)
		return nil
	}
	var out C.lt_tensor
	e := C.lt_join(&hs[0], C.int(len(hs)), C.int64_t(dim), cBool(stack), &out)
	runtime.KeepAlive(ts)
	return s.result(out, e)
}

// View reshapes without copying (-1 infers one dim); the layout must allow it.
func (s *Scope) View(a *Tensor, shape ...int64) *Tensor { return s.view(a, shape, false) }

// Reshape reshapes, copying when the layout needs it.
func (s *Scope) Reshape(a *Tensor, shape ...int64) *Tensor { return s.view(a, shape, true) }

func (s *Scope) view(a *Tensor, shape []int64, reshape bool) *Tensor {
	hs, ok := s.handles(a)
	if !ok {
		return nil
	}
	sp, nd := cShape(shape)
	var out C.lt_tensor
	e := C.lt_view(hs[0], sp, nd, cBool(reshape), &out)
	runtime.KeepAlive(a)
	runtime.KeepAlive(shape)
	return s.result(out, e)
}

// Linear is x·wᵀ + b (b may be nil), as torch.nn.functional.linear.
func (s *Scope) Linear(x, w, b *Tensor) *Tensor {
	operands := []*Tensor{x, w}
	if b != nil {
		operands = append(operands, b)
	}
	hs, ok := s.handles(operands...)
	if !ok {
		return nil
	}
	var bh C.lt_tensor
	if b != nil {
		bh = hs[2]
	}
	var out C.lt_tensor
	e := C.lt_linear(hs[0], hs[1], bh, &out)
	runtime.KeepAlive(operands)
	return s.result(out, e)
}

// Normal samples N(mean, std) element-wise (no gradient flows through samples).
func (s *Scope) Normal(mean, std *Tensor) *Tensor {
	hs, ok := s.handles(mean, std)
	if !ok {
		return nil
	}
	var out C.lt_tensor
	e := C.lt_normal(hs[0], hs[1], &out)
	runtime.KeepAlive(mean)
	runtime.KeepAlive(std)
	return s.result(out, e)
}

// Categorical samples one index per row of logits [..., n] → int64 [...].
func (s *Scope) Categorical(logits *Tensor) *Tensor {
	hs, ok := s.handles(logits)
	if !ok {
		return nil
	}
	var out C.lt_tensor
	e := C.lt_categorical(hs[0], &out)
	runtime.KeepAlive(logits)
	return s.result(out, e)
}

// To converts a to another device and dtype.
func (s *Scope) To(a *Tensor, d Device, dt DType) *Tensor {
	hs, ok := s.handles(a)
	if !ok {
		return nil
	}
	var out C.lt_tensor
	e := C.lt_to(hs[0], C.int(d), C.int(dt), &out)
	runtime.KeepAlive(a)
	return s.result(out, e)
}

// Grad is t's gradient, owned by the scope (nil, without error, if t has none).
func (s *Scope) Grad(t *Tensor) *Tensor {
	if s.err != nil {
		return nil
	}
	g, err := t.Grad()
	if err != nil || g == nil {
		s.Fail(err)
		return nil
	}
	return s.Own(g, nil)
}

// Backward runs autograd from the scalar t, recording any error.
func (s *Scope) Backward(t *Tensor) {
	if s.err != nil {
		return
	}
	s.Fail(t.Backward())
}

// Item reads a one-element tensor, recording any error (0 after one).
func (s *Scope) Item(t *Tensor) float64 {
	if s.err != nil {
		return 0
	}
	v, err := t.Item()
	s.Fail(err)
	return v
}

// FromSliceIn is FromSlice with the result owned by the scope s.
func FromSliceIn[T Element](s *Scope, data []T, shape []int64, d Device) *Tensor {
	if s.err != nil {
		return nil
	}
	return s.Own(FromSlice(data, shape, d))
}
