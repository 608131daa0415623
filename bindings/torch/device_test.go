package torch

import (
	"strings"
	"testing"
)

func TestVersionAndDevices(t *testing.T) {
	if v := Version(); !strings.Contains(v, ".") {
		t.Fatalf("version %q", v)
	}
	if n := CUDADeviceCount(); (n > 0) != CUDAAvailable() {
		t.Fatalf("CUDA available %v with %d devices", CUDAAvailable(), n)
	}
	name, err := DeviceName(CPU)
	if err != nil || name != "CPU" {
		t.Fatalf("DeviceName(CPU) = %q, %v", name, err)
	}
	for _, c := range []struct {
		in   string
		want Device
		ok   bool
	}{
		{"cpu", CPU, true},
		{"CPU", CPU, true},
		{"gpu", CPU, false},
		{"cuda:x", CPU, false},
		{"cuda", CUDA(0), CUDAAvailable()},
		{"auto", map[bool]Device{true: CUDA(0), false: CPU}[CUDAAvailable()], true},
	} {
		got, err := ParseDevice(c.in)
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("ParseDevice(%q) = %v, %v; want %v, ok %v", c.in, got, err, c.want, c.ok)
		}
	}
}

// TestSetDefaultCUDA: a device that does not exist is refused, and then
// "cuda" and "auto" still mean what they did.
func TestSetDefaultCUDA(t *testing.T) {
	if err := SetDefaultCUDA(CUDADeviceCount()); err == nil || !strings.Contains(err.Error(), "device(s) exist") {
		t.Fatalf("SetDefaultCUDA(%d) = %v; want an error naming the count", CUDADeviceCount(), err)
	}
	if err := SetDefaultCUDA(-1); err == nil {
		t.Fatal("SetDefaultCUDA(-1) took")
	}
	want := CPU
	if CUDAAvailable() {
		want = CUDA(0)
	}
	if d, err := ParseDevice("auto"); err != nil || d != want {
		t.Fatalf("ParseDevice(auto) = %v, %v after refused defaults; want %v", d, err, want)
	}
	if !CUDAAvailable() {
		t.Skip("no CUDA device: the default cannot be moved here (CPU-only libtorch); the refusals were checked")
	}
	last := CUDADeviceCount() - 1
	if err := SetDefaultCUDA(last); err != nil {
		t.Fatal(err)
	}
	defer SetDefaultCUDA(0)
	for _, s := range []string{"cuda", "auto"} {
		if d, err := ParseDevice(s); err != nil || d != CUDA(last) {
			t.Errorf("ParseDevice(%s) = %v, %v after SetDefaultCUDA(%d)", s, d, err, last)
		}
	}
	if d, err := ParseDevice("cuda:0"); err != nil || d != CUDA(0) {
		t.Errorf("ParseDevice(cuda:0) = %v, %v; an explicit index must win", d, err)
	}
}

func TestCUDADevice(t *testing.T) {
	if !CUDAAvailable() {
		t.Skipf("no CUDA device: libtorch %s was built without CUDA or sees no GPU; the other tests ran on CPU", Version())
	}
	name, err := DeviceName(CUDA(0))
	if err != nil || name == "" {
		t.Fatalf("DeviceName(cuda:0) = %q, %v", name, err)
	}
	t.Logf("cuda:0 is %s", name)
	s := NewScope()
	defer s.Close()
	x := FromSliceIn(s, []float32{1, 2, 3}, []int64{3}, CUDA(0))
	y := s.To(s.MulS(x, 2), CPU, Float32)
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	if x.Device() != CUDA(0) || y.Device() != CPU {
		t.Fatalf("devices %v, %v", x.Device(), y.Device())
	}
	if got := values32(t, y); got[2] != 6 {
		t.Fatalf("got %v", got)
	}
	// A shape error on CUDA comes back as an error, not a crash. (Device-side
	// asserts, such as an out-of-range gather, would poison the CUDA context
	// for the rest of the process, so they are not provoked here.)
	s.Matmul(s.Unsqueeze(x, 0), s.Unsqueeze(x, 0))
	if s.Err() == nil || !strings.Contains(s.Err().Error(), "[1 3]") {
		t.Fatalf("shape error on CUDA: %v", s.Err())
	}
}

// SetNumThreads owns OpenBLAS's pool as well as libtorch's threads: before
// it did, only the fused PPO step and the language-model scorer set the
// pool, and every other path's GEMMs forked over all cores.
func TestSetNumThreadsSetsBLASThreads(t *testing.T) {
	if BLASThreads() == 0 {
		t.Skip("libtorch's BLAS is not OpenBLAS")
	}
	prev := NumThreads()
	defer SetNumThreads(prev)
	for _, n := range []int{1, 2, 1} {
		if err := SetNumThreads(n); err != nil {
			t.Fatal(err)
		}
		if got, blas := NumThreads(), BLASThreads(); got != n || blas != n {
			t.Errorf("after SetNumThreads(%d): libtorch %d threads, OpenBLAS %d", n, got, blas)
		}
	}
}
