package lm

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lago-rl/lago/bindings/torch"
)

// gqaShape has grouped-query attention (4 query heads on 2 KV heads) and a
// rope base and epsilon that are not the defaults, so a wrong head mapping,
// pairing or constant shows.
var gqaShape = Shape{Vocab: 11, Dim: 16, Layers: 2, Heads: 4, KVHeads: 2, FFN: 24, Context: 16, RopeBase: 500, NormEps: 1e-5}

// randomWeights draws every parameter, norm gains included (1 + 0.3·N), so
// a norm applied as 1+w or ignored shows.
func randomWeights(s Shape, seed uint64, std float64) [][]float32 {
	r := rand.New(rand.NewPCG(seed, 9))
	var out [][]float32
	for _, sp := range s.specs() {
		n := int64(1)
		for _, d := range sp.shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			if sp.norm {
				v[i] = float32(1 + 0.3*r.NormFloat64())
			} else {
				v[i] = float32(std * r.NormFloat64())
			}
		}
		out = append(out, v)
	}
	return out
}

// referenceLogits is llama.cpp's llama forward written out with loops in
// float64, straight from the recipe in the package comment, for one sequence.
func referenceLogits(s Shape, w [][]float32, ids []int) [][]float64 {
	D, H, Hkv, T := s.HeadDim(), s.Heads, s.KVHeads, len(ids)
	at := func(t []float32, i int) float64 { return float64(t[i]) }
	matvec := func(m []float32, rows, cols int, x []float64) []float64 {
		y := make([]float64, rows)
		for r := range rows {
			for c := range cols {
				y[r] += at(m, r*cols+c) * x[c]
			}
		}
		return y
	}
	norm := func(x []float64, g []float32) []float64 {
		var ms float64
		for _, v := range x {
			ms += v * v
		}
		ms /= float64(len(x))
		inv := 1 / math.Sqrt(ms+float64(s.NormEps))
		y := make([]float64, len(x))
		for i := range x {
			y[i] = x[i] * inv * at(g, i)
		}
		return y
	}
	rope := func(v []float64, p int) {
		for h := 0; h < len(v)/D; h++ {
			for i := 0; i < D/2; i++ {
				theta := float64(p) * math.Pow(s.RopeBase, -2*float64(i)/float64(D))
				a, b := v[h*D+2*i], v[h*D+2*i+1]
				v[h*D+2*i] = a*math.Cos(theta) - b*math.Sin(theta)
				v[h*D+2*i+1] = a*math.Sin(theta) + b*math.Cos(theta)
			}
		}
	}
	x := make([][]float64, T)
	for t, id := range ids {
		x[t] = make([]float64, s.Dim)
		for c := range s.Dim {
			x[t][c] = at(w[0], id*s.Dim+c)
		}
	}
	for l := range s.Layers {
		p := w[1+9*l:]
		q, k, v := make([][]float64, T), make([][]float64, T), make([][]float64, T)
		for t := range T {
			h := norm(x[t], p[0])
			q[t] = matvec(p[1], s.Dim, s.Dim, h)
			k[t] = matvec(p[2], Hkv*D, s.Dim, h)
			v[t] = matvec(p[3], Hkv*D, s.Dim, h)
			rope(q[t], t)
			rope(k[t], t)
		}
		for t := range T {
			att := make([]float64, s.Dim)
			for h := range H {
				kv := h / (H / Hkv)
				scores := make([]float64, t+1)
				mx := math.Inf(-1)
				for j := 0; j <= t; j++ {
					for c := range D {
						scores[j] += q[t][h*D+c] * k[j][kv*D+c]
					}
					scores[j] /= math.Sqrt(float64(D))
					mx = math.Max(mx, scores[j])
				}
				var z float64
				for j := range scores {
					scores[j] = math.Exp(scores[j] - mx)
					z += scores[j]
				}
				for j := range scores {
					for c := range D {
						att[h*D+c] += scores[j] / z * v[j][kv*D+c]
					}
				}
			}
			o := matvec(p[4], s.Dim, s.Dim, att)
			for c := range o {
				x[t][c] += o[c]
			}
			h := norm(x[t], p[5])
			g := matvec(p[6], s.FFN, s.Dim, h)
			u := matvec(p[7], s.FFN, s.Dim, h)
			for i := range g {
				g[i] = g[i] / (1 + math.Exp(-g[i])) * u[i]
			}
			d := matvec(p[8], s.Dim, s.FFN, g)
			for c := range d {
				x[t][c] += d[c]
			}
		}
	}
	n := len(w)
	out := make([][]float64, T)
	for t := range T {
		out[t] = matvec(w[n-1], s.Vocab, s.Dim, norm(x[t], w[n-2]))
	}
	return out
}

