package train

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lago-rl/lago/bindings/torch/torchtest"
)

// TestDataParallelMatchesOneProcess: two ranks, each on half of every
// minibatch, train the model one process trains on the whole minibatches
// (within float rounding: the sums run in another order), hold identical
// weights bit for bit, report the same held-out figures, and only rank 0
// writes the run directory.
func TestDataParallelMatchesOneProcess(t *testing.T) {
	const world = 2
	c := smallConfig(t)
	c.Steps, c.EvalEvery = 12, 6
	// Answers of one and two tokens, so that the ranks' shares of a
	// minibatch hold different numbers of answer tokens and only the
	// whole minibatch's count gives one process's mean (AdamW is blind to
	// a gradient scaled alike on every rank, not to one weighted unevenly).
	pairs := mustLetters(t, 300)
	for i := range pairs {
		if i%3 == 0 {
			pairs[i].Answer += pairs[i].Answer
		}
	}
	c.Data = writePairs(t, pairs)

	single, err := New(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer single.Free()
	before := flat(weightsOf(t, single))
	want, err := single.Run(context.Background(), Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	wantW := flat(weightsOf(t, single))

	gs := torchtest.Groups(t, world)
	ranks := make([]*Trainer, world)
	dirs := []string{t.TempDir(), t.TempDir()} // rank 1 is given another directory to show it writes nothing
	res := make([]Result, world)
	torchtest.Must(t, torchtest.OnRanks(world, func(r int) (err error) {
		if ranks[r], err = New(c, Options{Group: gs[r]}); err != nil {
			return err
		}
		res[r], err = ranks[r].Run(context.Background(), Options{Dir: dirs[r], Group: gs[r]})
		return err
	}))
	for _, tr := range ranks {
		defer tr.Free()
	}
	got0, got1 := flat(weightsOf(t, ranks[0])), flat(weightsOf(t, ranks[1]))
	for i := range got0 {
		if got0[i] != got1[i] {
			t.Fatalf("the ranks' weights differ at %d: %v and %v", i, got0[i], got1[i])
		}
	}
	var moved, diff float64
	for i := range wantW {
		m := math.Abs(float64(wantW[i] - before[i]))
		d := math.Abs(float64(got0[i] - wantW[i]))
		moved, diff = math.Max(moved, m), math.Max(diff, d)
		if d > 1e-5+1e-3*m {
			t.Errorf("weight %d: 2 ranks %v, 1 process %v (moved by %v)", i, got0[i], wantW[i], m)
		}
	}
	t.Logf("max |2 ranks − 1 process| = %.3g; training moved weights by up to %.3g", diff, moved)
	if moved < 1e-2 {
		t.Fatalf("training moved weights by only %v: the comparison proves nothing", moved)
	}
	for r := range res {
		if math.Abs(res[r].HeldoutLoss-want.HeldoutLoss) > 1e-4 || res[r].HeldoutAcc != want.HeldoutAcc || res[r].Steps != want.Steps {
			t.Errorf("rank %d: %+v; one process: %+v", r, res[r], want)
		}
	}
	if !exists(filepath.Join(dirs[0], ModelFile)) || !exists(filepath.Join(dirs[0], CheckpointFile)) {
		t.Errorf("rank 0 wrote no model or checkpoint in %s", dirs[0])
	}
	if names, _ := filepath.Glob(filepath.Join(dirs[1], "*")); len(names) > 0 {
		t.Errorf("rank 1 wrote %v", names)
	}
}

// TestDataParallelStopsTogether: a stop seen by one rank only stops both at
// the same step, with rank 0's checkpoint, from which the group resumes.
func TestDataParallelStopsTogether(t *testing.T) {
	const world = 2
	c := smallConfig(t)
	dir := t.TempDir()
	gs := torchtest.Groups(t, world)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	errs := torchtest.OnRanks(world, func(r int) error {
		tr, err := New(c, Options{Group: gs[r]})
		if err != nil {
			return err
		}
		defer tr.Free()
		ctx := context.Background()
		if r == 1 {
			ctx = cancelled
		}
		_, err = tr.Run(ctx, Options{Dir: dir, Group: gs[r]})
		return err
	})
	for r, err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("rank %d: %v; want it stopped by rank 1's Ctrl-C", r, err)
		}
	}
	meta, _, err := readCheckpoint(filepath.Join(dir, CheckpointFile))
	if err != nil || meta.Step != 0 {
		t.Fatalf("checkpoint after the stop: %v, %+v; want step 0", err, meta)
	}
	torchtest.Must(t, torchtest.OnRanks(world, func(r int) error {
		tr, err := New(c, Options{Dir: dir, Resume: true, Group: gs[r]})
		if err != nil {
			return err
		}
		defer tr.Free()
		res, err := tr.Run(context.Background(), Options{Dir: dir, Resume: true, Group: gs[r]})
		if err == nil && res.Steps != c.Steps {
			err = errors.New("resumed run stopped early")
		}
		return err
	}))
}

// TestDataParallelChecks: a minibatch that does not split over the ranks
// names batch_size, and ranks given different data name the slip.
func TestDataParallelChecks(t *testing.T) {
	const world = 2
	gs := torchtest.Groups(t, world)
	c := smallConfig(t)
	c.BatchSize = 7
	if _, err := New(c, Options{Group: gs[0]}); err == nil || !strings.Contains(err.Error(), "config key batch_size = 7") {
		t.Fatalf("batch 7 on 2 ranks: %v; want an error naming batch_size", err)
	}
	other := smallConfig(t)
	other.Data = writePairs(t, mustLetters(t, 280))
	errs := torchtest.OnRanks(world, func(r int) error {
		cfg := smallConfig(t)
		if r == 1 {
			cfg = other
		}
		tr, err := New(cfg, Options{Group: gs[r]})
		if err == nil {
			tr.Free()
		}
		return err
	})
	for r, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "read different training data") {
			t.Errorf("rank %d: %v; want the different data named", r, err)
		}
	}
}

func mustLetters(t *testing.T, n int) []Pair {
	pairs, err := LetterAfter(n, 4, 8, 2)
	if err != nil {
		t.Fatal(err)
	}
	return pairs
}

func flat(w [][]float32) []float32 {
	var out []float32
	for _, p := range w {
		out = append(out, p...)
	}
	return out
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
