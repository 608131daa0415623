package ppo

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/config"
)

func smallConfig(t *testing.T, envID string) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Device = "cpu"
	cfg.EnvID = envID
	cfg.NumEnvs = 4
	cfg.NumSteps = 16
	cfg.NumWorkers = 2
	cfg.TotalTimesteps = 4 * 16 * 6 // six iterations
	cfg.NormObs, cfg.NormReward = true, true
	return cfg
}

func params(t *testing.T, tr *Trainer) []float32 {
	t.Helper()
	var out []float32
	for _, p := range tr.Agent.Parameters() {
		v, err := torch.ToSlice[float32](p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v...)
	}
	return out
}

// TestResumeIsExact: N iterations, checkpoint, a fresh trainer restored from
// it, N more iterations — bit for bit the same parameters, step and metrics as
// 2N iterations straight (CPU, same seed).
func TestResumeIsExact(t *testing.T) {
	for _, id := range []string{"CartPole-v1", "Pendulum-v1"} {
		t.Run(id, func(t *testing.T) {
			cfg := smallConfig(t, id)
			straight, err := New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer straight.Close()
			var want []Metrics
			for !straight.Done() {
				m, err := straight.Iterate(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, m)
			}

			first, err := New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 3; i++ {
				if _, err := first.Iterate(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			path := filepath.Join(t.TempDir(), "ckpt")
			if err := first.SaveCheckpoint(path); err != nil {
				t.Fatal(err)
			}
			first.Close()

			second, err := New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer second.Close()
			if err := second.LoadCheckpoint(path); err != nil {
				t.Fatal(err)
			}
			for i := 3; !second.Done(); i++ {
				m, err := second.Iterate(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if m.GlobalStep != want[i].GlobalStep || m.PolicyLoss != want[i].PolicyLoss ||
					m.ValueLoss != want[i].ValueLoss || len(m.Episodes) != len(want[i].Episodes) {
					t.Fatalf("iteration %d differs after resume: %+v vs %+v", i+1, m, want[i])
				}
			}
			if second.GlobalStep != straight.GlobalStep {
				t.Fatalf("global step %d after resume, %d straight", second.GlobalStep, straight.GlobalStep)
			}
			a, b := params(t, straight), params(t, second)
			for i := range a {
				if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
					t.Fatalf("parameter %d: %v straight, %v resumed", i, a[i], b[i])
				}
			}
		})
	}
}

func TestCorruptCheckpointIsAClearError(t *testing.T) {
	cfg := smallConfig(t, "CartPole-v1")
	tr, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	good, err := tr.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)/2] ^= 0xff
	for name, data := range map[string][]byte{
		"flipped byte": flipped,
		"truncated":    good[:len(good)-100],
		"not lago":     []byte("PK\x03\x04 some zip file"),
		"empty":        nil,
	} {
		path := filepath.Join(t.TempDir(), "ckpt")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		err := tr.LoadCheckpoint(path)
		if !errors.Is(err, ErrCorruptCheckpoint) {
			t.Errorf("%s: %v, want ErrCorruptCheckpoint", name, err)
		} else if want := path; !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
	}
	// A checkpoint of another config is refused with advice.
	other := smallConfig(t, "CartPole-v1")
	other.TotalTimesteps *= 2
	tr2, err := New(other, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr2.Close()
	if err := tr2.Restore(good); err == nil || !strings.Contains(err.Error(), "config") {
		t.Fatalf("restoring into another config: %v", err)
	}
}
