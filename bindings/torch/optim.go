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

// AdamOptions are torch.optim.Adam's settings.
type AdamOptions struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
}

// DefaultAdam is PyTorch's Adam with the given learning rate and eps
// (CleanRL passes eps=1e-5).
func DefaultAdam(lr, eps float64) AdamOptions {
	return AdamOptions{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: eps}
}

// Adam is torch::optim::Adam over a fixed list of parameters.
type Adam struct {
	h      C.lt_adam
	params []*Tensor
}

func handlesOf(params []*Tensor) ([]C.lt_tensor, error) {
	hs := make([]C.lt_tensor, len(params))
	for i, p := range params {
		h, err := p.handle()
		if err != nil {
			return nil, fmt.Errorf("parameter %d: %w", i, err)
		}
		hs[i] = h
	}
	return hs, nil
}

func firstHandle(hs []C.lt_tensor) *C.lt_tensor {
	if len(hs) == 0 {
		return nil
	}
	return &hs[0]
}

// NewAdam makes an optimiser over params (which must outlive it).
func NewAdam(params []*Tensor, o AdamOptions) (*Adam, error) {
	if len(params) == 0 {
		return nil, errors.New("torch: Adam over no parameters")
	}
	hs, err := handlesOf(params)
	if err != nil {
		return nil, err
	}
	var h C.lt_adam
	err = goError(C.lt_adam_new(firstHandle(hs), C.int(len(hs)), C.double(o.LR), C.double(o.Beta1),
		C.double(o.Beta2), C.double(o.Eps), C.double(o.WeightDecay), &h))
	runtime.KeepAlive(params)
	if err != nil {
		return nil, err
	}
	return &Adam{h: h, params: params}, nil
}

// Step applies one update from the parameters' gradients.
func (a *Adam) Step() error {
	if a == nil || a.h == nil {
		return ErrFreed
	}
	return goError(C.lt_adam_step(a.h))
}

// ZeroGrad drops the parameters' gradients.
func (a *Adam) ZeroGrad() error {
	if a == nil || a.h == nil {
		return ErrFreed
	}
	return goError(C.lt_adam_zero_grad(a.h))
}

// SetLR changes the learning rate (for annealing).
func (a *Adam) SetLR(lr float64) error {
	if a == nil || a.h == nil {
		return ErrFreed
	}
	return goError(C.lt_adam_set_lr(a.h, C.double(lr)))
}

// LR is the current learning rate.
func (a *Adam) LR() float64 {
	if a == nil || a.h == nil {
		return 0
	}
	return float64(C.lt_adam_get_lr(a.h))
}

// Params are the tensors the optimiser updates.
func (a *Adam) Params() []*Tensor { return a.params }

// Free releases the optimiser (not its parameters).
func (a *Adam) Free() {
	if a == nil || a.h == nil {
		return
	}
	C.lt_adam_free(a.h)
	a.h = nil
}

// ClipGradNorm scales the parameters' gradients so that their global L2 norm
// is at most maxNorm, and returns the norm before clipping.
func ClipGradNorm(params []*Tensor, maxNorm float64) (float64, error) {
	hs, err := handlesOf(params)
	if err != nil {
		return 0, err
	}
	var total C.double
	err = goError(C.lt_clip_grad_norm(firstHandle(hs), C.int(len(hs)), C.double(maxNorm), &total))
	runtime.KeepAlive(params)
	return float64(total), err
}

// SaveState serialises the parameters and, if opt is not nil, the optimiser's
// state into one libtorch archive.
func SaveState(params []*Tensor, opt *Adam) ([]byte, error) {
	hs, err := handlesOf(params)
	if err != nil {
		return nil, err
	}
	var oh C.lt_adam
	if opt != nil {
		oh = opt.h
	}
	var buf *C.uint8_t
	var n C.size_t
	err = goError(C.lt_save_state(firstHandle(hs), C.int(len(hs)), oh, &buf, &n))
	runtime.KeepAlive(params)
	runtime.KeepAlive(opt)
	if err != nil {
		return nil, err
	}
	defer C.lt_buffer_free(unsafe.Pointer(buf))
	return C.GoBytes(unsafe.Pointer(buf), C.int(n)), nil
}

// LoadState restores what SaveState wrote into params (same count and shapes)
// and, if opt is not nil, the optimiser's state.
func LoadState(data []byte, params []*Tensor, opt *Adam) error {
	if len(data) == 0 {
		return errors.New("torch: load_state: empty archive")
	}
	hs, err := handlesOf(params)
	if err != nil {
		return err
	}
	var oh C.lt_adam
	if opt != nil {
		oh = opt.h
	}
	err = goError(C.lt_load_state((*C.uint8_t)(unsafe.Pointer(&data[0])), C.size_t(len(data)),
		firstHandle(hs), C.int(len(hs)), oh))
	runtime.KeepAlive(params)
	runtime.KeepAlive(opt)
	return err
}
