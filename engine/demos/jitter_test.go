package demos

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestJitteredCeiling(t *testing.T) {
	dir, m := buildDataset(t, "clevr-rel-v1")
	_, states, err := ReadDataset(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) < 10 {
		t.Fatalf("only %d held-out states", len(states))
	}
	ctx := context.Background()

	// With no room to move, every draw is the recorded state itself, so the
	// expert answers as it did when the demonstrations were collected.
	still, err := JitteredTextCeiling(ctx, m, states, JitterConfig{Draws: 2, Sweeps: 1, Step: 0, Seed: 1, Workers: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if still.Agreement != 1 || still.DrawAgreement != 1 || still.Acceptance != 1 || still.States != len(states) {
		t.Errorf("step 0: %+v, want agreement, draw agreement and acceptance 1 on %d states", still, len(states))
	}

	// Within a grid cell the chain moves, and the result depends on the
	// seed and the state, not on the workers.
	cfg := JitterConfig{Draws: 5, Sweeps: 2, Step: 0.02, Seed: 3, Workers: 1}
	one, err := JitteredTextCeiling(ctx, m, states, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Workers = 3
	calls := 0
	three, err := JitteredTextCeiling(ctx, m, states, cfg, func(done int) {
		calls++
		if done != calls {
			t.Errorf("progress %d at call %d", done, calls)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if one != three {
		t.Errorf("1 worker %+v, 3 workers %+v", one, three)
	}
	if calls == 0 || calls > len(states) {
		t.Errorf("%d progress calls for %d states", calls, len(states))
	}
	if one.Acceptance <= 0.05 || one.Acceptance >= 0.95 {
		t.Errorf("acceptance %.3f: moves of up to 2 cm on a 1-2 cm text should keep the text often but not always", one.Acceptance)
	}
	if one.Agreement < 0.3 || one.Agreement > 1 || one.DrawAgreement > 1 {
		t.Errorf("jittered %+v", one)
	}
	if one.StdErr <= 0 && one.Agreement < 1 {
		t.Errorf("standard error %v", one.StdErr)
	}

	// Bad settings and missing demonstrations are named.
	for _, c := range []struct {
		cfg  JitterConfig
		want string
	}{
		{JitterConfig{Draws: 0, Sweeps: 1, Step: 0.02}, "draws 0"},
		{JitterConfig{Draws: 1, Sweeps: 0, Step: 0.02}, "sweeps 0"},
		{JitterConfig{Draws: 1, Sweeps: 1, Step: -1}, "step -1"},
	} {
		if _, err := JitteredTextCeiling(ctx, m, states, c.cfg, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one naming %q", c.cfg, err, c.want)
		}
	}
	gone := m
	gone.Demos = filepath.Join(t.TempDir(), "no-demos")
	if _, err := JitteredTextCeiling(ctx, gone, states, cfg, nil); err == nil || !strings.Contains(err.Error(), gone.Demos) {
		t.Errorf("missing demonstrations: error %v, want one naming %s", err, gone.Demos)
	}
	if _, err := os.Stat(gone.Demos); err == nil {
		t.Fatal("the test's missing directory exists")
	}
}
