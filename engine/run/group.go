package run

import (
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lago-rl/lago/bindings/torch"
)

// GroupSpec is where `lago train` sits in a data-parallel group: from flags
// or, for each one not given, from the environment as torchrun, Kubernetes'
// PyTorchJob and Slurm set it (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
// MASTER_PORT; or SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID).
type GroupSpec struct {
	// Rank, WorldSize, LocalRank, MasterAddr and MasterPort mean what the
	// variables of the same names mean; a negative Rank, WorldSize,
	// LocalRank or MasterPort, or an empty MasterAddr, is "not given".
	Rank, WorldSize, LocalRank int
	MasterAddr                 string
	MasterPort                 int
	// LocalWorldSize is the ranks on this machine, which share its cores
	// (LOCAL_WORLD_SIZE as torchrun sets it; 0: from the environment).
	LocalWorldSize int
	// StoreFile, when set, replaces the TCPStore rank 0 hosts at
	// MasterAddr:MasterPort by a file every rank can reach (one machine, or
	// a shared filesystem; torch's file:// init).
	StoreFile string
	// Backend is auto (nccl for a CUDA device where the shim has NCCL, else
	// gloo), gloo or nccl.
	Backend string
	// Timeout bounds the rendezvous and every collective: a rank that dies
	// or hangs makes the others fail within it, naming it.
	Timeout time.Duration
}

// Backends a GroupSpec may name.
var Backends = []string{"auto", "gloo", "nccl"}

// UnsetGroupSpec is a GroupSpec with nothing given.
func UnsetGroupSpec() GroupSpec {
	return GroupSpec{Rank: -1, WorldSize: -1, LocalRank: -1, MasterPort: -1, Backend: "auto", Timeout: torch.DefaultDistTimeout}
}

// Join forms the group s and the environment describe, for tensors on dev.
// It returns nil, and no error, for a single process (no rank given, or a
// world of one); cores is this rank's share of the machine's CPUs.
func (s GroupSpec) Join(getenv func(string) string, dev torch.Device) (g *torch.Group, cores int, err error) {
	if !slices.Contains(Backends, s.Backend) {
		return nil, 0, fmt.Errorf("run: unknown backend %q: want one of %s", s.Backend, strings.Join(Backends, ", "))
	}
	if s.Timeout <= 0 {
		return nil, 0, fmt.Errorf("run: dist timeout %v: want a positive duration", s.Timeout)
	}
	given := s.Rank >= 0 || s.WorldSize >= 0
	var e torch.DistEnv
	if !given {
		var ok bool
		if e, ok, err = torch.DistEnvFrom(getenv); err != nil || !ok {
			return nil, 0, err
		}
	} else {
		// Flags first; what they leave out comes from the environment.
		e = torch.DistEnv{Rank: s.Rank, WorldSize: s.WorldSize, LocalRank: s.LocalRank, MasterAddr: s.MasterAddr, MasterPort: s.MasterPort}
		if s.Rank < 0 || s.WorldSize < 1 || s.Rank >= s.WorldSize {
			return nil, 0, fmt.Errorf("run: -rank %d -world-size %d: want 0 <= rank < world size (give both)", s.Rank, s.WorldSize)
		}
		if e.LocalRank < 0 {
			e.LocalRank, _ = strconv.Atoi(getenv("LOCAL_RANK"))
		}
		if e.MasterAddr == "" {
			e.MasterAddr = getenv("MASTER_ADDR")
		}
		if e.MasterPort < 0 {
			e.MasterPort, _ = strconv.Atoi(getenv("MASTER_PORT"))
		}
	}
	if s.MasterAddr != "" {
		e.MasterAddr = s.MasterAddr
	}
	if s.MasterPort >= 0 {
		e.MasterPort = s.MasterPort
	}
	if e.WorldSize <= 1 {
		return nil, 0, nil
	}
	if s.StoreFile == "" && (e.MasterAddr == "" || e.MasterPort <= 0 || e.MasterPort > 65535) {
		return nil, 0, fmt.Errorf("run: rank %d of %d needs MASTER_ADDR and MASTER_PORT (or -master-addr, -master-port), or -dist-store FILE; have %q and %d",
			e.Rank, e.WorldSize, e.MasterAddr, e.MasterPort)
	}
	backend := s.Backend
	if backend == "auto" {
		backend = torch.DefaultBackend(dev)
	}
	if !slices.Contains(torch.DistBackends(), backend) {
		return nil, 0, fmt.Errorf("run: backend %s is not in this build of lago's shim (it has: %s); nccl needs a libtorch with CUDA and nccl.h at build time",
			backend, strings.Join(torch.DistBackends(), ", "))
	}
	local := s.LocalWorldSize
	if local <= 0 {
		local, _ = strconv.Atoi(getenv("LOCAL_WORLD_SIZE"))
	}
	if local > 0 {
		cores = max(1, runtime.NumCPU()/local)
	}
	d := torch.CPU
	if dev.IsCUDA() {
		i, err := rankGPU(e.LocalRank, torch.CUDADeviceCount(), backend)
		if err != nil {
			return nil, 0, fmt.Errorf("run: rank %d of %d: %w", e.Rank, e.WorldSize, err)
		}
		// Every tensor of this rank, the prior's too, goes to its own GPU.
		if err := torch.SetDefaultCUDA(i); err != nil {
			return nil, 0, fmt.Errorf("run: rank %d of %d: %w", e.Rank, e.WorldSize, err)
		}
		d = torch.CUDA(i)
	}
	o := e.GroupOptions(backend, s.Timeout, d)
	o.StoreFile = s.StoreFile
	g, err = torch.NewGroup(o)
	if err != nil {
		return nil, 0, fmt.Errorf("run: rank %d of %d: %w", e.Rank, e.WorldSize, err)
	}
	return g, cores, nil
}

// rankGPU is the CUDA device of the rank with index local on a machine with
// count GPUs: its own, as torchrun's ranks take cuda:LOCAL_RANK. Ranks beyond
// count share GPUs round-robin under gloo; nccl refuses two ranks on one GPU,
// so there it is an error that says what to change.
func rankGPU(local, count int, backend string) (int, error) {
	if count <= 0 {
		return 0, fmt.Errorf("device cuda asked for, but no CUDA device is visible")
	}
	local = max(local, 0)
	if local < count {
		return local, nil
	}
	if backend == "nccl" {
		return 0, fmt.Errorf("local rank %d needs a GPU of its own under nccl, but this machine shows %d; run at most %d ranks per machine (-nproc %d), or share GPUs with -dist-backend gloo",
			local, count, count, count)
	}
	return local % count, nil
}
