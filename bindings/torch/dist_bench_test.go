package torch

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// BenchmarkDistAllReduceGrads is the cost of data parallelism per PPO
// minibatch: one flat all-reduce (average) of the gradients of lago's actor
// and critic, between 2 ranks over Gloo on loopback (ranks=1: the same call
// in a group of one, which only flattens, copies and divides). The ranks are
// goroutines of this process, each with its own group and networks (the
// transport is the same TCP loopback two processes would use). The shapes
// are engine/ppo.NewAgent's for the shipped configs:
//
//	cartpole: obs 4, 2 actions, hidden [64 64] (the default): 9,155 floats
//	clevr:    obs 24, 40 actions, hidden [128 128] (configs/clevr*.toml): 44,713 floats
func BenchmarkDistAllReduceGrads(b *testing.B) {
	for _, c := range []struct {
		name      string
		obs, act  int
		hidden    []int
		wantNumel int64
	}{
		{"cartpole", 4, 2, []int{64, 64}, 9155},
		{"clevr", 24, 40, []int{128, 128}, 44713},
	} {
		for _, world := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/ranks=%d", c.name, world), func(b *testing.B) {
				benchAllReduceGrads(b, world, c.obs, c.act, c.hidden, c.wantNumel)
			})
		}
	}
}

func benchAllReduceGrads(b *testing.B, world, obs, act int, hidden []int, wantNumel int64) {
	prev := NumThreads()
	if err := SetNumThreads(1); err != nil {
		b.Fatal(err)
	}
	defer SetNumThreads(prev)
	store := filepath.Join(b.TempDir(), "store")
	type rank struct {
		g      *Group
		params []*Tensor
		free   func()
	}
	ranks := make([]rank, world)
	var wg sync.WaitGroup
	errs := make([]error, world)
	for r := range ranks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ranks[r].g, errs[r] = NewGroup(GroupOptions{Rank: r, WorldSize: world, StoreFile: store, Timeout: 30 * time.Second})
		}()
	}
	wg.Wait()
	for r := range ranks {
		if errs[r] != nil {
			b.Fatal(errs[r])
		}
		defer ranks[r].g.Close()
		sizes := func(out int) []int { return append(append([]int{obs}, hidden...), out) }
		actor, err := NewMLP(sizes(act), Tanh, Sqrt2, 0.01, Float32, CPU)
		if err != nil {
			b.Fatal(err)
		}
		defer actor.Free()
		critic, err := NewMLP(sizes(1), Tanh, Sqrt2, 1, Float32, CPU)
		if err != nil {
			b.Fatal(err)
		}
		defer critic.Free()
		ps := append(actor.Parameters(), critic.Parameters()...)
		var numel int64
		for _, p := range ps {
			numel += p.Numel()
		}
		if numel != wantNumel {
			b.Fatalf("%d parameters, want %d: the shapes above are stale", numel, wantNumel)
		}
		x, err := Randn([]int64{64, int64(obs)}, Float32, CPU)
		if err != nil {
			b.Fatal(err)
		}
		defer x.Free()
		s := NewScope()
		s.Backward(s.Add(s.Sum(actor.Forward(s, x)), s.Sum(critic.Forward(s, x))))
		if err := s.Err(); err != nil {
			b.Fatal(err)
		}
		s.Close()
		ranks[r].params = ps
	}
	b.SetBytes(wantNumel * 4)
	b.ResetTimer()
	for r := range ranks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < b.N && errs[r] == nil; i++ {
				errs[r] = ranks[r].g.AllReduceGrads(ranks[r].params, ReduceAvg)
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(wantNumel*4), "bytes/allreduce")
	for r := range errs {
		if errs[r] != nil {
			b.Fatalf("rank %d: %v", r, errs[r])
		}
	}
}
