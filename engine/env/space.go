package env

import (
	"fmt"
	"math/rand/v2"
	"slices"
)

// SpaceKind tells the kind of a [Space].
type SpaceKind int

const (
	// DiscreteKind is a finite set of N actions, numbered 0 to N-1.
	DiscreteKind SpaceKind = iota
	// BoxKind is a box in R^n bounded by Low and High.
	BoxKind
)

// String returns "Discrete" or "Box".
func (k SpaceKind) String() string {
	switch k {
	case DiscreteKind:
		return "Discrete"
	case BoxKind:
		return "Box"
	}
	return fmt.Sprintf("SpaceKind(%d)", int(k))
}

// Space describes an observation or action space.
type Space struct {
	Kind SpaceKind
	// N is the number of actions of a Discrete space.
	N int
	// Low and High bound a Box space; their length is its dimension.
	Low, High []float32
}

// Discrete returns the space of n actions. It panics if n < 1.
func Discrete(n int) Space {
	if n < 1 {
		panic(fmt.Sprintf("env: Discrete(%d): need at least one action", n))
	}
	return Space{Kind: DiscreteKind, N: n}
}

// Box returns the box bounded by low and high, which are copied.
// It panics if their lengths differ or are zero.
func Box(low, high []float32) Space {
	if len(low) != len(high) || len(low) == 0 {
		panic(fmt.Sprintf("env: Box: bounds of lengths %d and %d", len(low), len(high)))
	}
	return Space{Kind: BoxKind, Low: slices.Clone(low), High: slices.Clone(high)}
}

// Dim returns the number of float32 values one element of the space takes:
// 1 for a Discrete space, whose action index travels as one float32, and
// the dimension of a Box.
func (s Space) Dim() int {
	if s.Kind == DiscreteKind {
		return 1
	}
	return len(s.Low)
}

// String returns a short description such as "Discrete(2)" or "Box(3)".
func (s Space) String() string {
	if s.Kind == DiscreteKind {
		return fmt.Sprintf("Discrete(%d)", s.N)
	}
	return fmt.Sprintf("%v(%d)", s.Kind, len(s.Low))
}

// Equal reports whether s and o are the same space, bounds included.
func (s Space) Equal(o Space) bool {
	return s.Kind == o.Kind && s.N == o.N &&
		slices.Equal(s.Low, o.Low) && slices.Equal(s.High, o.High)
}

// Sample writes one uniformly random element of s into act (Dim() values):
// an action index for a Discrete space, a point of the box for a Box.
// Every random action in lago is drawn here, so that a seed gives the same
// actions in `lago env` and `lago eval -policy random`.
func (s Space) Sample(r *rand.Rand, act []float32) {
	if s.Kind == DiscreteKind {
		act[0] = float32(r.IntN(s.N))
		return
	}
	for j := range s.Low {
		lo, hi := float64(s.Low[j]), float64(s.High[j])
		act[j] = float32(lo + (hi-lo)*r.Float64())
	}
}

// Clip writes into dst the rows of src (each Dim() values) clipped to a Box's
// bounds, as Gymnasium's ClipAction wrapper does; dst may be src. For a
// Discrete space it copies src.
func (s Space) Clip(dst, src []float32) {
	if s.Kind == DiscreteKind {
		copy(dst, src)
		return
	}
	d := len(s.Low)
	for i, a := range src {
		j := i % d
		dst[i] = min(max(a, s.Low[j]), s.High[j])
	}
}
