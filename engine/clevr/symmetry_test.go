package clevr

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lago-rl/lago/engine/env"
)

var _ env.Symmetric = (*Env)(nil)

func TestSymmetryActionIsABijection(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		s := RandomSymmetry(r)
		if s == Identity {
			t.Fatal("RandomSymmetry drew the identity")
		}
		seen := make(map[int]bool)
		for a := range NumActions {
			b := s.Action(a)
			if b < 0 || b >= NumActions || seen[b] {
				t.Fatalf("%+v maps action %d to %d: not a bijection of the %d actions", s, a, b, NumActions)
			}
			seen[b] = true
		}
	}
	for a := range NumActions {
		if Identity.Action(a) != a {
			t.Fatalf("the identity maps %d to %d", a, Identity.Action(a))
		}
	}
	m := Symmetry{Mirror: true, Perm: Identity.Perm}
	for dir, name := range DirNames {
		want := strings.NewReplacer("left", "right", "right", "left").Replace(name)
		if got := DirNames[m.Action(dir)]; got != want {
			t.Errorf("the mirror of %s is %s, want %s", name, got, want)
		}
	}
}

// TestSymmetryIsExact checks the claim the augmented dataset rests on: a
// permuted or mirrored state is the same state relabelled, so the same push
// relabelled has the same outcome. Each reset scene is restored into a
// second Env, transformed, and both are stepped for a few pushes, the
// second with the mapped pushes: positions, goals, rewards and successes
// must agree throughout (rewards up to rounding: the balls are summed in
// another order).
func TestSymmetryIsExact(t *testing.T) {
	for _, level := range []Level{LevelRelation, LevelMixed} {
		t.Run(level.String(), func(t *testing.T) { testSymmetryIsExact(t, level) })
	}
}

func testSymmetryIsExact(t *testing.T, level Level) {
	a, b := newEnv(t, Options{Level: level}), newEnv(t, Options{Level: level})
	obs := make([]float32, a.obsDim)
	r := rand.New(rand.NewPCG(3, 4))
	var worst float64
	tried := 0
	for seed := range uint64(40) {
		a.Seed(seed)
		a.Reset(obs)
		state, err := a.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if err := b.UnmarshalBinary(state); err != nil {
			t.Fatal(err)
		}
		s := RandomSymmetry(r)
		if !b.Apply(s) {
			if k := a.Task().Kind; k == KindRelations || k == KindPush {
				t.Fatalf("seed %d: Apply refused a %v task", seed, k)
			}
			continue
		}
		tried++
		for step := range 4 {
			pa, pb := a.Positions(), b.Positions()
			for i := range NumBalls {
				want := pa[i]
				if s.Mirror {
					want[0] = -want[0]
				}
				got := pb[s.Perm[i]]
				worst = max(worst, math.Abs(got[0]-want[0]), math.Abs(got[1]-want[1]))
				if math.Abs(got[0]-want[0]) > 1e-6 || math.Abs(got[1]-want[1]) > 1e-6 {
					t.Fatalf("seed %d, %+v, after %d pushes: ball %d at %v, its image at %v", seed, s, step, i, pa[i], got)
				}
			}
			if want := s.task(a.Task()); b.Task() != want {
				t.Fatalf("seed %d, %+v: task %v, want %v", seed, s, b.Task(), want)
			}
			if step == 0 {
				ia, ib := a.Instruction(), b.Instruction()
				tb := b.Task()
				named := []int{tb.Ball}
				if tb.Kind == KindRelations {
					named = []int{tb.Rels[0].Src, tb.Rels[0].Dst}
				}
				for _, ball := range named {
					if !strings.Contains(ib, Colours[ball]) {
						t.Fatalf("seed %d, %+v: %q became %q, which does not name %s", seed, s, ia, ib, Colours[ball])
					}
				}
			}
			act := r.IntN(NumActions)
			ta := a.Step([]float32{float32(act)}, obs)
			tb := b.Step([]float32{float32(s.Action(act))}, obs)
			if ta.Terminated != tb.Terminated || ta.Success != tb.Success || math.Abs(ta.Reward-tb.Reward) > 1e-9 {
				t.Fatalf("seed %d, %+v: push %d gave %+v, its image %d gave %+v", seed, s, act, ta, s.Action(act), tb)
			}
			if ta.Terminated {
				break
			}
		}
	}
	if tried < 20 {
		t.Errorf("only %d of 40 scenes had a task a symmetry preserves", tried)
	}
	t.Logf("%d scenes; largest difference between a position and its image: %.3g m", tried, worst)
}

// TestSymmetryExpert checks that the expert is unchanged by a symmetry: its
// push in a transformed state is the image of its push in the original,
// up to ties, which the expert breaks by the order it tries pushes in (a
// mirror reverses some of it). A tie is a push whose lookahead outcome is
// the same as the image's: here, both succeed.
func TestSymmetryExpert(t *testing.T) {
	a, b := newEnv(t, Options{}), newEnv(t, Options{})
	obs := make([]float32, obsDim)
	r := rand.New(rand.NewPCG(5, 6))
	act := []float32{0}
	same, ties, n := 0, 0, 0
	for seed := range uint64(60) {
		a.Seed(seed + 1000)
		a.Reset(obs)
		for range 3 {
			state, _ := a.MarshalBinary()
			if err := b.UnmarshalBinary(state); err != nil {
				t.Fatal(err)
			}
			s := RandomSymmetry(r)
			b.Apply(s)
			a.ExpertAction(act)
			want := s.Action(int(act[0]))
			b.ExpertAction(act)
			n++
			switch got := int(act[0]); {
			case got == want:
				same++
			case b.pushSucceeds(got) && b.pushSucceeds(want):
				ties++
			default:
				t.Errorf("seed %d, %+v: expert pushes %s, the image of the original's is %s", seed, s, actionNames[got], actionNames[want])
			}
			a.ExpertAction(act)
			if a.Step(act, obs).Terminated {
				break
			}
		}
	}
	t.Logf("%d states: the expert's push is the image in %d, a tie of successes in %d", n, same, ties)
}

// pushSucceeds reports whether push a from the current state meets the
// task, leaving the state unchanged.
func (e *Env) pushSucceeds(a int) bool {
	state, _ := e.MarshalBinary()
	defer e.UnmarshalBinary(state)
	return e.Step([]float32{float32(a)}, make([]float32, e.obsDim)).Success
}

func TestSymmetryRefusesOrderAndGather(t *testing.T) {
	e := newEnv(t, Options{Level: LevelHard})
	r := rand.New(rand.NewPCG(7, 8))
	for _, kind := range []Kind{KindOrder, KindGather} {
		setTaskScene(e, sampleLayout(r), Task{Level: LevelHard, Kind: kind})
		before, _ := e.MarshalBinary()
		if _, ok := e.ApplyRandomSymmetry(r); ok {
			t.Errorf("%v: a symmetry was applied to a task about colours and sides", kind)
		}
		if after, _ := e.MarshalBinary(); string(after) != string(before) {
			t.Errorf("%v: the refused symmetry changed the state", kind)
		}
	}
}
