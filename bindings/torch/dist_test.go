package torch

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The multi-process tests re-run this test binary as the ranks of a group:
// LAGO_DIST_ROLE selects what a child does (see distChild), RANK and
// WORLD_SIZE its place, LAGO_DIST_STORE the FileStore the ranks meet in (so
// that nothing listens but Gloo's transport, on 127.0.0.1), LAGO_DIST_OUT
// where it writes its results. Children are stopped by PID.
//
// LAGO_DIST_TCP=1 runs the same tests over a TCPStore on 127.0.0.1 instead,
// as multi-machine runs use: opt-in, because libtorch 1.13's TCPStore
// listens on every interface, not only loopback.
func TestMain(m *testing.M) {
	if role := os.Getenv("LAGO_DIST_ROLE"); role != "" {
		if err := distChild(role); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// distRank is one child process of a multi-process test.
type distRank struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	out    string
	done   chan struct{}
	err    error // from Wait, once done is closed
}

// startRanks starts world ranks of role, sharing a new store file in dir.
func startRanks(t testing.TB, role string, world int, timeout time.Duration, extra ...string) []*distRank {
	t.Helper()
	dir := t.TempDir()
	store := "LAGO_DIST_STORE=" + filepath.Join(dir, "store")
	if os.Getenv("LAGO_DIST_TCP") == "1" {
		store = "LAGO_DIST_MASTER_PORT=" + strconv.Itoa(freePort(t))
	}
	ranks := make([]*distRank, world)
	for r := range ranks {
		d := &distRank{out: filepath.Join(dir, "rank"+strconv.Itoa(r)), done: make(chan struct{})}
		d.cmd = exec.Command(os.Args[0], "-test.run=^$")
		d.cmd.Env = append(os.Environ(), "LAGO_DIST_ROLE="+role, "RANK="+strconv.Itoa(r),
			"WORLD_SIZE="+strconv.Itoa(world), store, "LAGO_DIST_OUT="+d.out,
			"LAGO_DIST_TIMEOUT_MS="+strconv.FormatInt(timeout.Milliseconds(), 10),
			"OMP_NUM_THREADS=1")
		d.cmd.Env = append(d.cmd.Env, extra...)
		d.cmd.Stderr = &d.stderr
		if err := d.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { d.err = d.cmd.Wait(); close(d.done) }()
		ranks[r] = d
	}
	t.Cleanup(func() {
		for _, d := range ranks {
			select {
			case <-d.done:
			default:
				d.cmd.Process.Kill()
				<-d.done
			}
		}
	})
	return ranks
}

// wait waits for the rank to exit, at most limit.
func (d *distRank) wait(t testing.TB, r int, limit time.Duration) error {
	t.Helper()
	select {
	case <-d.done:
		return d.err
	case <-time.After(limit):
		d.cmd.Process.Kill()
		<-d.done
		t.Fatalf("rank %d still running after %v; its stderr:\n%s", r, limit, d.stderr.String())
		return nil
	}
}

// trainResult is what a "train" rank reports.
type trainResult struct {
	Initial, Broadcast, Final string // sha256 of all parameters' float32 bytes
	Steps                     int
}

const distSteps = 20

// TestDistTrainBitIdentical: 2 ranks over Gloo start from different random
// parameters; after Broadcast from rank 0 they hold identical ones; after
// distSteps steps of (own batch, backward, gradients averaged in one flat
// all-reduce, Adam) they still hold bit-identical ones. Each rank also checks
// the collectives against what it computes locally (see distTrain).
func TestDistTrainBitIdentical(t *testing.T) {
	const world = 2
	ranks := startRanks(t, "train", world, 20*time.Second)
	res := make([]trainResult, world)
	for r, d := range ranks {
		if err := d.wait(t, r, 60*time.Second); err != nil {
			t.Fatalf("rank %d: %v; its stderr:\n%s", r, err, d.stderr.String())
		}
		b, err := os.ReadFile(d.out)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &res[r]); err != nil {
			t.Fatalf("rank %d wrote %q: %v", r, b, err)
		}
	}
	if res[0].Initial == res[1].Initial {
		t.Fatal("the ranks started from the same parameters: the broadcast would prove nothing")
	}
	for r := 1; r < world; r++ {
		if res[r].Broadcast != res[0].Initial || res[r].Broadcast != res[0].Broadcast {
			t.Errorf("after broadcast rank %d holds %s, rank 0 %s (rank 0's initial %s)",
				r, res[r].Broadcast[:12], res[0].Broadcast[:12], res[0].Initial[:12])
		}
		if res[r].Final != res[0].Final {
			t.Errorf("after %d steps rank %d holds %s, rank 0 %s: not bit-identical", distSteps, r, res[r].Final[:12], res[0].Final[:12])
		}
	}
	if res[0].Final == res[0].Broadcast || res[0].Steps != distSteps {
		t.Errorf("rank 0 made %d steps and its parameters did not change", res[0].Steps)
	}
}

