package train

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/lago-rl/lago/bindings/torch"
)

func residentBytes(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("cannot read resident memory (%v); the memory test needs Linux /proc", err)
	}
	pages, err := strconv.ParseInt(strings.Fields(string(b))[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}

// TestTrainingMemoryIsFlat runs 10k training steps (with an evaluation
// every 500) and checks that neither libtorch tensors nor resident memory
// grow after warm-up.
func TestTrainingMemoryIsFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("10k-step memory test skipped in -short mode")
	}
	const steps, warmup, allowedGrowth = 10_000, 1_000, 16 << 20
	c := smallConfig(t)
	c.Steps = steps + 1
	tr, err := New(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Free()
	var live0, rss0 int64
	for step := 1; step <= steps; step++ {
		if _, _, _, err := tr.Step(); err != nil {
			t.Fatal(err)
		}
		if step%500 == 0 {
			if _, _, err := tr.Evaluate(); err != nil {
				t.Fatal(err)
			}
		}
		if step == warmup {
			runtime.GC()
			live0, rss0 = torch.LiveTensors(), residentBytes(t)
		}
	}
	runtime.GC()
	live, rss := torch.LiveTensors(), residentBytes(t)
	t.Logf("after %d steps: live tensors %d (warm-up %d), resident %.1f MB (warm-up %.1f MB)",
		steps, live, live0, float64(rss)/(1<<20), float64(rss0)/(1<<20))
	if live != live0 {
		t.Errorf("live tensors grew from %d to %d", live0, live)
	}
	if rss-rss0 > allowedGrowth {
		t.Errorf("resident memory grew by %.1f MB", float64(rss-rss0)/(1<<20))
	}
}
