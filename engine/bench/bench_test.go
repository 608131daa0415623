package bench

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestCartPoleUpdateWithoutPyTorch: the update row runs, reports
// samples/s at each thread count, and a python without torch is a skip
// recorded in the report, not an error.
func TestCartPoleUpdateWithoutPyTorch(t *testing.T) {
	var progress []string
	rep, err := Run(context.Background(), Options{
		ConfigDir: "../../configs", Filter: regexp.MustCompile("^update/cartpole$"), Duration: 50 * time.Millisecond,
		Reference: true, Python: "/nonexistent/python3", Script: "../../bench/reference/ppo_update.py",
		Progress: func(i, n int, name string) { progress = append(progress, name) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 1 || rep.Rows[0].Name != "update/cartpole" || rep.Rows[0].Value <= 0 || rep.Rows[0].Threads < 1 || rep.Rows[0].CPU <= 0 {
		t.Fatalf("rows %+v", rep.Rows)
	}
	if rep.Rows[0].Reference != 0 || !strings.Contains(rep.ReferenceSkipped, "python3-torch") {
		t.Fatalf("reference %v, skipped %q: want a skip naming python3-torch", rep.Rows[0].Reference, rep.ReferenceSkipped)
	}
	if len(progress) != 1 || progress[0] != "update/cartpole" {
		t.Fatalf("progress %v", progress)
	}
	var b bytes.Buffer
	if err := rep.WriteTable(&b); err != nil || !strings.Contains(b.String(), "reference: skipped") || !strings.Contains(b.String(), "update/cartpole") {
		t.Fatalf("table (%v):\n%s", err, b.String())
	}
}

// TestScriptedPrior: states/s, latency and the cache-hit cost of the
// scripted prior on CLEVR states.
func TestScriptedPrior(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: steps CLEVR-Robot in MuJoCo for seconds; run without -short")
	}
	rep, err := Run(context.Background(), Options{ConfigDir: "../../configs", Filter: regexp.MustCompile("^prior/scripted$"), Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 2 || rep.Rows[0].Unit != "states/s" || rep.Rows[0].Value <= 0 || rep.Rows[1].Unit != "ns/lookup" || !strings.Contains(rep.Rows[0].Note, "p95") {
		t.Fatalf("rows %+v", rep.Rows)
	}
}

func TestFilterMatchingNothingIsAnError(t *testing.T) {
	_, err := Run(context.Background(), Options{ConfigDir: "../../configs", Filter: regexp.MustCompile("^nothing$"), Duration: time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "update/cartpole") {
		t.Fatalf("err %v: want one listing the measurements", err)
	}
}

// TestRolloutRowsInBothModes: the env and rollout rows measure lockstep
// and async, each with its CPU-time rate, load and ratios to the env-only
// row of its mode and to one env per core.
func TestRolloutRowsInBothModes(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: steps CLEVR-Robot in MuJoCo for seconds; run without -short")
	}
	rep, err := Run(context.Background(), Options{ConfigDir: "../../configs", Filter: regexp.MustCompile("^(env|rollout)/clevr$"), Duration: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ name, versus string }{
		{"env/clevr/per-core", ""},
		{"env/clevr/vec", "env/clevr/per-core"},
		{"env/clevr/vec/async", "env/clevr/per-core"},
		{"rollout/clevr", "env/clevr/vec"},
		{"rollout/clevr/async", "env/clevr/vec/async"},
	}
	if len(rep.Rows) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(rep.Rows), len(want), rep.Rows)
	}
	for i, w := range want {
		r := rep.Rows[i]
		if r.Name != w.name || r.Versus != w.versus || r.Value <= 0 || r.PerCPU <= 0 || (w.versus != "" && (r.Ratio <= 0 || r.CPURatio <= 0)) {
			t.Errorf("row %d: %+v, want %s versus %q with its rates and ratios", i, r, w.name, w.versus)
		}
		if strings.HasPrefix(r.Name, "rollout/") && r.PerCore <= 0 {
			t.Errorf("row %s: no ratio to env/clevr/per-core", r.Name)
		}
	}
	var b bytes.Buffer
	if err := rep.WriteTable(&b); err != nil || !strings.Contains(b.String(), "rollout/clevr/async") || !strings.Contains(b.String(), "of per-core") {
		t.Fatalf("table (%v):\n%s", err, b.String())
	}
}