// TestDistLostRank: a rank that dies (SIGKILL) or hangs (SIGSTOP) mid-run
// makes the other's collective fail within the timeout, with an error that
// names the lost rank; the survivor exits non-zero.
func TestDistLostRank(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: waits out several seconds of collective timeouts; run without -short")
	}
	const timeout = 3 * time.Second
	for _, c := range []struct {
		name   string
		victim int
		sig    syscall.Signal
	}{
		{"rank1-killed", 1, syscall.SIGKILL},
		{"rank0-killed", 0, syscall.SIGKILL},
		{"rank1-hangs", 1, syscall.SIGSTOP},
		{"rank0-hangs", 0, syscall.SIGSTOP},
	} {
		t.Run(c.name, func(t *testing.T) {
			ranks := startRanks(t, "loop", 2, timeout)
			for r, d := range ranks {
				waitForFile(t, d, r, d.out, 30*time.Second)
			}
			victim, survivor := ranks[c.victim], ranks[1-c.victim]
			if err := victim.cmd.Process.Signal(c.sig); err != nil {
				t.Fatal(err)
			}
			t0 := time.Now()
			err := survivor.wait(t, 1-c.victim, timeout+10*time.Second)
			if c.sig == syscall.SIGSTOP {
				victim.cmd.Process.Kill()
			}
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 3 {
				t.Fatalf("survivor exited with %v, want status 3; stderr:\n%s", err, survivor.stderr.String())
			}
			msg := survivor.stderr.String()
			if want := fmt.Sprintf("lost rank(s) %d:", c.victim); !strings.Contains(msg, want) {
				t.Errorf("survivor's error does not name the lost rank (%q):\n%s", want, msg)
			}
			// The timeout bounds the collective and the diagnosis (leaving
			// the group and process exit come after).
			var at int64
			if i := strings.Index(msg, "failed at "); i < 0 {
				t.Fatalf("survivor did not say when it failed:\n%s", msg)
			} else if _, err := fmt.Sscan(msg[i+len("failed at "):], &at); err != nil {
				t.Fatal(err)
			}
			took := time.Unix(0, at).Sub(t0)
			if took > timeout {
				t.Errorf("survivor's collective failed %v after the signal, timeout %v", took, timeout)
			}
			t.Logf("survivor's collective failed %v after the signal: %s", took.Round(time.Millisecond),
				strings.TrimSpace(msg[strings.Index(msg, "torch: "):]))
		})
	}
}

