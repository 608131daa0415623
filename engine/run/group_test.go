package run

import (
	"strings"
	"testing"

	"github.com/lago-rl/lago/bindings/torch"
)

// TestGroupSpecJoin covers how flags and the launcher's environment decide
// whether this process is a rank, up to forming the group (which the
// data-parallel tests of cmd/lago and engine/ppo do).
func TestGroupSpecJoin(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	spec := func(edit func(*GroupSpec)) GroupSpec {
		s := UnsetGroupSpec()
		if edit != nil {
			edit(&s)
		}
		return s
	}
	for _, c := range []struct {
		name   string
		spec   GroupSpec
		getenv func(string) string
		want   string // "" : a single process, no error
	}{
		{"nothing set", spec(nil), env(), ""},
		{"world of one", spec(nil), env("RANK", "0", "WORLD_SIZE", "1", "MASTER_ADDR", "h", "MASTER_PORT", "1"), ""},
		{"flags world of one", spec(func(s *GroupSpec) { s.Rank, s.WorldSize = 0, 1 }), env(), ""},
		{"slurm one task", spec(nil), env("SLURM_PROCID", "0", "SLURM_NTASKS", "1"), ""},
		{"env without master", spec(nil), env("RANK", "1", "WORLD_SIZE", "2"), "MASTER_ADDR is not set"},
		{"flags without master", spec(func(s *GroupSpec) { s.Rank, s.WorldSize = 1, 2 }), env(), "needs MASTER_ADDR and MASTER_PORT (or -master-addr, -master-port), or -dist-store FILE"},
		{"rank without world", spec(func(s *GroupSpec) { s.Rank = 1 }), env(), "-rank 1 -world-size -1: want 0 <= rank < world size"},
		{"rank outside world", spec(func(s *GroupSpec) { s.Rank, s.WorldSize = 2, 2 }), env(), "want 0 <= rank < world size"},
		{"unknown backend", spec(func(s *GroupSpec) { s.Backend = "mpi" }), env(), `unknown backend "mpi": want one of auto, gloo, nccl`},
		{"no timeout", spec(func(s *GroupSpec) { s.Timeout = 0 }), env(), "dist timeout 0s"},
	} {
		g, _, err := c.spec.Join(c.getenv, torch.CPU)
		switch {
		case g != nil:
			g.Close()
			t.Errorf("%s: formed a group", c.name)
		case c.want == "" && err != nil:
			t.Errorf("%s: %v, want a single process", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	if !strings.Contains(strings.Join(torch.DistBackends(), ","), "nccl") {
		s := spec(func(s *GroupSpec) { s.Rank, s.WorldSize, s.StoreFile, s.Backend = 0, 2, t.TempDir()+"/store", "nccl" })
		if _, _, err := s.Join(env(), torch.CPU); err == nil || !strings.Contains(err.Error(), "backend nccl is not in this build") {
			t.Errorf("nccl without NCCL: %v", err)
		}
	}
}

// TestRankGPU: each rank on a machine computes on its own GPU, as torchrun's
// do; more ranks than GPUs share them under gloo and are refused under nccl.
func TestRankGPU(t *testing.T) {
	for _, c := range []struct {
		local, count int
		backend      string
		want         int
		err          string
	}{
		{0, 1, "nccl", 0, ""},
		{3, 4, "nccl", 3, ""},
		{-1, 2, "gloo", 0, ""},
		{1, 1, "gloo", 0, ""},
		{5, 2, "gloo", 1, ""},
		{1, 1, "nccl", 0, "-nproc 1"},
		{0, 0, "gloo", 0, "no CUDA device"},
	} {
		got, err := rankGPU(c.local, c.count, c.backend)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("rankGPU(%d, %d, %s) = %d, %v; want an error with %q", c.local, c.count, c.backend, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("rankGPU(%d, %d, %s) = %d, %v; want %d", c.local, c.count, c.backend, got, err, c.want)
		}
	}
}
