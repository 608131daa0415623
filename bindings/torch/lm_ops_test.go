package torch

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// gradCheck compares autograd's gradient of loss = Σ f(inputs)·w (w fixed
// random weights, so every output element matters) with central finite
// differences in float64, for every element of every input.
func gradCheck(t *testing.T, name string, shapes [][]int64, f func(s *Scope, in []*Tensor) *Tensor) {
	t.Helper()
	d := testDevice(t)
	r := rand.New(rand.NewPCG(1, uint64(len(name))))
	vals := make([][]float64, len(shapes))
	for i, sh := range shapes {
		n, _ := shapeNumel(sh)
		vals[i] = randSlice(r, int(n), -1, 1)
	}
	var weights []float64
	loss := func(s *Scope, in []*Tensor) *Tensor {
		out := f(s, in)
		if s.Err() != nil {
			return nil
		}
		if weights == nil {
			weights = randSlice(r, int(out.Numel()), -1, 1)
		}
		w := FromSliceIn(s, weights, out.Shape(), d)
		return s.Sum(s.Mul(out, w))
	}
	lossAt := func(vs [][]float64) float64 {
		var v float64
		err := NoGrad(func() error {
			s := NewScope()
			defer s.Close()
			in := make([]*Tensor, len(vs))
			for i := range vs {
				in[i] = FromSliceIn(s, vs[i], shapes[i], d)
			}
			v = s.Item(loss(s, in))
			return s.Err()
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return v
	}
	s := NewScope()
	defer s.Close()
	in := make([]*Tensor, len(vals))
	for i := range vals {
		in[i] = FromSliceIn(s, vals[i], shapes[i], d)
		s.Fail(in[i].SetRequiresGrad(true))
	}
	s.Backward(loss(s, in))
	if s.Err() != nil {
		t.Fatalf("%s: %v", name, s.Err())
	}
	const h = 1e-6
	for i := range in {
		g := values(t, s.Grad(in[i]))
		for j := range vals[i] {
			shifted := func(delta float64) float64 {
				vs := make([][]float64, len(vals))
				copy(vs, vals)
				vs[i] = append([]float64(nil), vals[i]...)
				vs[i][j] += delta
				return lossAt(vs)
			}
			fd := (shifted(h) - shifted(-h)) / (2 * h)
			if math.Abs(fd-g[j]) > 1e-6*math.Max(1, math.Abs(fd)) {
				t.Errorf("%s: d/d input %d [%d]: autograd %.9g, finite differences %.9g", name, i, j, g[j], fd)
			}
		}
	}
}

func TestLMOpsGradients(t *testing.T) {
	cases := []struct {
		name   string
		shapes [][]int64
		f      func(s *Scope, in []*Tensor) *Tensor
	}{
		{"permute", [][]int64{{2, 3, 4}}, func(s *Scope, in []*Tensor) *Tensor { return s.Permute(in[0], 2, 0, 1) }},
		{"transpose", [][]int64{{2, 3, 4}}, func(s *Scope, in []*Tensor) *Tensor { return s.Transpose(in[0], -1, -2) }},
		{"narrow", [][]int64{{3, 5}}, func(s *Scope, in []*Tensor) *Tensor { return s.Narrow(in[0], 1, 1, 3) }},
		{"contiguous", [][]int64{{3, 4}}, func(s *Scope, in []*Tensor) *Tensor { return s.Contiguous(s.Transpose(in[0], 0, 1)) }},
		{"rsqrt", [][]int64{{6}}, func(s *Scope, in []*Tensor) *Tensor { return s.Rsqrt(s.AddS(s.Square(in[0]), 0.5)) }},
		{"silu", [][]int64{{7}}, func(s *Scope, in []*Tensor) *Tensor { return s.SiLU(s.MulS(in[0], 3)) }},
		{"embedding", [][]int64{{5, 3}}, func(s *Scope, in []*Tensor) *Tensor {
			ids := FromSliceIn(s, []int64{4, 0, 4, 2, 1, 4}, []int64{2, 3}, in[0].Device())
			return s.Embedding(in[0], ids)
		}},
		{"masked_fill", [][]int64{{3, 3}}, func(s *Scope, in []*Tensor) *Tensor {
			mask := s.GtS(FromSliceIn(s, []float64{0, 1, 1, 0, 0, 1, 0, 0, 0}, []int64{3, 3}, in[0].Device()), 0.5)
			return s.Softmax(s.MaskedFill(in[0], mask, math.Inf(-1)), -1)
		}},
		{"cross_entropy", [][]int64{{4, 5}}, func(s *Scope, in []*Tensor) *Tensor {
			tg := FromSliceIn(s, []int64{3, -100, 0, 4}, []int64{4}, in[0].Device())
			return s.CrossEntropy(in[0], tg, -100)
		}},
		{"batched matmul", [][]int64{{2, 3, 4}, {2, 4, 2}}, func(s *Scope, in []*Tensor) *Tensor { return s.Matmul(in[0], in[1]) }},
		{"broadcast matmul (GQA)", [][]int64{{2, 2, 3, 4}, {2, 1, 4, 3}}, func(s *Scope, in []*Tensor) *Tensor { return s.Matmul(in[0], in[1]) }},
		{"cat", [][]int64{{2, 1}, {2, 3}}, func(s *Scope, in []*Tensor) *Tensor { return s.Cat(-1, in[0], in[1]) }},
		{"softmax", [][]int64{{2, 5}}, func(s *Scope, in []*Tensor) *Tensor { return s.Softmax(in[0], -1) }},
		{"mean of squares over last dim", [][]int64{{3, 4}}, func(s *Scope, in []*Tensor) *Tensor {
			return s.MeanDim(s.PowS(in[0], 2), -1, true)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { gradCheck(t, c.name, c.shapes, c.f) })
	}
}

func TestLMOpsValues(t *testing.T) {
	d := testDevice(t)
	s := NewScope()
	defer s.Close()
	x := mustTensor(t, s, []float64{0, 1, 2, 3, 4, 5}, 2, 3)
	assertClose(t, "transpose", values(t, s.Contiguous(s.Transpose(x, 0, 1))), []float64{0, 3, 1, 4, 2, 5}, 0)
	assertClose(t, "permute", values(t, s.Contiguous(s.Permute(x, 1, 0))), []float64{0, 3, 1, 4, 2, 5}, 0)
	assertClose(t, "narrow", values(t, s.Contiguous(s.Narrow(x, 1, 1, 2))), []float64{1, 2, 4, 5}, 0)
	assertClose(t, "rsqrt", values(t, s.Rsqrt(mustTensor(t, s, []float64{4, 0.25}, 2))), []float64{0.5, 2}, 1e-12)
	assertClose(t, "silu", values(t, s.SiLU(mustTensor(t, s, []float64{0, 1}, 2))), []float64{0, 1 / (1 + math.Exp(-1))}, 1e-12)
	ids := FromSliceIn(s, []int64{1, 0}, []int64{2}, d)
	assertClose(t, "embedding", values(t, s.Embedding(x, ids)), []float64{3, 4, 5, 0, 1, 2}, 0)
	mask := s.GtS(x, 2.5)
	assertClose(t, "masked_fill", values(t, s.MaskedFill(x, mask, -1)), []float64{0, 1, 2, -1, -1, -1}, 0)
	logits := mustTensor(t, s, []float64{0, 0, 1, 1}, 2, 2)
	tg := FromSliceIn(s, []int64{-100, 1}, []int64{2}, d)
	assertClose(t, "cross_entropy", values(t, s.CrossEntropy(logits, tg, -100)), []float64{math.Log(2)}, 1e-12)
	// f16 has 10 mantissa bits: 1+2⁻¹¹ is a tie that goes to the even 1,
	// 1+3·2⁻¹¹ one that goes to the even 1+2⁻⁹; 0.1 reads back as
	// 0.0999755859375; 1e-8 is below half the least subnormal (2⁻²⁴);
	// 70000 is past the largest finite 65504.
	for _, dt := range []DType{Float32, Float64} {
		r := s.To(mustTensor(t, s, []float64{1 + math.Ldexp(1, -11), 1 + 3*math.Ldexp(1, -11), 0.1, -0.1, 1e-8, 70000, -65504}, 7), d, dt)
		got := values(t, s.To(s.RoundF16(r), d, Float64))
		if len(got) != 7 || !math.IsInf(got[5], 1) {
			t.Fatalf("round_f16 %s: %v, want +Inf at 5", dt, got)
		}
		got[5] = 0
		assertClose(t, "round_f16 "+dt.String(), got, []float64{1, 1 + math.Ldexp(1, -9), 0.0999755859375, -0.0999755859375, 0, 0, -65504}, 0)
	}
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
}

// roundF16 is the float16 nearest x (ties to even), as float32.
func roundF16(x float32) float32 {
	v := float64(x)
	a := math.Abs(v)
	switch {
	case a == 0 || math.IsInf(v, 0) || math.IsNaN(v):
		return x
	case a >= 65520: // halfway past the largest finite, 65504
		return float32(math.Inf(int(math.Copysign(1, v))))
	}
	_, e := math.Frexp(a) // a = f·2^e, f in [0.5, 1)
	q := math.Ldexp(1, max(e-11, -24))
	return float32(math.RoundToEven(v/q) * q)
}

// TestAttentionF16Acc follows llama.cpp's flash-attention loop written out
// in Go (f16 inputs, f32 products summed in float64, online softmax, an f16
// V accumulator rounded after every step) on a GQA shape with a causal and
// a padding mask.
func TestAttentionF16Acc(t *testing.T) {
	d := testDevice(t)
	if d != CPU {
		t.Skip("AttentionF16Acc runs on the CPU only")
	}
	const B, Hkv, G, T, Tk, D = 2, 2, 2, 3, 4, 8
	r := rand.New(rand.NewPCG(4, 4))
	gen := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64() * 2)
		}
		return v
	}
	q, k, v := gen(B*Hkv*G*T*D), gen(B*Hkv*Tk*D), gen(B*Hkv*Tk*D)
	// Query t sits at key position t+1 (one cached key before it); batch
	// row 1's last key is padding.
	mask := make([]bool, B*T*Tk)
	for b := range B {
		for t := range T {
			for c := range Tk {
				mask[(b*T+t)*Tk+c] = c > t+1 || (b == 1 && c == Tk-1)
			}
		}
	}
	const scale = 0.35
	want := make([]float64, B*Hkv*G*T*D)
	for b := range B {
		for h := range Hkv {
			for g := range G {
				for t := range T {
					row := ((b*Hkv+h)*G+g)*T + t
					mx, sum := float32(math.Inf(-1)), float32(0)
					acc := make([]float32, D)
					for c := range Tk {
						if mask[(b*T+t)*Tk+c] {
							continue
						}
						kr := ((b*Hkv+h)*Tk + c) * D
						var dot float64
						for i := range D {
							dot += float64(roundF16(q[row*D+i]) * roundF16(k[kr+i]))
						}
						s := float32(dot) * scale
						ms, vs := float32(1), float32(1)
						if s > mx {
							ms = float32(math.Exp(float64(mx - s)))
							mx = s
							for i := range acc {
								acc[i] = roundF16(acc[i] * ms)
							}
						} else {
							vs = float32(math.Exp(float64(s - mx)))
						}
						for i := range acc {
							acc[i] = roundF16(acc[i] + roundF16(v[kr+i])*vs)
						}
						sum = sum*ms + vs
					}
					for i := range acc {
						want[row*D+i] = float64(acc[i] * (1 / sum))
					}
				}
			}
		}
	}
	s := NewScope()
	defer s.Close()
	m := s.View(FromSliceIn(s, mask, []int64{B, T, Tk}, d), B, 1, 1, T, Tk)
	out := s.AttentionF16Acc(FromSliceIn(s, q, []int64{B, Hkv, G, T, D}, d), FromSliceIn(s, k, []int64{B, Hkv, Tk, D}, d),
		FromSliceIn(s, v, []int64{B, Hkv, Tk, D}, d), m, scale)
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	assertClose(t, "attention_f16acc", values(t, s.To(out, d, Float64)), want, 1e-6)
	s.Reset()
	m = s.View(FromSliceIn(s, mask, []int64{B, T, Tk}, d), B, 1, 1, T, Tk)
	if s.AttentionF16Acc(FromSliceIn(s, q, []int64{B, Hkv, G, T, D}, d), FromSliceIn(s, k, []int64{B, Hkv, Tk, D}, d),
		FromSliceIn(s, v, []int64{B, Hkv, Tk / 2, 2 * D}, d), m, scale); s.Err() == nil || !strings.Contains(s.Err().Error(), "keys and values must be") {
		t.Errorf("mismatched values: %v", s.Err())
	}
}

