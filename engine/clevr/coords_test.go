package clevr

import (
	"bytes"
	"math"
	"testing"
)

func TestSetCoords(t *testing.T) {
	e := newEnv(t, Options{})
	obs := make([]float32, obsDim)
	e.Seed(7)
	e.Reset(obs)
	e.Step([]float32{3}, obs) // a push, so that some velocities are not zero
	c := e.Coords(nil)
	if len(c) != 2*NumBalls {
		t.Fatalf("Coords: %d values, want %d", len(c), 2*NumBalls)
	}
	before, err := e.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	vel := append([]float64(nil), e.data.QVel()...)

	if !e.ValidCoords(c) {
		t.Fatalf("the env's own layout %v is not valid", c)
	}
	far := func(i int) []float64 { // ball i moved where it cannot be
		d := append([]float64(nil), c...)
		d[2*i] = WallXMax + 0.01
		return d
	}
	onto := append([]float64(nil), c...)
	onto[2], onto[3] = c[0]+BallRadius, c[1] // ball 1 half into ball 0
	nan := append([]float64(nil), c...)
	nan[5] = math.NaN()
	for name, bad := range map[string][]float64{
		"ball 0 past a wall": far(0), "ball 4 past a wall": far(4), "overlap": onto,
		"NaN": nan, "too short": c[:9], "too long": append(append([]float64(nil), c...), 0),
	} {
		if e.ValidCoords(bad) {
			t.Errorf("%s: ValidCoords accepted %v", name, bad)
		}
	}

	// A valid layout moves exactly the centres, and the views follow.
	moved := append([]float64(nil), c...)
	best, gap := 0, 0.0 // the ball with the most room to its right
	for i := range NumBalls {
		room := reachXMax - c[2*i]
		for j := range NumBalls {
			if j != i && math.Abs(c[2*j+1]-c[2*i+1]) < 2*BallRadius && c[2*j] > c[2*i] {
				room = min(room, c[2*j]-c[2*i]-2*BallRadius)
			}
		}
		if room > gap {
			best, gap = i, room
		}
	}
	if gap < 0.03 {
		t.Fatalf("no ball has 3 cm of room in this layout (%.3f); choose another seed", gap)
	}
	moved[2*best] += 0.025
	if !e.ValidCoords(moved) {
		t.Fatalf("ValidCoords refused a valid layout %v", moved)
	}
	e.SetCoords(moved)
	p := e.Positions()
	for i := range NumBalls {
		if p[i][0] != moved[2*i] || p[i][1] != moved[2*i+1] {
			t.Fatalf("ball %d at %v after SetCoords, want (%v, %v)", i, p[i], moved[2*i], moved[2*i+1])
		}
	}
	for i, v := range e.data.QVel() {
		if v != vel[i] {
			t.Fatalf("SetCoords changed velocity %d: %v → %v", i, vel[i], v)
		}
	}
	e.SetCoords(c)
	if after, _ := e.MarshalBinary(); !bytes.Equal(after, before) {
		t.Fatal("moving the balls back did not restore the state")
	}
}
