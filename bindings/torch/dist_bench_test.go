package torch

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkDistAllReduceGrads is the cost of data parallelism per PPO
// minibatch: one flat all-reduce (average) of the gradients of lago's actor
// and critic, between 2 ranks over Gloo on loopback (ranks=1: the same call
// in a group of one: flatten, Gloo's work queue, divide, copy back, no
// network). The ranks are
// goroutines of this process, each with its own group and networks (the
// transport is the same TCP loopback two processes would use). The shapes
// are engine/ppo.NewAgent's for the shipped configs:
//
//	cartpole: obs 4, 2 actions, hidden [64 64] (the default): 9,155 floats
//	clevr:    obs 24, 40 actions, hidden [128 128] (configs/clevr*.toml): 44,713 floats
func BenchmarkDistAllReduceGrads(b *testing.B) {
	for _, name := range []string{"cartpole", "clevr"} {
		for _, world := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/ranks=%d", name, world), func(b *testing.B) { benchAllReduceGrads(b, world, name) })
		}
	}
}

// BenchmarkDistAllReduceGradsProcesses is BenchmarkDistAllReduceGrads with
// the 2 ranks as 2 processes (this test binary re-run, see TestMain). Its
// ns/op counts process start; ns/allreduce is the figure: the slower rank's
// mean over b.N calls after a barrier. Run it with a fixed count
// (-benchtime 2000x): each probe of b.N starts two processes.
func BenchmarkDistAllReduceGradsProcesses(b *testing.B) {
	for _, net := range []string{"cartpole", "clevr"} {
		b.Run(net, func(b *testing.B) {
			ranks := startRanks(b, "bench", 2, 60*time.Second, "LAGO_DIST_N="+strconv.Itoa(b.N), "LAGO_DIST_NET="+net)
			var worst float64
			for r, d := range ranks {
				if err := d.wait(b, r, 10*time.Minute); err != nil {
					b.Fatalf("rank %d: %v; its stderr:\n%s", r, err, d.stderr.String())
				}
				out, err := os.ReadFile(d.out)
				if err != nil {
					b.Fatal(err)
				}
				ns, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
				if err != nil {
					b.Fatal(err)
				}
				worst = max(worst, ns)
			}
			b.ReportMetric(worst, "ns/allreduce")
		})
	}
}

// benchNets are the shapes of BenchmarkDistAllReduceGrads, by name.
var benchNets = map[string]struct {
	obs, act int
	hidden   []int
	numel    int64
}{
	"cartpole": {4, 2, []int{64, 64}, 9155},
	"clevr":    {24, 40, []int{128, 128}, 44713},
}

// agentParams builds an actor and a critic of engine/ppo.NewAgent's shapes
// with gradients, and returns their parameters and how to free them.
func agentParams(obs, act int, hidden []int) ([]*Tensor, func(), error) {
	sizes := func(out int) []int { return append(append([]int{obs}, hidden...), out) }
	actor, err := NewMLP(sizes(act), Tanh, Sqrt2, 0.01, Float32, CPU)
	if err != nil {
		return nil, nil, err
	}
	critic, err := NewMLP(sizes(1), Tanh, Sqrt2, 1, Float32, CPU)
	if err != nil {
		actor.Free()
		return nil, nil, err
	}
	free := func() { actor.Free(); critic.Free() }
	x, err := Randn([]int64{64, int64(obs)}, Float32, CPU)
	if err != nil {
		free()
		return nil, nil, err
	}
	defer x.Free()
	s := NewScope()
	defer s.Close()
	s.Backward(s.Add(s.Sum(actor.Forward(s, x)), s.Sum(critic.Forward(s, x))))
	if err := s.Err(); err != nil {
		free()
		return nil, nil, err
	}
	return append(actor.Parameters(), critic.Parameters()...), free, nil
}

// distBench is a rank of BenchmarkDistAllReduceGradsProcesses: it writes
// the mean time of one AllReduceGrads over LAGO_DIST_N calls, in ns.
func distBench(g *Group, out string) error {
	n, err := strconv.Atoi(os.Getenv("LAGO_DIST_N"))
	if err != nil {
		return err
	}
	net, ok := benchNets[os.Getenv("LAGO_DIST_NET")]
	if !ok {
		return fmt.Errorf("unknown LAGO_DIST_NET %q", os.Getenv("LAGO_DIST_NET"))
	}
	ps, free, err := agentParams(net.obs, net.act, net.hidden)
	if err != nil {
		return err
	}
	defer free()
	if err := g.Barrier(); err != nil {
		return err
	}
	t0 := time.Now()
	for i := 0; i < n; i++ {
		if err := g.AllReduceGrads(ps, ReduceAvg); err != nil {
			return err
		}
	}
	ns := float64(time.Since(t0).Nanoseconds()) / float64(n)
	return os.WriteFile(out, []byte(strconv.FormatFloat(ns, 'f', 0, 64)), 0o644)
}

func benchAllReduceGrads(b *testing.B, world int, name string) {
	net := benchNets[name]
	prev := NumThreads()
	if err := SetNumThreads(1); err != nil {
		b.Fatal(err)
	}
	defer SetNumThreads(prev)
	store := filepath.Join(b.TempDir(), "store")
	groups := make([]*Group, world)
	params := make([][]*Tensor, world)
	errs := make([]error, world)
	var wg sync.WaitGroup
	for r := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			groups[r], errs[r] = NewGroup(GroupOptions{Rank: r, WorldSize: world, StoreFile: store, Timeout: 30 * time.Second})
		}()
	}
	wg.Wait()
	for r := range groups {
		if errs[r] != nil {
			b.Fatal(errs[r])
		}
		defer groups[r].Close()
		ps, free, err := agentParams(net.obs, net.act, net.hidden)
		if err != nil {
			b.Fatal(err)
		}
		defer free()
		var numel int64
		for _, p := range ps {
			numel += p.Numel()
		}
		if numel != net.numel {
			b.Fatalf("%d parameters, want %d: the shapes in benchNets are stale", numel, net.numel)
		}
		params[r] = ps
	}
	b.SetBytes(net.numel * 4)
	b.ResetTimer()
	for r := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < b.N && errs[r] == nil; i++ {
				errs[r] = groups[r].AllReduceGrads(params[r], ReduceAvg)
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(net.numel*4), "bytes/allreduce")
	for r := range errs {
		if errs[r] != nil {
			b.Fatalf("rank %d: %v", r, errs[r])
		}
	}
}