func TestLMOpsShapeErrors(t *testing.T) {
	d := testDevice(t)
	cases := []struct {
		name, want string
		f          func(s *Scope, x *Tensor) *Tensor
	}{
		{"permute", "[2 3]", func(s *Scope, x *Tensor) *Tensor { return s.Permute(x, 0, 1, 2) }},
		{"transpose", "[2 3]", func(s *Scope, x *Tensor) *Tensor { return s.Transpose(x, 0, 5) }},
		{"narrow", "[2 3]", func(s *Scope, x *Tensor) *Tensor { return s.Narrow(x, 1, 2, 5) }},
		{"embedding", "the table has 2 rows", func(s *Scope, x *Tensor) *Tensor {
			return s.Embedding(x, FromSliceIn(s, []int64{0, 2}, []int64{2}, d))
		}},
		{"round to float16", "must be float32 or float64, not Long", func(s *Scope, x *Tensor) *Tensor {
			return s.RoundF16(FromSliceIn(s, []int64{1}, []int64{1}, d))
		}},
		{"masked_fill", "mask must be bool", func(s *Scope, x *Tensor) *Tensor { return s.MaskedFill(x, x, 0) }},
		{"cross_entropy", "want logits [n, c] and targets [n]", func(s *Scope, x *Tensor) *Tensor {
			return s.CrossEntropy(x, FromSliceIn(s, []int64{0}, []int64{1}, d), -100)
		}},
	}
	for _, c := range cases {
		s := NewScope()
		x := mustTensor(t, s, []float64{0, 1, 2, 3, 4, 5}, 2, 3)
		if out := c.f(s, x); out != nil || s.Err() == nil {
			t.Errorf("%s: no error", c.name)
		} else if !strings.Contains(s.Err().Error(), c.want) || !strings.Contains(s.Err().Error(), c.name) {
			t.Errorf("%s: error %q does not name the op and %q", c.name, s.Err(), c.want)
		}
		s.Close()
	}
}

