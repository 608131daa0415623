package clevr

import (
	"math/rand/v2"
)

// Symmetry is a relabelling of the scene that leaves its physics, its
// rewards and its expert unchanged: the five balls are the same sphere in
// five colours, and the table, the walls and the pusher's park are
// symmetric about x = 0. So a state whose colours are permuted, or mirrored
// left to right, is as likely and is solved by the permuted or mirrored
// push. A dataset of demonstrations grows by these without collecting more
// (engine/demos, DatasetConfig.Augment): 240 views of each state, each with
// its own text.
type Symmetry struct {
	// Mirror maps x to −x: left ↔ right in positions, relations and pushes.
	Mirror bool
	// Perm[i] is the ball (colour) that ball i becomes.
	Perm [NumBalls]int
}

// Identity is the symmetry that changes nothing.
var Identity = Symmetry{Perm: [NumBalls]int{0, 1, 2, 3, 4}}

// mirrorDir is the index in Dirs of each direction seen in a mirror.
var mirrorDir = [NumDirs]int{2, 1, 0, 3, 5, 4, 7, 6}

// RandomSymmetry draws a symmetry other than the identity, uniformly from
// the other 239.
func RandomSymmetry(r *rand.Rand) Symmetry {
	for {
		s := Symmetry{Mirror: r.IntN(2) == 1}
		for i, j := range r.Perm(NumBalls) {
			s.Perm[i] = j
		}
		if s != Identity {
			return s
		}
	}
}

// Action maps a push of the original state to the same push in the
// transformed one.
func (s Symmetry) Action(a int) int {
	ball, dir := a/NumDirs, a%NumDirs
	if s.Mirror {
		dir = mirrorDir[dir]
	}
	return s.Perm[ball]*NumDirs + dir
}

// relation maps a relation: a mirror swaps left and right.
func (s Symmetry) relation(r Relation) Relation {
	if s.Mirror && (r == Left || r == Right) {
		return r.opposite()
	}
	return r
}

// goal maps a goal's balls and relation.
func (s Symmetry) goal(g Goal) Goal {
	return Goal{Src: s.Perm[g.Src], Dst: s.Perm[g.Dst], Rel: s.relation(g.Rel)}
}

// Preserves reports whether s leaves task t's meaning intact: every
// symmetry does for relations and pushes; the ordered row is by colour
// from left to right and the gathering is around green, so they admit none
// but the identity.
func (s Symmetry) Preserves(t Task) bool {
	return s == Identity || t.Kind == KindRelations || t.Kind == KindPush
}

// Apply transforms the Env's current state by s: the balls' positions and
// velocities (and orientations, as a mirror turns them), the pusher's, the
// task and the instruction, which is phrased again from the same frame with
// the new colours and relations. The solver's warm start is left as it
// was: it only seeds the next step's solver. Apply returns false, changing
// nothing, when s does not preserve the task (Symmetry.Preserves).
func (e *Env) Apply(s Symmetry) bool {
	if !s.Preserves(e.task) {
		return false
	}
	if s == Identity {
		return true
	}
	q, v := e.data.QPos(), e.data.QVel()
	// A free joint: qpos x y z, quaternion w x y z; dof v x y z, ω x y z.
	var qs [NumBalls][7]float64
	var vs [NumBalls][6]float64
	for i := range NumBalls {
		copy(qs[i][:], q[e.ballQPos[i]:e.ballQPos[i]+7])
		copy(vs[i][:], v[e.ballDof[i]:e.ballDof[i]+6])
		if s.Mirror {
			// x → −x: a reflection turns a body about the mirrored axis,
			// (w, x, y, z) → (w, x, −y, −z), and ω, a pseudo-vector,
			// likewise.
			qs[i][0], qs[i][5], qs[i][6] = -qs[i][0], -qs[i][5], -qs[i][6]
			vs[i][0], vs[i][4], vs[i][5] = -vs[i][0], -vs[i][4], -vs[i][5]
		}
	}
	for i := range NumBalls {
		j := s.Perm[i]
		copy(q[e.ballQPos[j]:], qs[i][:])
		copy(v[e.ballDof[j]:], vs[i][:])
	}
	if s.Mirror {
		q[e.pusherQPos[0]], v[e.pusherDof[0]] = -q[e.pusherQPos[0]], -v[e.pusherDof[0]]
		c := e.data.Ctrl()
		c[e.pusherCtrl[0]] = -c[e.pusherCtrl[0]]
	}
	e.data.Forward()

	e.task = s.task(e.task)
	e.goal = e.task.Rels[0]
	e.encodeGoal()
	return true
}

// task maps a relations or push task's balls and relations.
func (s Symmetry) task(t Task) Task {
	switch t.Kind {
	case KindRelations:
		for k := range t.Rels[:t.N] {
			t.Rels[k] = s.goal(t.Rels[k])
		}
	case KindPush:
		t.Ball, t.Dir = s.Perm[t.Ball], s.relation(t.Dir)
	}
	return t
}

// ApplyRandomSymmetry applies a RandomSymmetry (env.Symmetric) and returns
// its map of actions; false, changing nothing, for the ordered row and the
// gathering.
func (e *Env) ApplyRandomSymmetry(r *rand.Rand) (func(int) int, bool) {
	s := RandomSymmetry(r)
	if !e.Apply(s) {
		return nil, false
	}
	return s.Action, true
}
