package torch

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// residentBytes reads this process's resident set size from /proc.
func residentBytes(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("cannot read resident memory on this OS (%v); the memory test needs Linux /proc", err)
	}
	fields := strings.Fields(string(b))
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}

// TestLongTrainingMemoryIsFlat runs 50k forward+backward+Adam steps of a
// PPO-sized network and checks that neither libtorch tensors nor resident
// memory grow after warm-up: every temporary is freed deterministically.
func TestLongTrainingMemoryIsFlat(t *testing.T) {
	const (
		steps  = 50_000
		warmup = 5_000
		// Allocator noise (glibc arenas, Go heap) stays well under this; a leak of
		// one 64x64 float32 tensor per step would be 800 MB.
		allowedGrowth = 16 << 20
	)
	d := testDevice(t)
	if err := ManualSeed(1); err != nil {
		t.Fatal(err)
	}
	m, err := NewMLP([]int{8, 64, 64, 4}, Tanh, Sqrt2, 0.01, Float32, d)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	opt, err := NewAdam(m.Parameters(), DefaultAdam(1e-4, 1e-5))
	if err != nil {
		t.Fatal(err)
	}
	defer opt.Free()
	obs := make([]float32, 32*8)
	for i := range obs {
		obs[i] = float32(i%17) / 17
	}
	actions := make([]int64, 32)
	for i := range actions {
		actions[i] = int64(i % 4)
	}
	s := NewScope()
	var liveAtWarmup, rssAtWarmup int64
	for step := 0; step < steps; step++ {
		x := FromSliceIn(s, obs, []int64{32, 8}, d)
		a := FromSliceIn(s, actions, []int64{32, 1}, d)
		logp := s.Gather(s.LogSoftmax(m.Forward(s, x), -1), 1, a)
		s.Backward(s.Neg(s.Mean(logp)))
		if s.Err() != nil {
			t.Fatalf("step %d: %v", step, s.Err())
		}
		if _, err := ClipGradNorm(m.Parameters(), 0.5); err != nil {
			t.Fatal(err)
		}
		if err := opt.Step(); err != nil {
			t.Fatal(err)
		}
		if err := opt.ZeroGrad(); err != nil {
			t.Fatal(err)
		}
		s.Reset()
		if step == warmup {
			runtime.GC()
			liveAtWarmup, rssAtWarmup = LiveTensors(), residentBytes(t)
		}
	}
	runtime.GC()
	live, rss := LiveTensors(), residentBytes(t)
	t.Logf("after %d steps: live tensors %d (warm-up %d), resident %.1f MB (warm-up %.1f MB)",
		steps, live, liveAtWarmup, float64(rss)/(1<<20), float64(rssAtWarmup)/(1<<20))
	if live != liveAtWarmup {
		t.Fatalf("live tensors grew from %d to %d", liveAtWarmup, live)
	}
	if rss-rssAtWarmup > allowedGrowth {
		t.Fatalf("resident memory grew by %.1f MB over %d steps", float64(rss-rssAtWarmup)/(1<<20), steps-warmup)
	}
}