// TestAdamWMatchesTheFormula checks one AdamW step against torch.optim.AdamW's
// update written out: p ← p(1−lr·λ) − lr·m̂/(√v̂+ε), with m̂ = g, v̂ = g² at step 1.
func TestAdamWMatchesTheFormula(t *testing.T) {
	d := testDevice(t)
	p, err := FromSlice([]float64{1, -2}, []int64{2}, d)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Free()
	q, err := FromSlice([]float64{3}, []int64{1}, d)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Free()
	p.SetRequiresGrad(true)
	q.SetRequiresGrad(true)
	opt, err := NewAdamW([]*Tensor{p, q}, []*Tensor{p}, AdamOptions{LR: 0.1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	defer opt.Free()
	s := NewScope()
	defer s.Close()
	// loss = Σ p²/2 + 2q: grads p and 2.
	s.Backward(s.Add(s.MulS(s.Sum(s.Square(p)), 0.5), s.MulS(s.Sum(q), 2)))
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	if err := opt.Step(); err != nil {
		t.Fatal(err)
	}
	step := func(p0, g, decay float64) float64 {
		return p0*(1-0.1*decay) - 0.1*g/(math.Sqrt(g*g)+1e-8)
	}
	assertClose(t, "decayed", values(t, p), []float64{step(1, 1, 0.5), step(-2, -2, 0.5)}, 1e-12)
	assertClose(t, "not decayed", values(t, q), []float64{step(3, 2, 0)}, 1e-12)
	if _, err := NewAdamW([]*Tensor{p}, []*Tensor{q}, AdamOptions{LR: 0.1}); err == nil {
		t.Error("a decayed parameter outside the list was accepted")
	}
}
