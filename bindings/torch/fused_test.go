package torch

import (
	"strings"
	"testing"
)

// TestPPOGradCheck: the hand-written backward of PPOStep equals central
// finite differences of its loss in float64, for every branch of the loss:
// categorical and Gaussian heads, tanh and relu, with and without the
// value clip and advantage normalisation, the prior term in both
// directions, one and three layers per net.
func TestPPOGradCheck(t *testing.T) {
	base := PPOSpec{ActorLayers: 2, CriticLayers: 2, Act: Tanh, Discrete: true, ClipVLoss: true, NormAdv: true,
		ClipCoef: 0.2, EntCoef: 0.05, VFCoef: 0.5, MaxGradNorm: 0.5}
	for _, c := range []struct {
		name  string
		edit  func(*PPOSpec)
		prior int
	}{
		{"discrete", func(*PPOSpec) {}, 0},
		{"discrete-kl-reverse", func(*PPOSpec) {}, 1},
		{"discrete-kl-forward", func(*PPOSpec) {}, 2},
		{"discrete-relu-noclip-nonorm", func(s *PPOSpec) { s.Act, s.ClipVLoss, s.NormAdv = ReLU, false, false }, 1},
		{"discrete-1-and-3-layers", func(s *PPOSpec) { s.ActorLayers, s.CriticLayers = 1, 3 }, 2},
		{"gaussian", func(s *PPOSpec) { s.Discrete = false }, 0},
		{"gaussian-relu-noclip", func(s *PPOSpec) { s.Discrete, s.Act, s.ClipVLoss = false, ReLU, false }, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec := base
			c.edit(&spec)
			for seed := uint64(1); seed <= 3; seed++ {
				maxErr, maxGrad, err := PPOGradCheck(spec, 5, 7, 4, 9, c.prior, seed)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("seed %d: max error %.3g, max gradient %.3g", seed, maxErr, maxGrad)
				if maxGrad < 1e-3 {
					t.Fatalf("seed %d: largest gradient component %.3g: the check compares almost nothing", seed, maxGrad)
				}
				if maxErr > 1e-6*max(maxGrad, 1) {
					t.Errorf("seed %d: gradient and finite differences differ by %.3g (largest component %.3g)", seed, maxErr, maxGrad)
				}
			}
		})
	}
}

func TestPPOGradCheckErrors(t *testing.T) {
	spec := PPOSpec{ActorLayers: 2, CriticLayers: 2, Discrete: false}
	for _, c := range []struct {
		prior, rows int
		want        string
	}{
		{1, 9, "discrete only"},
		{3, 9, "0 none"},
		{0, 1, "at least 2 rows"},
	} {
		_, _, err := PPOGradCheck(spec, 5, 7, 4, c.rows, c.prior, 1)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("prior %d, %d rows: error %v, want one saying %q", c.prior, c.rows, err, c.want)
		}
	}
}
