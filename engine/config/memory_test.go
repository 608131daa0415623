package config

import (
	"strings"
	"testing"
)

// withAvailable makes the machine appear to have avail bytes available.
func withAvailable(t *testing.T, avail int64, known bool) {
	t.Helper()
	old := availableMemory
	availableMemory = func() (int64, bool) { return avail, known }
	t.Cleanup(func() { availableMemory = old })
}

func TestMemoryCheckRefusesWhatCannotFit(t *testing.T) {
	withAvailable(t, 4<<30, true) // a 4 GiB machine
	cases := []struct {
		name     string
		numEnvs  int
		numSteps int
		ok       bool
	}{
		{"default", 4, 128, true},
		{"large but fits", 1024, 2048, true},               // 2M samples: ~0.1 GiB
		{"issue 11 point 8", 100000, 128, true},            // 12.8M samples: ~0.6 GiB, fits 4 GiB
		{"a billion samples", 100000, 10000, false},        // ~50 GiB of buffers
		{"envs alone", 50_000_000, 1, false},               // ~15 GiB of envs
		{"overflow-free product", 1 << 20, 1 << 20, false}, // 2^40 samples
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Default()
			cfg.NumEnvs, cfg.NumSteps, cfg.NumMinibatches = c.numEnvs, c.numSteps, 1
			cfg.TotalTimesteps = int64(c.numEnvs) * int64(c.numSteps)
			err := cfg.Validate()
			if c.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted a config that cannot fit 4 GiB")
			}
			for _, want := range []string{"config keys num_envs and num_steps", "GiB", "MemAvailable", "lower num_envs or num_steps"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

func TestMemoryCheckUsesTheEnvsFootprint(t *testing.T) {
	withAvailable(t, 1<<30, true)
	cfg := Default()
	cfg.NumEnvs, cfg.NumSteps = 1000, 1000 // 1M samples
	if err := cfg.CheckMemory(MinFootprint); err != nil {
		t.Fatalf("1M samples of the smallest env refused on 1 GiB: %v", err)
	}
	// A 40-action prior row per sample and 1000-float observations do not.
	big := Footprint{ObsDim: 1000, ActDim: 1, PriorActions: 40}
	if err := cfg.CheckMemory(big); err == nil {
		t.Fatal("1M samples of 1000-float observations (8 GB) accepted on 1 GiB")
	}
	// Envs with a large native state count per env.
	cfg.NumSteps = 1
	if err := cfg.CheckMemory(Footprint{ObsDim: 1, ActDim: 1, EnvBytes: 2 << 20}); err == nil {
		t.Fatal("1000 envs of 2 MiB accepted on 1 GiB")
	}
	rollout, envs := cfg.MemoryEstimate(MinFootprint)
	if rollout <= 0 || envs <= 0 {
		t.Fatalf("estimate %v, %v", rollout, envs)
	}
}

func TestMemoryCheckWithoutMeminfo(t *testing.T) {
	withAvailable(t, 0, false)
	cfg := Default()
	cfg.NumEnvs, cfg.NumSteps, cfg.NumMinibatches = 1<<20, 1<<20, 1
	cfg.TotalTimesteps = 1 << 40
	if err := cfg.Validate(); err != nil {
		t.Fatalf("refused where the available memory is unknown: %v", err)
	}
}

func TestMemAvailable(t *testing.T) {
	cases := []struct {
		text string
		want int64
		ok   bool
	}{
		{"MemTotal:       24683620 kB\nMemFree:        21854672 kB\nMemAvailable:   23031180 kB\n", 23031180 * 1024, true},
		{"MemTotal:       24683620 kB\nMemFree:        21854672 kB\n", 0, false}, // kernels before 3.14
		{"MemAvailable:   lots kB\n", 0, false},
		{"MemAvailable:   12 MB\n", 0, false},
		{"", 0, false},
	}
	for _, c := range cases {
		got, ok := memAvailable([]byte(c.text))
		if got != c.want || ok != c.ok {
			t.Errorf("memAvailable(%q) = %d, %v; want %d, %v", c.text, got, ok, c.want, c.ok)
		}
	}
	if avail, ok := availableMemory(); ok && avail <= 0 {
		t.Fatalf("this machine: %d bytes available", avail)
	}
}