func TestForwardMatchesReference(t *testing.T) {
	w := randomWeights(gqaShape, 1, 0.3)
	m, err := FromWeights(gqaShape, w, torch.Float64, torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	rope, err := NewRope(gqaShape, gqaShape.Context, torch.Float64, torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer rope.Free()
	seqs := [][]int{{1, 5, 3, 9, 9, 2, 10}, {1, 4, 4, 0, 7, 8, 6}}
	T := int64(len(seqs[0]))
	var flat []int64
	for _, sq := range seqs {
		for _, id := range sq {
			flat = append(flat, int64(id))
		}
	}
	s := torch.NewScope()
	defer s.Close()
	ids := torch.FromSliceIn(s, flat, []int64{2, T}, torch.CPU)
	logits := m.Logits(s, m.Hidden(s, ids, Mask(s, 2, T, nil, torch.CPU), rope))
	got, err := torch.ToSlice[float64](logits)
	if s.Err() != nil || err != nil {
		t.Fatal(s.Err(), err)
	}
	var worst float64
	for b, sq := range seqs {
		want := referenceLogits(gqaShape, w, sq)
		for ti := range want {
			for v := range want[ti] {
				worst = math.Max(worst, math.Abs(got[(b*int(T)+ti)*gqaShape.Vocab+v]-want[ti][v]))
			}
		}
	}
	if worst > 1e-9 {
		t.Errorf("logits differ from the reference by up to %g", worst)
	}
}

// TestPaddingDoesNotChangeRealTokens: right padding with its key mask
// leaves the real tokens' logits as in an unpadded batch of one.
func TestPaddingDoesNotChangeRealTokens(t *testing.T) {
	w := randomWeights(gqaShape, 2, 0.3)
	m, err := FromWeights(gqaShape, w, torch.Float64, torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	rope, err := NewRope(gqaShape, gqaShape.Context, torch.Float64, torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer rope.Free()
	s := torch.NewScope()
	defer s.Close()
	ids := torch.FromSliceIn(s, []int64{1, 5, 3, 0, 0, 1, 2, 3, 4, 5}, []int64{2, 5}, torch.CPU)
	pad := []bool{false, false, false, true, true, false, false, false, false, false}
	got, _ := torch.ToSlice[float64](m.Logits(s, m.Hidden(s, ids, Mask(s, 2, 5, pad, torch.CPU), rope)))
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	want := referenceLogits(gqaShape, w, []int{1, 5, 3})
	for ti := range want {
		for v := range want[ti] {
			if d := math.Abs(got[ti*gqaShape.Vocab+v] - want[ti][v]); d > 1e-9 {
				t.Fatalf("token %d logit %d: padded batch %g, alone %g", ti, v, got[ti*gqaShape.Vocab+v], want[ti][v])
			}
		}
	}
}

// TestBlockGradients checks autograd through one transformer block (norm,
// GQA attention with RoPE and mask, SwiGLU) against finite differences in
// float64, for every weight of the block and the input.
func TestBlockGradients(t *testing.T) {
	sh := Shape{Vocab: 5, Dim: 8, Layers: 1, Heads: 2, KVHeads: 1, FFN: 6, Context: 4, RopeBase: 10000, NormEps: 1e-5}
	w := randomWeights(sh, 3, 0.5)
	m, err := FromWeights(sh, w, torch.Float64, torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	rope, err := NewRope(sh, 4, torch.Float64, torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer rope.Free()
	r := rand.New(rand.NewPCG(4, 4))
	const B, T = 2, 3
	xv := make([]float64, B*T*sh.Dim)
	cw := make([]float64, B*T*sh.Dim)
	for i := range xv {
		xv[i], cw[i] = r.NormFloat64(), r.NormFloat64()
	}
	x, _ := torch.FromSlice(xv, []int64{B, T, int64(sh.Dim)}, torch.CPU)
	defer x.Free()
	x.SetRequiresGrad(true)
	pad := []bool{false, false, false, false, false, true}
	loss := func(s *torch.Scope) *torch.Tensor {
		out := m.Block(s, 0, x, Mask(s, B, T, pad, torch.CPU), rope)
		return s.Sum(s.Mul(out, torch.FromSliceIn(s, cw, []int64{B, T, int64(sh.Dim)}, torch.CPU)))
	}
	s := torch.NewScope()
	defer s.Close()
	s.Backward(loss(s))
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	b := m.Blocks[0]
	params := map[string]*torch.Tensor{"input": x, "attn_norm": b.AttnNorm, "q": b.Q, "k": b.K, "v": b.V, "out": b.Out, "ffn_norm": b.FFNNorm, "gate": b.Gate, "up": b.Up, "down": b.Down}
	for name, p := range params {
		grad, _ := torch.ToSlice[float64](s.Grad(p))
		vals, _ := torch.ToSlice[float64](p)
		probe := func(i int, delta float64) float64 {
			shifted := append([]float64(nil), vals...)
			shifted[i] += delta
			ps := torch.NewScope()
			defer ps.Close()
			p.CopyFrom(torch.FromSliceIn(ps, shifted, p.Shape(), torch.CPU))
			var v float64
			torch.NoGrad(func() error {
				ls := torch.NewScope()
				defer ls.Close()
				v = ls.Item(loss(ls))
				return ls.Err()
			})
			return v
		}
		for i := range vals {
			const h = 1e-6
			fd := (probe(i, h) - probe(i, -h)) / (2 * h)
			if math.Abs(fd-grad[i]) > 1e-6*math.Max(1, math.Abs(fd)) {
				t.Errorf("%s[%d]: autograd %.9g, finite differences %.9g", name, i, grad[i], fd)
			}
		}
		ps := torch.NewScope()
		p.CopyFrom(torch.FromSliceIn(ps, vals, p.Shape(), torch.CPU))
		ps.Close()
	}
}

func TestShapeCheckNamesTheField(t *testing.T) {
	base := gqaShape
	cases := []struct {
		mut  func(*Shape)
		want string
	}{
		{func(s *Shape) { s.Heads = 3 }, "heads = 3 must divide dim"},
		{func(s *Shape) { s.KVHeads = 3 }, "kv_heads = 3"},
		{func(s *Shape) { s.Dim = 12; s.Heads = 4; s.KVHeads = 4 }, "must be even"},
		{func(s *Shape) { s.Layers = 0 }, "layers = 0"},
		{func(s *Shape) { s.RopeBase = 0 }, "rope base"},
	}
	for _, c := range cases {
		s := base
		c.mut(&s)
		if err := s.Check(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want it to say %q", s, err, c.want)
		}
	}
}
