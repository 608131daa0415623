// Package torchtest helps tests of data-parallel code: a group of ranks
// formed inside one test process, and a function run on every rank at once.
package torchtest

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lago-rl/lago/bindings/torch"
)

// Groups forms a group of world ranks inside this process (one goroutine
// each, FileStore rendezvous, Gloo on 127.0.0.1), closed when the test
// ends. It skips the test when the shim was built without c10d/Gloo.
func Groups(t testing.TB, world int) []*torch.Group {
	t.Helper()
	if len(torch.DistBackends()) == 0 {
		t.Skip("the shim was built without c10d/Gloo")
	}
	store := filepath.Join(t.TempDir(), "store")
	gs := make([]*torch.Group, world)
	Must(t, OnRanks(world, func(r int) (err error) {
		gs[r], err = torch.NewGroup(torch.GroupOptions{Rank: r, WorldSize: world, StoreFile: store, Timeout: 60 * time.Second})
		return err
	}))
	t.Cleanup(func() {
		for _, g := range gs {
			g.Close()
		}
	})
	return gs
}

// OnRanks runs fn(rank) for every rank at once, each on its own goroutine
// (a collective returns only when all ranks have entered it), and returns
// their errors by rank.
func OnRanks(world int, fn func(r int) error) []error {
	errs := make([]error, world)
	var wg sync.WaitGroup
	for r := range world {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[r] = fn(r)
		}()
	}
	wg.Wait()
	return errs
}

// Must fails the test on the first rank's error, naming the rank.
func Must(t testing.TB, errs []error) {
	t.Helper()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
}