// TestDistStalledRank: of 3 ranks, rank 2 stops calling collectives while
// its process lives on; the others' collective fails within the timeout,
// naming rank 2 as alive but not in the collective.
func TestDistStalledRank(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: waits out several seconds of collective timeouts; run without -short")
	}
	const timeout = 3 * time.Second
	ranks := startRanks(t, "loop", 3, timeout, "LAGO_DIST_STALL_RANK=2")
	for r, d := range ranks {
		waitForFile(t, d, r, d.out, 30*time.Second)
	}
	for r, d := range ranks[:2] {
		err := d.wait(t, r, timeout+10*time.Second)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 3 {
			t.Fatalf("rank %d exited with %v, want status 3; stderr:\n%s", r, err, d.stderr.String())
		}
		msg := d.stderr.String()
		if !strings.Contains(msg, "rank(s) 2 alive but not in this collective (2 at #") {
			t.Errorf("rank %d's error does not name the stalled rank 2:\n%s", r, msg)
		}
		t.Logf("rank %d: %s", r, strings.TrimSpace(msg[strings.Index(msg, "torch: "):]))
	}
}

func waitForFile(t *testing.T, d *distRank, r int, path string, limit time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(limit); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		select {
		case <-d.done:
			t.Fatalf("rank %d exited early (%v); stderr:\n%s", r, d.err, d.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("rank %d did not start within %v; stderr:\n%s", r, limit, d.stderr.String())
		}
	}
}

// TestDistRendezvousMissing: ranks that cannot form the group fail within
// the timeout, naming who is missing. In-process: the ranks are goroutines.
func TestDistRendezvousMissing(t *testing.T) {
	const timeout = time.Second
	store := filepath.Join(t.TempDir(), "store")
	type result struct {
		rank int
		err  error
		took time.Duration
	}
	join := func(ranks []int, world int, o GroupOptions) []result {
		var wg sync.WaitGroup
		out := make([]result, len(ranks))
		for i, r := range ranks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				o := o
				o.Rank, o.WorldSize, o.Timeout, o.JoinTimeout = r, world, time.Hour, timeout
				t0 := time.Now()
				g, err := NewGroup(o)
				if err == nil {
					g.Close()
				}
				out[i] = result{r, err, time.Since(t0)}
			}()
		}
		wg.Wait()
		return out
	}
	check := func(t *testing.T, res []result, want ...string) {
		t.Helper()
		for _, r := range res {
			if r.err == nil {
				t.Fatalf("rank %d joined an incomplete group", r.rank)
			}
			ok := false
			for _, w := range want {
				ok = ok || strings.Contains(r.err.Error(), w)
			}
			if !ok {
				t.Errorf("rank %d: error %q, want one of %q", r.rank, r.err, want)
			}
			if r.took > timeout+time.Second {
				t.Errorf("rank %d failed after %v, timeout %v", r.rank, r.took, timeout)
			}
		}
	}
	t.Run("file-store-rank2-missing", func(t *testing.T) {
		check(t, join([]int{0, 1}, 3, GroupOptions{StoreFile: store + "1"}), "rank(s) 2 did not join (joined: 0, 1)")
	})
	t.Run("file-store-rank0-twice", func(t *testing.T) {
		check(t, join([]int{0, 0}, 2, GroupOptions{StoreFile: store + "2"}),
			"rank 0 joined twice", "rank(s) 1 did not join (joined: 0)")
	})
	t.Run("tcp-store-rank0-missing", func(t *testing.T) {
		// Nothing listens on the port: rank 1 cannot reach rank 0's store.
		check(t, join([]int{1}, 2, GroupOptions{MasterAddr: "127.0.0.1", MasterPort: freePort(t)}),
			"rank 0, which hosts the store, was not reachable")
	})
}

