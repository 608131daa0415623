package torch

/*
#include "lago_torch.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"
)

// DType is a tensor's element type.
type DType int

// The element types lago moves between Go and libtorch.
const (
	Float32 DType = C.LT_FLOAT32
	Float64 DType = C.LT_FLOAT64
	Int64   DType = C.LT_INT64
	Bool    DType = C.LT_BOOL
)

func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Float64:
		return "float64"
	case Int64:
		return "int64"
	case Bool:
		return "bool"
	}
	return fmt.Sprintf("dtype(%d)", int(d))
}

// Element is a Go type with a tensor dtype.
type Element interface {
	~float32 | ~float64 | ~int64 | ~bool
}

func dtypeOf[T Element]() DType {
	var z T
	switch any(z).(type) {
	case float32:
		return Float32
	case float64:
		return Float64
	case int64:
		return Int64
	default:
		return Bool
	}
}

// ErrFreed is returned when a freed (or never made) tensor is used.
var ErrFreed = errors.New("torch: use of a freed or nil tensor")

// Tensor owns one libtorch tensor. Free it, or make it in a Scope.
type Tensor struct {
	h       C.lt_tensor
	cleanup runtime.Cleanup
}

func newTensor(h C.lt_tensor) *Tensor {
	t := &Tensor{h: h}
	t.cleanup = runtime.AddCleanup(t, func(h C.lt_tensor) { C.lt_free(h) }, h)
	return t
}

// Free releases the tensor now. Freeing twice, or freeing nil, is harmless.
func (t *Tensor) Free() {
	if t == nil || t.h == nil {
		return
	}
	t.cleanup.Stop()
	C.lt_free(t.h)
	t.h = nil
}

// handle returns the C handle, or an error for a freed tensor.
func (t *Tensor) handle() (C.lt_tensor, error) {
	if t == nil || t.h == nil {
		return nil, ErrFreed
	}
	return t.h, nil
}

// Shape is the tensor's shape (nil for a freed tensor).
func (t *Tensor) Shape() []int64 {
	h, err := t.handle()
	if err != nil {
		return nil
	}
	var dims [16]C.int64_t
	var nd C.int
	if goError(C.lt_shape(h, &dims[0], C.int(len(dims)), &nd)) != nil {
		return nil
	}
	runtime.KeepAlive(t)
	shape := make([]int64, int(nd))
	for i := range shape {
		shape[i] = int64(dims[i])
	}
	return shape
}

// Numel is the number of elements.
func (t *Tensor) Numel() int64 {
	h, err := t.handle()
	if err != nil {
		return 0
	}
	defer runtime.KeepAlive(t)
	return int64(C.lt_numel(h))
}

// DType is the element type.
func (t *Tensor) DType() DType {
	h, err := t.handle()
	if err != nil {
		return -1
	}
	defer runtime.KeepAlive(t)
	return DType(C.lt_dtype_of(h))
}

// Device is where the tensor lives.
func (t *Tensor) Device() Device {
	h, err := t.handle()
	if err != nil {
		return CPU
	}
	defer runtime.KeepAlive(t)
	return Device(C.lt_device_of(h))
}

func (t *Tensor) String() string {
	if t == nil || t.h == nil {
		return "Tensor(freed)"
	}
	return fmt.Sprintf("Tensor(%v %v %v)", t.DType(), t.Shape(), t.Device())
}

func shapeNumel(shape []int64) (int64, error) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("torch: negative dimension in shape %v", shape)
		}
		n *= d
	}
	return n, nil
}

func cShape(shape []int64) (*C.int64_t, C.int) {
	if len(shape) == 0 {
		return nil, 0
	}
	return (*C.int64_t)(unsafe.Pointer(&shape[0])), C.int(len(shape))
}

// FromSlice copies data into a new tensor of the given shape on device d.
// The shape's element count must equal len(data).
func FromSlice[T Element](data []T, shape []int64, d Device) (*Tensor, error) {
	n, err := shapeNumel(shape)
	if err != nil {
		return nil, err
	}
	if n != int64(len(data)) {
		return nil, fmt.Errorf("torch: shape %v holds %d elements, the slice %d", shape, n, len(data))
	}
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	}
	sp, nd := cShape(shape)
	var h C.lt_tensor
	if err := goError(C.lt_from_data(p, sp, nd, C.int(dtypeOf[T]()), C.int(d), &h)); err != nil {
		return nil, err
	}
	return newTensor(h), nil
}

// Scalar makes a 0-dimensional tensor.
func Scalar[T Element](v T, d Device) (*Tensor, error) {
	return FromSlice([]T{v}, nil, d)
}

// Full makes a tensor filled with v.
func Full(shape []int64, v float64, dt DType, d Device) (*Tensor, error) {
	sp, nd := cShape(shape)
	var h C.lt_tensor
	if err := goError(C.lt_full(sp, nd, C.double(v), C.int(dt), C.int(d), &h)); err != nil {
		return nil, err
	}
	return newTensor(h), nil
}

// Zeros makes a tensor of zeros.
func Zeros(shape []int64, dt DType, d Device) (*Tensor, error) { return Full(shape, 0, dt, d) }

// Randn samples standard normal values from the device's default generator.
func Randn(shape []int64, dt DType, d Device) (*Tensor, error) {
	sp, nd := cShape(shape)
	var h C.lt_tensor
	if err := goError(C.lt_randn(sp, nd, C.int(dt), C.int(d), &h)); err != nil {
		return nil, err
	}
	return newTensor(h), nil
}

// Rand samples uniform values in [0, 1).
func Rand(shape []int64, dt DType, d Device) (*Tensor, error) {
	sp, nd := cShape(shape)
	var h C.lt_tensor
	if err := goError(C.lt_rand(sp, nd, C.int(dt), C.int(d), &h)); err != nil {
		return nil, err
	}
	return newTensor(h), nil
}

// CopyTo copies the tensor's elements (from any device) into dst, whose
// length must equal the element count and whose type must match the dtype.
// With a reused dst it allocates nothing on the Go heap.
func CopyTo[T Element](t *Tensor, dst []T) error {
	h, err := t.handle()
	if err != nil {
		return err
	}
	if want := dtypeOf[T](); t.DType() != want {
		return fmt.Errorf("torch: tensor is %v, the slice %v", t.DType(), want)
	}
	var p unsafe.Pointer
	if len(dst) > 0 {
		p = unsafe.Pointer(&dst[0])
	}
	var z T
	err = goError(C.lt_copy_to_host(h, p, C.size_t(uintptr(len(dst))*unsafe.Sizeof(z))))
	runtime.KeepAlive(t)
	return err
}

// ToSlice returns the tensor's elements in a new slice.
func ToSlice[T Element](t *Tensor) ([]T, error) {
	if _, err := t.handle(); err != nil {
		return nil, err
	}
	out := make([]T, t.Numel())
	if err := CopyTo(t, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Item returns the value of a one-element tensor.
func (t *Tensor) Item() (float64, error) {
	h, err := t.handle()
	if err != nil {
		return 0, err
	}
	var v C.double
	err = goError(C.lt_item(h, &v))
	runtime.KeepAlive(t)
	return float64(v), err
}

// SetRequiresGrad marks a leaf tensor as a parameter of autograd.
func (t *Tensor) SetRequiresGrad(on bool) error {
	h, err := t.handle()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(t)
	return goError(C.lt_set_requires_grad(h, cBool(on)))
}

// RequiresGrad reports whether autograd tracks the tensor.
func (t *Tensor) RequiresGrad() bool {
	h, err := t.handle()
	if err != nil {
		return false
	}
	defer runtime.KeepAlive(t)
	return C.lt_requires_grad(h) != 0
}

// Grad returns a new handle to the tensor's gradient, or nil if it has none.
// The caller frees it.
func (t *Tensor) Grad() (*Tensor, error) {
	h, err := t.handle()
	if err != nil {
		return nil, err
	}
	var g C.lt_tensor
	err = goError(C.lt_grad(h, &g))
	runtime.KeepAlive(t)
	if err != nil || g == nil {
		return nil, err
	}
	return newTensor(g), nil
}

// ZeroGrad drops the tensor's gradient (sets it to none, as PyTorch 2 does).
func (t *Tensor) ZeroGrad() error {
	h, err := t.handle()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(t)
	return goError(C.lt_zero_grad(h))
}

// Backward runs autograd from a scalar tensor.
func (t *Tensor) Backward() error {
	h, err := t.handle()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(t)
	return goError(C.lt_backward(h))
}

// CopyFrom copies src's values into t in place, outside autograd. Shapes must match.
func (t *Tensor) CopyFrom(src *Tensor) error {
	h, err := t.handle()
	if err != nil {
		return err
	}
	sh, err := src.handle()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(src)
	defer runtime.KeepAlive(t)
	return goError(C.lt_copy_(h, sh))
}

// Fill sets every element to v in place, outside autograd.
func (t *Tensor) Fill(v float64) error {
	h, err := t.handle()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(t)
	return goError(C.lt_fill_(h, C.double(v)))
}

// Orthogonal fills a 2-D (or more) tensor with a (semi-)orthogonal matrix
// scaled by gain, as torch.nn.init.orthogonal_.
func (t *Tensor) Orthogonal(gain float64) error {
	h, err := t.handle()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(t)
	return goError(C.lt_orthogonal_(h, C.double(gain)))
}
