package torch

/*
#include <stdlib.h>
#include "lago_dist.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// Data parallelism over torch's own distributed engine, c10d: a Group of
// processes (ranks) formed by TCPStore rendezvous, with collectives through
// ProcessGroupGloo on CPU (or ProcessGroupNCCL on CUDA where the shim was
// built with it; untested so far). Every rank must call the same collectives
// in the same order with tensors of the same shapes; a Group is used from
// one goroutine.

// ReduceOp is how a collective combines the ranks' values.
type ReduceOp int

// The reductions the shim offers. ReduceAvg is a sum divided by the world
// size (Gloo has no average of its own).
const (
	ReduceSum ReduceOp = C.LT_REDUCE_SUM
	ReduceAvg ReduceOp = C.LT_REDUCE_AVG
	ReduceMax ReduceOp = C.LT_REDUCE_MAX
	ReduceMin ReduceOp = C.LT_REDUCE_MIN
)

func (op ReduceOp) String() string {
	switch op {
	case ReduceSum:
		return "sum"
	case ReduceAvg:
		return "avg"
	case ReduceMax:
		return "max"
	case ReduceMin:
		return "min"
	}
	return "reduce(" + strconv.Itoa(int(op)) + ")"
}

// DefaultDistTimeout bounds the rendezvous and every collective when
// GroupOptions.Timeout is zero. It must exceed the longest time one rank can
// spend between collectives while the others wait (a rollout, a checkpoint).
const DefaultDistTimeout = 5 * time.Minute

// DistBackends are the backends this shim was built with: [gloo], [gloo
// nccl], or none when the c10d/Gloo headers were missing at build time.
func DistBackends() []string {
	s := C.GoString(C.lt_dist_backends())
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// DefaultBackend is the backend for tensors on d: nccl for a CUDA device
// when the shim has it, else gloo.
func DefaultBackend(d Device) string {
	if d.IsCUDA() {
		for _, b := range DistBackends() {
			if b == "nccl" {
				return b
			}
		}
	}
	return "gloo"
}

// GroupOptions say where this process sits in a group and how to reach it.
type GroupOptions struct {
	// Backend is "gloo" (CPU tensors) or "nccl" (CUDA tensors); "" is gloo.
	// DefaultBackend picks one for a device.
	Backend string
	// Rank is this process's index in 0..WorldSize-1; rank 0 hosts the
	// rendezvous store at MasterPort.
	Rank, WorldSize int
	// MasterAddr:MasterPort is where every rank finds the TCPStore rank 0
	// hosts. libtorch 1.13's TCPStore listens on every interface, not only
	// MasterAddr's.
	MasterAddr string
	MasterPort int
	// StoreFile, when set, replaces the TCPStore by a file all ranks share
	// (c10d's FileStore, torch's file:// init): for ranks on one machine or a
	// shared filesystem; then only the Gloo transport listens, on 127.0.0.1
	// when MasterAddr is empty or a loopback address. The file must be new.
	StoreFile string
	// Timeout bounds each collective (0: DefaultDistTimeout).
	Timeout time.Duration
	// JoinTimeout bounds the rendezvous (0: Timeout): launchers may start
	// ranks minutes apart, while a short Timeout finds a lost rank fast.
	JoinTimeout time.Duration
	// Device is this rank's CUDA device, for nccl (gloo ignores it).
	Device Device
}

// Group is one process's membership in a data-parallel group.
type Group struct {
	h       C.lt_dist
	rank    int
	size    int
	backend string
}

// NewGroup joins the group: it returns once all WorldSize ranks have joined,
// or with an error naming the ranks that did not within the join timeout.
func NewGroup(o GroupOptions) (*Group, error) {
	backend := o.Backend
	if backend == "" {
		backend = "gloo"
	}
	device := CPU
	if backend == "nccl" {
		device = o.Device
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = DefaultDistTimeout
	}
	// A peer that dies leaves sockets whose next write raises SIGPIPE on a
	// gloo thread, which Go does not own: the default action killed the
	// survivor before its collective could fail and name the lost rank
	// (seen once in CI as "signal: broken pipe"). Ignored, the write
	// returns EPIPE, gloo throws, and the shim returns it as an error.
	signal.Ignore(syscall.SIGPIPE)
	cb := C.CString(backend)
	defer C.free(unsafe.Pointer(cb))
	ca := C.CString(o.MasterAddr)
	defer C.free(unsafe.Pointer(ca))
	cf := C.CString(o.StoreFile)
	defer C.free(unsafe.Pointer(cf))
	var h C.lt_dist
	err := goError(C.lt_dist_new(cb, C.int(o.Rank), C.int(o.WorldSize), ca, C.int(o.MasterPort), cf,
		C.int64_t(timeout.Milliseconds()), C.int64_t(o.JoinTimeout.Milliseconds()), C.int(device), &h))
	if err != nil {
		return nil, err
	}
	return &Group{h: h, rank: o.Rank, size: o.WorldSize, backend: backend}, nil
}

// Rank is this process's index in the group.
func (g *Group) Rank() int { return g.rank }

// Size is the number of ranks.
func (g *Group) Size() int { return g.size }

// Backend is "gloo" or "nccl".
func (g *Group) Backend() string { return g.backend }

var errGroupClosed = errors.New("torch: use of a closed process group")

// Close leaves the group without waiting for the others (call Barrier first
// to leave together). Closing twice is harmless.
func (g *Group) Close() {
	if g == nil || g.h == nil {
		return
	}
	C.lt_dist_free(g.h)
	g.h = nil
}

func (g *Group) handle() (C.lt_dist, error) {
	if g == nil || g.h == nil {
		return nil, errGroupClosed
	}
	return g.h, nil
}

// onTensors runs one collective over the handles of ts, keeping ts alive
// until the shim call returns.
func (g *Group) onTensors(ts []*Tensor, call func(h C.lt_dist, first *C.lt_tensor, n C.int) C.lt_error) error {
	h, err := g.handle()
	if err != nil {
		return err
	}
	hs, err := handlesOf(ts)
	if err != nil {
		return err
	}
	err = goError(call(h, firstHandle(hs), C.int(len(hs))))
	runtime.KeepAlive(ts)
	return err
}

// Broadcast copies root's tensors into every rank's, in place, as one flat
// buffer: Broadcast(params, 0) gives every rank rank 0's initial parameters.
func (g *Group) Broadcast(ts []*Tensor, root int) error {
	return g.onTensors(ts, func(h C.lt_dist, first *C.lt_tensor, n C.int) C.lt_error {
		return C.lt_dist_broadcast(h, first, n, C.int(root))
	})
}

// AllReduce reduces the tensors element-wise over all ranks, in place, as
// one flat buffer and one collective.
func (g *Group) AllReduce(ts []*Tensor, op ReduceOp) error {
	return g.onTensors(ts, func(h C.lt_dist, first *C.lt_tensor, n C.int) C.lt_error {
		return C.lt_dist_allreduce(h, first, n, C.int(op))
	})
}

// AllReduceGrads reduces the gradients of params over all ranks in one
// collective: AllReduceGrads(params, ReduceAvg) after Backward and before
// the optimiser's Step is data-parallel SGD. Every parameter needs a
// gradient.
func (g *Group) AllReduceGrads(params []*Tensor, op ReduceOp) error {
	return g.onTensors(params, func(h C.lt_dist, first *C.lt_tensor, n C.int) C.lt_error {
		return C.lt_dist_allreduce_grads(h, first, n, C.int(op))
	})
}

// AllReduceFloat64 reduces v over all ranks, in place: global statistics
// such as sums for a mean and variance, episode counts, steps per second.
func (g *Group) AllReduceFloat64(v []float64, op ReduceOp) error {
	h, err := g.handle()
	if err != nil {
		return err
	}
	if len(v) == 0 {
		return errors.New("torch: dist_allreduce_f64: no values")
	}
	// The shim reads and writes v during the call only; cgo lets it, as v
	// holds no Go pointers.
	return goError(C.lt_dist_allreduce_f64(h, (*C.double)(unsafe.Pointer(&v[0])), C.int(len(v)), C.int(op)))
}

// Any is true on every rank when v is true on any: a decision one rank may
// come to alone (a Ctrl-C reaches the ranks at different steps) taken by all
// at the same point, so that none waits in a collective for one that left.
func (g *Group) Any(v bool) (bool, error) {
	x := []float64{0}
	if v {
		x[0] = 1
	}
	if err := g.AllReduceFloat64(x, ReduceMax); err != nil {
		return false, err
	}
	return x[0] > 0, nil
}

// Barrier returns once every rank has entered it.
func (g *Group) Barrier() error {
	h, err := g.handle()
	if err != nil {
		return err
	}
	return goError(C.lt_dist_barrier(h))
}

// DistEnv is this process's place in a group as a launcher describes it.
type DistEnv struct {
	Rank, WorldSize int
	// LocalRank is the rank's index on its own machine: the CUDA device it
	// should use.
	LocalRank  int
	MasterAddr string
	MasterPort int
	// Source names the variables read: "torchrun" (RANK, WORLD_SIZE,
	// LOCAL_RANK) or "slurm" (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID).
	Source string
}

// GroupOptions are the options to join the group e describes.
func (e DistEnv) GroupOptions(backend string, timeout time.Duration, d Device) GroupOptions {
	return GroupOptions{Backend: backend, Rank: e.Rank, WorldSize: e.WorldSize, MasterAddr: e.MasterAddr,
		MasterPort: e.MasterPort, Timeout: timeout, Device: d}
}

// DistEnvFrom reads a group's description from the environment (getenv is
// os.Getenv outside tests) the way torchrun, Kubernetes' PyTorchJob and
// Slurm set it: RANK, WORLD_SIZE and LOCAL_RANK, or else SLURM_PROCID,
// SLURM_NTASKS and SLURM_LOCALID; plus MASTER_ADDR and MASTER_PORT, which
// every launcher needs. ok is false when neither RANK, WORLD_SIZE nor
// SLURM_PROCID is set, or Slurm says SLURM_NTASKS=1: a single process. A
// missing or malformed variable is an error naming it.
//
// Under Slurm every rank must be a task that srun started: a batch script's
// own shell also has SLURM_PROCID=0 and would wait, as rank 0, for ranks
// that never come (the rendezvous then fails naming them).
func DistEnvFrom(getenv func(string) string) (e DistEnv, ok bool, err error) {
	rankVar, sizeVar, localVar := "RANK", "WORLD_SIZE", "LOCAL_RANK"
	e.Source = "torchrun"
	if getenv("RANK") == "" && getenv("WORLD_SIZE") == "" {
		if getenv("SLURM_PROCID") == "" {
			return DistEnv{}, false, nil
		}
		rankVar, sizeVar, localVar = "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"
		e.Source = "slurm"
	}
	num := func(name string, required bool, def, lo, hi int) (int, error) {
		s := strings.TrimSpace(getenv(name))
		if s == "" {
			if required {
				return 0, fmt.Errorf("torch: environment variable %s is not set (a %s launch needs %s, %s, MASTER_ADDR and MASTER_PORT)",
					name, e.Source, rankVar, sizeVar)
			}
			return def, nil
		}
		v, err := strconv.Atoi(s)
		if err != nil {
			return 0, fmt.Errorf("torch: environment variable %s=%q: not an integer", name, s)
		}
		if v < lo || v > hi {
			return 0, fmt.Errorf("torch: environment variable %s=%d: want %d..%d", name, v, lo, hi)
		}
		return v, nil
	}
	if e.WorldSize, err = num(sizeVar, true, 0, 1, 1<<20); err != nil {
		return DistEnv{}, false, err
	}
	if e.Source == "slurm" && e.WorldSize == 1 {
		// Any program in a one-task Slurm job sees SLURM_PROCID=0: that is
		// a single process, not a group to rendezvous.
		return DistEnv{}, false, nil
	}
	if e.Rank, err = num(rankVar, true, 0, 0, e.WorldSize-1); err != nil {
		return DistEnv{}, false, fmt.Errorf("%w (%s=%d)", err, sizeVar, e.WorldSize)
	}
	if e.LocalRank, err = num(localVar, false, 0, 0, 1<<20); err != nil {
		return DistEnv{}, false, err
	}
	if e.MasterAddr = strings.TrimSpace(getenv("MASTER_ADDR")); e.MasterAddr == "" {
		hint := ""
		if e.Source == "slurm" {
			hint = `; under Slurm: export MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)`
		}
		return DistEnv{}, false, fmt.Errorf("torch: environment variable MASTER_ADDR is not set: the host of rank 0%s", hint)
	}
	if e.MasterPort, err = num("MASTER_PORT", true, 0, 1, 65535); err != nil {
		return DistEnv{}, false, err
	}
	return e, true, nil
}