// freePort is a loopback port nothing listens on (it was free a moment ago).
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestDistSingleRank: a group of one over a FileStore, and the errors the
// collectives return for bad input, naming what is wrong.
func TestDistSingleRank(t *testing.T) {
	if got := DistBackends(); len(got) == 0 || got[0] != "gloo" {
		t.Fatalf("DistBackends() = %v: this shim was built without c10d/Gloo (apt-get install libgloo-dev, rebuild)", got)
	}
	g, err := NewGroup(GroupOptions{WorldSize: 1, StoreFile: filepath.Join(t.TempDir(), "store"), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	v := []float64{1.5, -2, 3}
	for _, op := range []ReduceOp{ReduceSum, ReduceAvg, ReduceMax, ReduceMin} {
		if err := g.AllReduceFloat64(v, op); err != nil || v[0] != 1.5 || v[1] != -2 || v[2] != 3 {
			t.Fatalf("%v over one rank: %v, %v", op, v, err)
		}
	}
	a, _ := FromSlice([]float32{1, 2}, []int64{2}, CPU)
	defer a.Free()
	b, _ := FromSlice([]float64{1, 2}, []int64{2}, CPU)
	defer b.Free()
	n, _ := FromSlice([]int64{1, 2}, []int64{2}, CPU)
	defer n.Free()
	w, _ := FromSlice([]float32{1, 2}, []int64{2}, CPU)
	defer w.Free()
	if err := w.SetRequiresGrad(true); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"mixed dtypes", g.AllReduce([]*Tensor{a, b}, ReduceSum), "tensor 1 is Double on cpu, but tensor 0 is Float"},
		{"avg of ints", g.AllReduce([]*Tensor{n}, ReduceAvg), "avg needs floating tensors"},
		{"unknown op", g.AllReduce([]*Tensor{a}, ReduceOp(9)), "unknown reduce op code 9"},
		{"no tensors", g.AllReduce(nil, ReduceSum), "no tensor"},
		{"no gradient", g.AllReduceGrads([]*Tensor{w}, ReduceAvg), "parameter 0 has no gradient"},
		{"bad root", g.Broadcast([]*Tensor{a}, 1), "root rank 1 outside 0..0"},
		{"no values", g.AllReduceFloat64(nil, ReduceSum), "no values"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, c.err, c.want)
		}
	}
	if err := g.Barrier(); err != nil {
		t.Fatal(err)
	}
	g.Close()
	if err := g.Barrier(); !errors.Is(err, errGroupClosed) {
		t.Errorf("barrier on a closed group: %v", err)
	}
}

func TestNewGroupBadOptions(t *testing.T) {
	store := filepath.Join(t.TempDir(), "store")
	for _, c := range []struct {
		o    GroupOptions
		want string
	}{
		{GroupOptions{Rank: 2, WorldSize: 2, StoreFile: store}, "rank 2 outside 0..1"},
		{GroupOptions{WorldSize: 0, StoreFile: store}, "world size 0"},
		{GroupOptions{Backend: "mpi", WorldSize: 1, StoreFile: store}, `unknown backend "mpi": want gloo or nccl`},
		{GroupOptions{WorldSize: 1}, "no master address and no store file"},
		{GroupOptions{WorldSize: 1, MasterAddr: "127.0.0.1", MasterPort: 70000}, "master port 70000"},
		{GroupOptions{WorldSize: 1, StoreFile: store, Timeout: time.Millisecond}, "timeout 1ms"},
	} {
		g, err := NewGroup(c.o)
		if err == nil {
			g.Close()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewGroup(%+v): %v, want an error containing %q", c.o, err, c.want)
		}
	}
}

