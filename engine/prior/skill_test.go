package prior

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/env"
	_ "github.com/lago-rl/lago/engine/metaworld" // MetaWorld-<task>-v3
)

// TestScriptedPriorsOverSkills: on an env with skills the scripted priors
// weight the skills — the expert's (scripted), the next one (scripted-wrong)
// or none (uniform) — and a single-skill task has no wrong skill.
func TestScriptedPriorsOverSkills(t *testing.T) {
	e, err := env.Make("MetaWorld-push-v3")
	if err != nil {
		t.Fatal(err)
	}
	defer e.(interface{ Close() }).Close()
	e.Seed(1)
	e.Reset(make([]float32, e.ObservationSpace().Dim()))
	sk := e.(env.Skilled)
	n, expert := sk.NumSkills(), sk.ExpertSkill()
	for _, c := range []struct {
		spec string
		hot  int // the skill with the extra mass, −1 for none
	}{
		{"scripted:0.9", expert},
		{"scripted-wrong:0.9", (expert + 1) % n},
		{"uniform", -1},
		{"scripted:0", -1},
	} {
		cfg := config.Default()
		cfg.Prior = c.spec
		p, err := New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]float32, n)
		if _, ok, err := p.Lookup(e, out); err != nil || !ok {
			t.Fatalf("%s: known %v, %v", c.spec, ok, err)
		}
		q := 0.0
		if c.hot >= 0 {
			q = 0.9
		}
		for z, w := range out {
			want := (1 - q) / float64(n)
			if z == c.hot {
				want += q
			}
			if math.Abs(float64(w)-want) > 1e-6 {
				t.Fatalf("%s: weights %v, want %v on skill %d of %d", c.spec, out, want, z, n)
			}
		}
	}

	reach, err := env.Make("MetaWorld-reach-v3")
	if err != nil {
		t.Fatal(err)
	}
	defer reach.(interface{ Close() }).Close()
	reach.Reset(make([]float32, reach.ObservationSpace().Dim()))
	cfg := config.Default()
	cfg.Prior = "scripted-wrong:0.9"
	p, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Lookup(reach, make([]float32, 1)); err == nil || !strings.Contains(err.Error(), "MetaWorld-reach-v3 has a single skill") {
		t.Fatalf("scripted-wrong on reach: %v, want an error naming the env", err)
	}
	if _, _, err := p.Lookup(e, make([]float32, 3)); err == nil || !strings.Contains(err.Error(), "declares 4 skills") {
		t.Fatalf("a row of the wrong length: %v", err)
	}
}
