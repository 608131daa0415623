// Package torch is lago's Go face of libtorch: tensors, autograd, small
// modules, Adam and checkpoints, over the C ABI shim in ../shim (built by
// CMake into build/lib/liblagotorch.so; run `make` at the repository root).
//
// It is the only package in lago that imports "C" for libtorch. Every call
// that can fail returns an error; no C++ exception reaches Go.
//
// Memory: a *Tensor owns a libtorch tensor until Free. Temporaries belong to a
// Scope, which frees them all at Close. A finaliser (runtime.AddCleanup) frees
// tensors that were dropped without Free, but only as a safety net: the GC
// does not see libtorch's memory, so code must free deterministically.
//
// Threads: libtorch's grad mode is per OS thread. NoGrad pins the calling
// goroutine to its thread for the duration; training code should run all its
// torch calls from one goroutine.
package torch

/*
#cgo CFLAGS: -I${SRCDIR}/../shim
#cgo LDFLAGS: -L${SRCDIR}/../../build/lib -Wl,-rpath,${SRCDIR}/../../build/lib -llagotorch
#include <stdlib.h>
#include "lago_torch.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"unsafe"
)

// goError converts a shim error into a Go error and releases the C string.
func goError(e C.lt_error) error {
	if e == nil {
		return nil
	}
	msg := C.GoString(e)
	C.lt_error_free(e)
	return errors.New("torch: " + msg)
}

// Version is the version of the libtorch lago was built against.
func Version() string { return C.GoString(C.lt_torch_version()) }

// CUDAAvailable reports whether libtorch sees a usable CUDA device.
func CUDAAvailable() bool { return C.lt_cuda_is_available() != 0 }

// CUDADeviceCount is the number of CUDA devices libtorch sees.
func CUDADeviceCount() int { return int(C.lt_cuda_device_count()) }

// LiveTensors counts the libtorch tensors this process holds through the
// shim; tests use it to prove that code frees what it makes.
func LiveTensors() int64 { return int64(C.lt_live_tensors()) }

// ManualSeed seeds the default generators of every device.
func ManualSeed(seed uint64) error { return goError(C.lt_manual_seed(C.uint64_t(seed))) }

// SetNumThreads sets libtorch's intra-op thread count (OpenMP's, per OS
// thread) and, when libtorch's BLAS is OpenBLAS (Debian's), OpenBLAS's
// thread pool, which at::set_num_threads leaves alone and which is
// process-wide: the last call sets it for every thread. It is lago's one
// place setting either, so every path (the fused PPO step, the op-by-op
// regularisers and data-parallel ranks, the language-model scorer) runs
// its GEMMs with the threads it asked for.
func SetNumThreads(n int) error { return goError(C.lt_set_num_threads(C.int(n))) }

// NumThreads is libtorch's intra-op thread count.
func NumThreads() int { return int(C.lt_get_num_threads()) }

// BLASThreads is OpenBLAS's thread count, 0 when libtorch's BLAS is not
// OpenBLAS.
func BLASThreads() int { return int(C.lt_blas_num_threads()) }

// SetDeterministic makes libtorch use deterministic algorithms (or fail).
func SetDeterministic(on bool) error { return goError(C.lt_set_deterministic(cBool(on))) }

// NoGrad runs f with autograd off on the calling OS thread, then restores the
// previous mode. The goroutine stays on its thread while f runs, so the mode
// cannot leak to other goroutines or miss f's own calls.
func NoGrad(f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var prev C.int
	C.lt_set_grad_enabled(0, &prev)
	defer C.lt_set_grad_enabled(prev, nil)
	return f()
}

// GradEnabled reports the grad mode of the calling OS thread.
func GradEnabled() bool { return C.lt_is_grad_enabled() != 0 }

// RNGState returns the default generator state of the device, for checkpoints.
func RNGState(d Device) ([]byte, error) {
	var buf *C.uint8_t
	var n C.size_t
	if err := goError(C.lt_rng_get_state(C.int(d), &buf, &n)); err != nil {
		return nil, err
	}
	defer C.lt_buffer_free(unsafe.Pointer(buf))
	return C.GoBytes(unsafe.Pointer(buf), C.int(n)), nil
}

// SetRNGState restores a state from RNGState.
func SetRNGState(d Device, state []byte) error {
	if len(state) == 0 {
		return errors.New("torch: empty RNG state")
	}
	return goError(C.lt_rng_set_state(C.int(d), (*C.uint8_t)(unsafe.Pointer(&state[0])), C.size_t(len(state))))
}

func cBool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// Device names where tensors live: CPU, or a CUDA device index.
type Device int

// CPU is the host device.
const CPU Device = -1

// CUDA is the i-th CUDA device.
func CUDA(i int) Device { return Device(i) }

// IsCUDA reports whether d is a CUDA device.
func (d Device) IsCUDA() bool { return d >= 0 }

func (d Device) String() string {
	if d < 0 {
		return "cpu"
	}
	return "cuda:" + strconv.Itoa(int(d))
}

// rankCUDA is the device "cuda" and "auto" name (SetDefaultCUDA).
var rankCUDA atomic.Int32

// SetDefaultCUDA makes "cuda" and "auto" mean cuda:i in ParseDevice for the
// rest of the process: what torch.cuda.set_device(LOCAL_RANK) does for a
// data-parallel rank, so that each rank on a machine computes on its own GPU
// while the config every rank shares says only "cuda". "cuda:N" is unchanged.
func SetDefaultCUDA(i int) error {
	if n := CUDADeviceCount(); i < 0 || i >= n {
		return fmt.Errorf("torch: default CUDA device %d asked for, but %d CUDA device(s) exist", i, n)
	}
	rankCUDA.Store(int32(i))
	return nil
}

// ParseDevice reads "cpu", "cuda", "cuda:N" or "auto" (CUDA when available,
// else CPU); "cuda" and "auto" name cuda:0 unless SetDefaultCUDA chose
// another. Asking for CUDA where there is none is an error that says so.
func ParseDevice(s string) (Device, error) {
	switch s := strings.ToLower(strings.TrimSpace(s)); {
	case s == "cpu":
		return CPU, nil
	case s == "auto":
		if CUDAAvailable() {
			return CUDA(int(rankCUDA.Load())), nil
		}
		return CPU, nil
	case s == "cuda" || strings.HasPrefix(s, "cuda:"):
		i := int(rankCUDA.Load())
		if s != "cuda" {
			n, err := strconv.Atoi(strings.TrimPrefix(s, "cuda:"))
			if err != nil || n < 0 {
				return CPU, fmt.Errorf("torch: bad device %q: want cpu, cuda, cuda:N or auto", s)
			}
			i = n
		}
		if !CUDAAvailable() {
			return CPU, fmt.Errorf("torch: device %q asked for, but libtorch %s sees no CUDA device (CPU-only build or no driver); use device = \"cpu\" or \"auto\"", s, Version())
		}
		if i >= CUDADeviceCount() {
			return CPU, fmt.Errorf("torch: device %q asked for, but only %d CUDA device(s) exist", s, CUDADeviceCount())
		}
		return CUDA(i), nil
	default:
		return CPU, fmt.Errorf("torch: unknown device %q: want cpu, cuda, cuda:N or auto", s)
	}
}

// DeviceName describes d for people: "CPU" or the CUDA device's name.
func DeviceName(d Device) (string, error) {
	if !d.IsCUDA() {
		return "CPU", nil
	}
	buf := make([]byte, 256)
	if err := goError(C.lt_cuda_device_name(C.int(d), (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))); err != nil {
		return "", err
	}
	return C.GoString((*C.char)(unsafe.Pointer(&buf[0]))), nil
}