func TestDistEnvFrom(t *testing.T) {
	for _, c := range []struct {
		name string
		env  map[string]string
		ok   bool
		want DistEnv
		err  string
	}{
		{"single process", map[string]string{}, false, DistEnv{}, ""},
		{"torchrun", map[string]string{"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "node0", "MASTER_PORT": "29500"},
			true, DistEnv{Rank: 3, WorldSize: 4, LocalRank: 1, MasterAddr: "node0", MasterPort: 29500, Source: "torchrun"}, ""},
		{"slurm", map[string]string{"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "MASTER_ADDR": "n1", "MASTER_PORT": "1234"},
			true, DistEnv{Rank: 5, WorldSize: 8, LocalRank: 1, MasterAddr: "n1", MasterPort: 1234, Source: "slurm"}, ""},
		{"slurm, one task", map[string]string{"SLURM_PROCID": "0", "SLURM_NTASKS": "1"}, false, DistEnv{}, ""},
		{"torchrun wins over slurm", map[string]string{"RANK": "0", "WORLD_SIZE": "2", "SLURM_PROCID": "7", "SLURM_NTASKS": "8", "MASTER_ADDR": "a", "MASTER_PORT": "1"},
			true, DistEnv{Rank: 0, WorldSize: 2, MasterAddr: "a", MasterPort: 1, Source: "torchrun"}, ""},
		{"no world size", map[string]string{"RANK": "0", "MASTER_ADDR": "a", "MASTER_PORT": "1"}, false, DistEnv{}, "WORLD_SIZE is not set"},
		{"no ntasks", map[string]string{"SLURM_PROCID": "0", "MASTER_ADDR": "a", "MASTER_PORT": "1"}, false, DistEnv{}, "SLURM_NTASKS is not set"},
		{"rank too big", map[string]string{"RANK": "2", "WORLD_SIZE": "2", "MASTER_ADDR": "a", "MASTER_PORT": "1"}, false, DistEnv{}, "RANK=2: want 0..1"},
		{"bad rank", map[string]string{"RANK": "x", "WORLD_SIZE": "2", "MASTER_ADDR": "a", "MASTER_PORT": "1"}, false, DistEnv{}, `RANK="x": not an integer`},
		{"no master addr", map[string]string{"RANK": "0", "WORLD_SIZE": "2", "MASTER_PORT": "1"}, false, DistEnv{}, "MASTER_ADDR is not set"},
		{"slurm hint", map[string]string{"SLURM_PROCID": "0", "SLURM_NTASKS": "2"}, false, DistEnv{}, "scontrol show hostnames"},
		{"no master port", map[string]string{"RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "a"}, false, DistEnv{}, "MASTER_PORT is not set"},
		{"bad master port", map[string]string{"RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "a", "MASTER_PORT": "0"}, false, DistEnv{}, "MASTER_PORT=0: want 1..65535"},
		{"bad local rank", map[string]string{"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "-1", "MASTER_ADDR": "a", "MASTER_PORT": "1"}, false, DistEnv{}, "LOCAL_RANK=-1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, ok, err := DistEnvFrom(func(k string) string { return c.env[k] })
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil || ok != c.ok || e != c.want {
				t.Fatalf("got %+v, %v, %v; want %+v, %v", e, ok, err, c.want, c.ok)
			}
		})
	}
}

// distChild is a rank of a multi-process test.
func distChild(role string) error {
	rank, err1 := strconv.Atoi(os.Getenv("RANK"))
	world, err2 := strconv.Atoi(os.Getenv("WORLD_SIZE"))
	ms, err3 := strconv.Atoi(os.Getenv("LAGO_DIST_TIMEOUT_MS"))
	err := errors.Join(err1, err2, err3)
	if err != nil {
		return err
	}
	if err := SetNumThreads(1); err != nil {
		return err
	}
	// A minute to join: the two processes may start seconds apart on a
	// loaded machine; the collectives have the test's timeout.
	o := GroupOptions{Rank: rank, WorldSize: world, StoreFile: os.Getenv("LAGO_DIST_STORE"),
		Timeout: time.Duration(ms) * time.Millisecond, JoinTimeout: time.Minute}
	if port := os.Getenv("LAGO_DIST_MASTER_PORT"); port != "" {
		o.MasterAddr = "127.0.0.1"
		if o.MasterPort, err = strconv.Atoi(port); err != nil {
			return err
		}
	}
	g, err := NewGroup(o)
	if err != nil {
		return err
	}
	defer g.Close()
	out := os.Getenv("LAGO_DIST_OUT")
	switch role {
	case "train":
		return distTrain(g, out)
	case "loop":
		return distLoop(g, out)
	case "bench":
		return distBench(g, out)
	}
	return fmt.Errorf("unknown role %q", role)
}

// distLoop all-reduces until a collective fails; out appears once it runs.
// It reports on stderr when the failure came, before it leaves the group.
func distLoop(g *Group, out string) error {
	err := distLoopUntilError(g, out)
	fmt.Fprintf(os.Stderr, "failed at %d\n", time.Now().UnixNano())
	return err
}

func distLoopUntilError(g *Group, out string) error {
	x, err := Zeros([]int64{1000}, Float32, CPU)
	if err != nil {
		return err
	}
	defer x.Free()
	for i := 0; ; i++ {
		if err := g.AllReduce([]*Tensor{x}, ReduceAvg); err != nil {
			return err
		}
		if err := g.AllReduceFloat64([]float64{1, 2}, ReduceSum); err != nil {
			return err
		}
		if i == 5 {
			if err := os.WriteFile(out, []byte("running"), 0o644); err != nil {
				return err
			}
			if os.Getenv("LAGO_DIST_STALL_RANK") == strconv.Itoa(g.Rank()) {
				// Hung outside any collective, heartbeat still going: a
				// deadlock in the caller's own code.
				time.Sleep(time.Hour)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rankData is rank r's deterministic data for step k: every rank can
// compute every other rank's, to check the collectives locally.
func rankData(r, k, n, dim int) []float32 {
	rng := rand.New(rand.NewSource(int64(1000*r + k + 1)))
	v := make([]float32, n*dim)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

func paramHash(ps []*Tensor) (string, error) {
	h := sha256.New()
	for _, p := range ps {
		v, err := ToSlice[float32](p)
		if err != nil {
			return "", err
		}
		if err := binary.Write(h, binary.LittleEndian, v); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// distTrain: broadcast, the collectives checked against local sums, the
// averaged gradient checked against the full-batch gradient, then
// distSteps data-parallel Adam steps. It writes a trainResult to out.
func distTrain(g *Group, out string) error {
	rank, world := g.Rank(), g.Size()
	const in, batch = 8, 16
	var res trainResult
	if err := ManualSeed(uint64(100 + rank)); err != nil {
		return err
	}
	m, err := NewMLP([]int{in, 32, 32, 2}, Tanh, Sqrt2, 1, Float32, CPU)
	if err != nil {
		return err
	}
	defer m.Free()
	ps := m.Parameters()
	if res.Initial, err = paramHash(ps); err != nil {
		return err
	}
	if err := g.Broadcast(ps, 0); err != nil {
		return err
	}
	if res.Broadcast, err = paramHash(ps); err != nil {
		return err
	}

	// All-reduce of two tensors as one buffer: the average every rank can
	// also compute itself, in the same order of additions.
	a, err := FromSlice(rankData(rank, 0, 3, 5), []int64{3, 5}, CPU)
	if err != nil {
		return err
	}
	defer a.Free()
	b, err := FromSlice(rankData(rank, 1, 1, 7), []int64{7}, CPU)
	if err != nil {
		return err
	}
	defer b.Free()
	if err := g.AllReduce([]*Tensor{a, b}, ReduceAvg); err != nil {
		return err
	}
	for i, tt := range []struct {
		t    *Tensor
		k, n int
	}{{a, 0, 15}, {b, 1, 7}} {
		got, err := ToSlice[float32](tt.t)
		if err != nil {
			return err
		}
		for j := range got {
			var sum float32
			for r := 0; r < world; r++ {
				sum += rankData(r, tt.k, tt.n, 1)[j]
			}
			if want := sum / float32(world); got[j] != want {
				return fmt.Errorf("all-reduce avg: tensor %d element %d is %v, the local mean %v", i, j, got[j], want)
			}
		}
	}
	stats := []float64{float64(rank + 1), float64((rank + 1) * (rank + 1)), 0.5 * float64(rank)}
	maxs := append([]float64(nil), stats...)
	if err := g.AllReduceFloat64(stats, ReduceSum); err != nil {
		return err
	}
	if err := g.AllReduceFloat64(maxs, ReduceMax); err != nil {
		return err
	}
	var want [3]float64
	for r := 0; r < world; r++ {
		want[0] += float64(r + 1)
		want[1] += float64((r + 1) * (r + 1))
		want[2] += 0.5 * float64(r)
	}
	if stats[0] != want[0] || stats[1] != want[1] || stats[2] != want[2] {
		return fmt.Errorf("all-reduce f64 sum: %v, want %v", stats, want)
	}
	if maxs[0] != float64(world) || maxs[2] != 0.5*float64(world-1) {
		return fmt.Errorf("all-reduce f64 max: %v", maxs)
	}
	for _, c := range []struct{ mine, want bool }{{rank == world-1, true}, {false, false}, {true, true}} {
		if got, err := g.Any(c.mine); err != nil || got != c.want {
			return fmt.Errorf("any (%v here): %v, %v; want %v", c.mine, got, err, c.want)
		}
	}

	opt, err := NewAdam(ps, DefaultAdam(1e-2, 1e-5))
	if err != nil {
		return err
	}
	defer opt.Free()
	s := NewScope()
	defer s.Close()
	loss := func(x, y *Tensor) *Tensor { return s.Mean(s.Square(s.Sub(m.Forward(s, x), y))) }
	grads := func() ([][]float32, error) {
		var gs [][]float32
		for _, p := range ps {
			gr := s.Grad(p)
			if s.Err() != nil {
				return nil, s.Err()
			}
			v, err := ToSlice[float32](gr)
			if err != nil {
				return nil, err
			}
			gs = append(gs, v)
		}
		return gs, nil
	}
	for k := 0; k < distSteps; k++ {
		x := FromSliceIn(s, rankData(rank, 10+2*k, batch, in), []int64{batch, in}, CPU)
		y := FromSliceIn(s, rankData(rank, 11+2*k, batch, 2), []int64{batch, 2}, CPU)
		s.Backward(loss(x, y))
		if err := s.Err(); err != nil {
			return err
		}
		if err := g.AllReduceGrads(ps, ReduceAvg); err != nil {
			return err
		}
		if k == 0 {
			// The averaged gradient is the gradient of the mean loss over
			// all ranks' batches together: what one process would compute.
			avg, err := grads()
			if err != nil {
				return err
			}
			if err := opt.ZeroGrad(); err != nil {
				return err
			}
			var xs, ys []*Tensor
			for r := 0; r < world; r++ {
				xs = append(xs, FromSliceIn(s, rankData(r, 10, batch, in), []int64{batch, in}, CPU))
				ys = append(ys, FromSliceIn(s, rankData(r, 11, batch, 2), []int64{batch, 2}, CPU))
			}
			s.Backward(loss(s.Cat(0, xs...), s.Cat(0, ys...)))
			full, err := grads()
			if err != nil {
				return err
			}
			for i := range full {
				for j := range full[i] {
					if d := math.Abs(float64(full[i][j] - avg[i][j])); d > 1e-6+1e-5*math.Abs(float64(full[i][j])) {
						return fmt.Errorf("averaged gradient of parameter %d element %d is %v, the full batch's %v", i, j, avg[i][j], full[i][j])
					}
				}
			}
			// Step from the averaged gradient, as the other ranks do.
			for i, p := range ps {
				gr := s.Grad(p)
				src := FromSliceIn(s, avg[i], gr.Shape(), CPU)
				if s.Err() != nil {
					return s.Err()
				}
				if err := gr.CopyFrom(src); err != nil {
					return err
				}
			}
		}
		if err := opt.Step(); err != nil {
			return err
		}
		if err := opt.ZeroGrad(); err != nil {
			return err
		}
		s.Reset()
		res.Steps++
	}
	if res.Final, err = paramHash(ps); err != nil {
		return err
	}
	if err := g.Barrier(); err != nil {
		return err
	}
	b2, err := json.Marshal(res)
	if err != nil {
		return err
	}
	return os.WriteFile(out, b2, 0o644)
}
