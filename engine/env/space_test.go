package env

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSpaceSample(t *testing.T) {
	box := Box([]float32{-1, 0}, []float32{1, 10})
	for _, tc := range []struct {
		name string
		sp   Space
	}{{"discrete", Discrete(3)}, {"box", box}} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, 0x5eed))
			seen := map[float32]bool{}
			act := make([]float32, tc.sp.Dim())
			for range 1000 {
				tc.sp.Sample(r, act)
				if tc.sp.Kind == DiscreteKind {
					if a := act[0]; a != float32(int(a)) || a < 0 || int(a) >= tc.sp.N {
						t.Fatalf("discrete sample %v outside 0..%d", a, tc.sp.N-1)
					}
					seen[act[0]] = true
					continue
				}
				for j, a := range act {
					if a < tc.sp.Low[j] || a > tc.sp.High[j] {
						t.Fatalf("box sample %v outside [%v, %v] in dim %d", a, tc.sp.Low[j], tc.sp.High[j], j)
					}
				}
			}
			if tc.sp.Kind == DiscreteKind && len(seen) != tc.sp.N {
				t.Fatalf("1000 samples hit %d of %d actions", len(seen), tc.sp.N)
			}
			// Same seed, same actions.
			a, b := make([]float32, tc.sp.Dim()), make([]float32, tc.sp.Dim())
			r1, r2 := rand.New(rand.NewPCG(3, 1)), rand.New(rand.NewPCG(3, 1))
			for range 10 {
				tc.sp.Sample(r1, a)
				tc.sp.Sample(r2, b)
				if !slices.Equal(a, b) {
					t.Fatalf("same seed gave %v and %v", a, b)
				}
			}
		})
	}
}

func TestSpaceClip(t *testing.T) {
	box := Box([]float32{-1, 0}, []float32{1, 10})
	src := []float32{-3, 5, 0.5, 11, 2, -1}
	dst := make([]float32, len(src))
	box.Clip(dst, src)
	if want := []float32{-1, 5, 0.5, 10, 1, 0}; !slices.Equal(dst, want) {
		t.Fatalf("Clip = %v, want %v", dst, want)
	}
	box.Clip(src, src) // in place
	if !slices.Equal(src, dst) {
		t.Fatalf("in-place Clip = %v, want %v", src, dst)
	}
	d := []float32{0}
	Discrete(4).Clip(d, []float32{3})
	if d[0] != 3 {
		t.Fatalf("discrete Clip = %v, want the index unchanged", d)
	}
}
