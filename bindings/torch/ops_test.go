package torch

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// testDevice is the device the tests run on: CUDA when libtorch sees one, so
// the same tests check the GPU build on a GPU machine.
func testDevice(t testing.TB) Device {
	t.Helper()
	if CUDAAvailable() {
		return CUDA(0)
	}
	return CPU
}

func randSlice(r *rand.Rand, n int, lo, hi float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = lo + (hi-lo)*r.Float64()
	}
	return out
}

func mustTensor(t *testing.T, s *Scope, data []float64, shape ...int64) *Tensor {
	t.Helper()
	x := FromSliceIn(s, data, shape, testDevice(t))
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	return x
}

func values(t *testing.T, x *Tensor) []float64 {
	t.Helper()
	v, err := ToSlice[float64](x)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func assertClose(t *testing.T, name string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", name, len(got), len(want))
	}
	for i := range got {
		if math.IsNaN(want[i]) != math.IsNaN(got[i]) || math.Abs(got[i]-want[i]) > tol*(1+math.Abs(want[i])) {
			t.Fatalf("%s: element %d = %.12g, want %.12g", name, i, got[i], want[i])
		}
	}
}

func mapF(xs []float64, f func(float64) float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

func zipF(a, b []float64, f func(x, y float64) float64) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = f(a[i], b[i])
	}
	return out
}

func TestElementwiseOps(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	a := randSlice(r, 12, 0.1, 2) // positive, so log/sqrt/pow are defined
	b := randSlice(r, 12, -2, 2)
	unary := []struct {
		name string
		op   func(*Scope, *Tensor) *Tensor
		ref  func(float64) float64
	}{
		{"neg", (*Scope).Neg, func(x float64) float64 { return -x }},
		{"exp", (*Scope).Exp, math.Exp},
		{"log", (*Scope).Log, math.Log},
		{"log1p", (*Scope).Log1p, math.Log1p},
		{"tanh", (*Scope).Tanh, math.Tanh},
		{"relu", func(s *Scope, x *Tensor) *Tensor { return s.Relu(s.SubS(x, 1)) }, func(x float64) float64 { return math.Max(x-1, 0) }},
		{"sqrt", (*Scope).Sqrt, math.Sqrt},
		{"square", (*Scope).Square, func(x float64) float64 { return x * x }},
		{"abs", func(s *Scope, x *Tensor) *Tensor { return s.Abs(s.SubS(x, 1)) }, func(x float64) float64 { return math.Abs(x - 1) }},
		{"sigmoid", (*Scope).Sigmoid, func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }},
		{"clamp", func(s *Scope, x *Tensor) *Tensor { return s.Clamp(x, 0.5, 1.5) }, func(x float64) float64 { return math.Min(math.Max(x, 0.5), 1.5) }},
		{"clamp_min", func(s *Scope, x *Tensor) *Tensor { return s.ClampMin(x, 1) }, func(x float64) float64 { return math.Max(x, 1) }},
		{"clamp_max", func(s *Scope, x *Tensor) *Tensor { return s.ClampMax(x, 1) }, func(x float64) float64 { return math.Min(x, 1) }},
		{"add_s", func(s *Scope, x *Tensor) *Tensor { return s.AddS(x, 3) }, func(x float64) float64 { return x + 3 }},
		{"sub_s", func(s *Scope, x *Tensor) *Tensor { return s.SubS(x, 3) }, func(x float64) float64 { return x - 3 }},
		{"mul_s", func(s *Scope, x *Tensor) *Tensor { return s.MulS(x, -2) }, func(x float64) float64 { return -2 * x }},
		{"div_s", func(s *Scope, x *Tensor) *Tensor { return s.DivS(x, 4) }, func(x float64) float64 { return x / 4 }},
		{"pow_s", func(s *Scope, x *Tensor) *Tensor { return s.PowS(x, 2.5) }, func(x float64) float64 { return math.Pow(x, 2.5) }},
		{"rsub_s", func(s *Scope, x *Tensor) *Tensor { return s.RSubS(x, 1) }, func(x float64) float64 { return 1 - x }},
		{"detach", (*Scope).Detach, func(x float64) float64 { return x }},
		{"clone", (*Scope).Clone, func(x float64) float64 { return x }},
	}
	for _, tc := range unary {
		t.Run(tc.name, func(t *testing.T) {
			s := NewScope()
			defer s.Close()
			got := tc.op(s, mustTensor(t, s, a, 3, 4))
			if s.Err() != nil {
				t.Fatal(s.Err())
			}
			assertClose(t, tc.name, values(t, got), mapF(a, tc.ref), 1e-12)
		})
	}
	binary := []struct {
		name string
		op   func(*Scope, *Tensor, *Tensor) *Tensor
		ref  func(x, y float64) float64
	}{
		{"add", (*Scope).Add, func(x, y float64) float64 { return x + y }},
		{"sub", (*Scope).Sub, func(x, y float64) float64 { return x - y }},
		{"mul", (*Scope).Mul, func(x, y float64) float64 { return x * y }},
		{"div", (*Scope).Div, func(x, y float64) float64 { return x / y }},
		{"minimum", (*Scope).Minimum, math.Min},
		{"maximum", (*Scope).Maximum, math.Max},
		{"pow", (*Scope).Pow, math.Pow},
	}
	for _, tc := range binary {
		t.Run(tc.name, func(t *testing.T) {
			s := NewScope()
			defer s.Close()
			got := tc.op(s, mustTensor(t, s, a, 3, 4), mustTensor(t, s, b, 3, 4))
			if s.Err() != nil {
				t.Fatal(s.Err())
			}
			assertClose(t, tc.name, values(t, got), zipF(a, b, tc.ref), 1e-12)
		})
	}
}

func TestComparisonsAndWhere(t *testing.T) {
	s := NewScope()
	defer s.Close()
	a := mustTensor(t, s, []float64{1, 2, 3, 4}, 4)
	b := mustTensor(t, s, []float64{4, 2, 1, 5}, 4)
	checks := []struct {
		name string
		got  *Tensor
		want []bool
	}{
		{"gt", s.Gt(a, b), []bool{false, false, true, false}},
		{"lt", s.Lt(a, b), []bool{true, false, false, true}},
		{"ge", s.Ge(a, b), []bool{false, true, true, false}},
		{"le", s.Le(a, b), []bool{true, true, false, true}},
		{"eq", s.Eq(a, b), []bool{false, true, false, false}},
		{"gt_s", s.GtS(a, 2), []bool{false, false, true, true}},
		{"lt_s", s.LtS(a, 2), []bool{true, false, false, false}},
		{"ge_s", s.GeS(a, 2), []bool{false, true, true, true}},
		{"le_s", s.LeS(a, 2), []bool{true, true, false, false}},
		{"eq_s", s.EqS(a, 2), []bool{false, true, false, false}},
		{"not", s.Not(s.GtS(a, 2)), []bool{true, true, false, false}},
		{"and", s.And(s.GtS(a, 1), s.LtS(a, 4)), []bool{false, true, true, false}},
		{"or", s.Or(s.LtS(a, 2), s.GtS(a, 3)), []bool{true, false, false, true}},
	}
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	for _, c := range checks {
		got, err := ToSlice[bool](c.got)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Fatalf("%s = %v, want %v", c.name, got, c.want)
			}
		}
	}
	w := s.Where(s.GtS(a, 2), a, b)
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	assertClose(t, "where", values(t, w), []float64{4, 2, 3, 4}, 0)
}

func TestMatmulAndLinear(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const n, k, m = 5, 3, 4
	a, b, bias := randSlice(r, n*k, -1, 1), randSlice(r, k*m, -1, 1), randSlice(r, m, -1, 1)
	want := make([]float64, n*m)
	for i := 0; i < n; i++ {
		for j := 0; j < m; j++ {
			for l := 0; l < k; l++ {
				want[i*m+j] += a[i*k+l] * b[l*m+j]
			}
		}
	}
	s := NewScope()
	defer s.Close()
	ta, tb := mustTensor(t, s, a, n, k), mustTensor(t, s, b, k, m)
	assertClose(t, "matmul", values(t, s.Matmul(ta, tb)), want, 1e-12)
	// linear(x, W, b) = x·Wᵀ + b with W = bᵀ.
	lin := s.Linear(ta, s.T(tb), mustTensor(t, s, bias, m))
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	wantLin := make([]float64, n*m)
	for i := range wantLin {
		wantLin[i] = want[i] + bias[i%m]
	}
	assertClose(t, "linear", values(t, lin), wantLin, 1e-12)
}

func TestReductionsAndSoftmax(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const rows, cols = 3, 5
	x := randSlice(r, rows*cols, -3, 3)
	rowWise := func(f func(row []float64) []float64) []float64 {
		var out []float64
		for i := 0; i < rows; i++ {
			out = append(out, f(x[i*cols:(i+1)*cols])...)
		}
		return out
	}
	sum := func(v []float64) float64 {
		t := 0.0
		for _, x := range v {
			t += x
		}
		return t
	}
	mean := sum(x) / float64(len(x))
	varSum := 0.0
	for _, v := range x {
		varSum += (v - mean) * (v - mean)
	}
	softmax := func(row []float64) []float64 {
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, v)
		}
		e := mapF(row, func(v float64) float64 { return math.Exp(v - mx) })
		z := sum(e)
		return mapF(e, func(v float64) float64 { return v / z })
	}
	cases := []struct {
		name string
		op   func(*Scope, *Tensor) *Tensor
		want []float64
	}{
		{"sum", (*Scope).Sum, []float64{sum(x)}},
		{"mean", (*Scope).Mean, []float64{mean}},
		{"var", (*Scope).Var, []float64{varSum / float64(len(x)-1)}},
		{"std", (*Scope).Std, []float64{math.Sqrt(varSum / float64(len(x)-1))}},
		{"sum_dim", func(s *Scope, a *Tensor) *Tensor { return s.SumDim(a, 1, false) }, rowWise(func(r []float64) []float64 { return []float64{sum(r)} })},
		{"mean_dim0", func(s *Scope, a *Tensor) *Tensor { return s.MeanDim(a, 0, true) }, func() []float64 {
			out := make([]float64, cols)
			for j := 0; j < cols; j++ {
				for i := 0; i < rows; i++ {
					out[j] += x[i*cols+j] / rows
				}
			}
			return out
		}()},
		{"max_dim", func(s *Scope, a *Tensor) *Tensor { return s.MaxDim(a, -1, false) }, rowWise(func(r []float64) []float64 {
			m := math.Inf(-1)
			for _, v := range r {
				m = math.Max(m, v)
			}
			return []float64{m}
		})},
		{"min_dim", func(s *Scope, a *Tensor) *Tensor { return s.MinDim(a, -1, false) }, rowWise(func(r []float64) []float64 {
			m := math.Inf(1)
			for _, v := range r {
				m = math.Min(m, v)
			}
			return []float64{m}
		})},
		{"softmax", func(s *Scope, a *Tensor) *Tensor { return s.Softmax(a, -1) }, rowWise(softmax)},
		{"log_softmax", func(s *Scope, a *Tensor) *Tensor { return s.LogSoftmax(a, 1) }, mapF(rowWise(softmax), math.Log)},
		{"logsumexp", func(s *Scope, a *Tensor) *Tensor { return s.LogSumExp(a, 1, false) }, rowWise(func(r []float64) []float64 {
			return []float64{math.Log(sum(mapF(r, math.Exp)))}
		})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := NewScope()
			defer s.Close()
			got := tc.op(s, mustTensor(t, s, x, rows, cols))
			if s.Err() != nil {
				t.Fatal(s.Err())
			}
			assertClose(t, tc.name, values(t, got), tc.want, 1e-12)
		})
	}
}

func TestIndexingAndShapes(t *testing.T) {
	s := NewScope()
	defer s.Close()
	d := testDevice(t)
	x := mustTensor(t, s, []float64{0, 1, 2, 3, 4, 5}, 2, 3)
	idx := FromSliceIn(s, []int64{2, 0}, []int64{2, 1}, d)
	rows := FromSliceIn(s, []int64{1, 1, 0}, []int64{3}, d)
	cases := []struct {
		name  string
		got   *Tensor
		want  []float64
		shape []int64
	}{
		{"gather", s.Gather(x, 1, idx), []float64{2, 3}, []int64{2, 1}},
		{"index_select", s.IndexSelect(x, 0, rows), []float64{3, 4, 5, 3, 4, 5, 0, 1, 2}, []int64{3, 3}},
		{"cat0", s.Cat(0, x, x), []float64{0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5}, []int64{4, 3}},
		{"cat1", s.Cat(1, x, x), []float64{0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5}, []int64{2, 6}},
		{"stack", s.Stack(0, x, x), []float64{0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5}, []int64{2, 2, 3}},
		{"view", s.View(x, 3, -1), []float64{0, 1, 2, 3, 4, 5}, []int64{3, 2}},
		{"reshape_t", s.Reshape(s.T(x), 6), []float64{0, 3, 1, 4, 2, 5}, []int64{6}},
		{"unsqueeze", s.Unsqueeze(x, 0), []float64{0, 1, 2, 3, 4, 5}, []int64{1, 2, 3}},
		{"squeeze", s.Squeeze(s.Unsqueeze(x, 2), 2), []float64{0, 1, 2, 3, 4, 5}, []int64{2, 3}},
		{"argmax", s.To(s.Argmax(x, 1, false), d, Float64), []float64{2, 2}, []int64{2}},
	}
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	for _, c := range cases {
		assertClose(t, c.name, values(t, c.got), c.want, 0)
		if got := c.got.Shape(); len(got) != len(c.shape) {
			t.Fatalf("%s: shape %v, want %v", c.name, got, c.shape)
		} else {
			for i := range got {
				if got[i] != c.shape[i] {
					t.Fatalf("%s: shape %v, want %v", c.name, got, c.shape)
				}
			}
		}
	}
}

func TestDTypesRoundTrip(t *testing.T) {
	d := testDevice(t)
	f32 := []float32{1.5, -2.25, 3}
	i64 := []int64{-7, 0, 1 << 40}
	bs := []bool{true, false, true}
	s := NewScope()
	defer s.Close()
	tf := FromSliceIn(s, f32, []int64{3}, d)
	ti := FromSliceIn(s, i64, []int64{3}, d)
	tb := FromSliceIn(s, bs, []int64{3}, d)
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	if got, _ := ToSlice[float32](tf); got[0] != 1.5 || got[1] != -2.25 || got[2] != 3 || tf.DType() != Float32 {
		t.Fatalf("float32 round trip: %v (%v)", got, tf.DType())
	}
	if got, _ := ToSlice[int64](ti); got[2] != 1<<40 || ti.DType() != Int64 {
		t.Fatalf("int64 round trip: %v", got)
	}
	if got, _ := ToSlice[bool](tb); !got[0] || got[1] || !got[2] || tb.DType() != Bool {
		t.Fatalf("bool round trip: %v", got)
	}
	if _, err := ToSlice[float64](tf); err == nil || !strings.Contains(err.Error(), "float32") {
		t.Fatalf("reading float32 as float64: want a dtype error, got %v", err)
	}
	if _, err := FromSlice([]float32{1, 2, 3}, []int64{2, 2}, d); err == nil || !strings.Contains(err.Error(), "[2 2]") {
		t.Fatalf("shape/len mismatch: want an error naming the shape, got %v", err)
	}
	if tf.Device() != d {
		t.Fatalf("device %v, want %v", tf.Device(), d)
	}
	cpu := s.To(tf, CPU, Float64)
	if s.Err() != nil || cpu.Device() != CPU || cpu.DType() != Float64 {
		t.Fatalf("To: %v %v", cpu, s.Err())
	}
}

func TestShapeErrorsNameBothShapes(t *testing.T) {
	s := NewScope()
	defer s.Close()
	a := mustTensor(t, s, make([]float64, 6), 2, 3)
	b := mustTensor(t, s, make([]float64, 20), 4, 5)
	cases := []struct {
		name string
		op   func(s *Scope) *Tensor
		want []string
	}{
		{"matmul", func(s *Scope) *Tensor { return s.Matmul(a, b) }, []string{"matmul", "[2 3]", "[4 5]"}},
		{"add", func(s *Scope) *Tensor { return s.Add(a, b) }, []string{"add", "[2 3]", "[4 5]"}},
		{"linear", func(s *Scope) *Tensor { return s.Linear(a, b, nil) }, []string{"linear", "[2 3]", "[4 5]"}},
		{"view", func(s *Scope) *Tensor { return s.View(a, 4, 4) }, []string{"view", "[2 3]"}},
		{"gather", func(s *Scope) *Tensor { return s.Gather(a, 5, a) }, []string{"gather"}},
		{"cat", func(s *Scope) *Tensor { return s.Cat(1, a, b) }, []string{"cat"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := NewScope()
			defer s.Close()
			if got := tc.op(s); got != nil {
				t.Fatalf("got a tensor %v, want nil", got)
			}
			err := s.Err()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
			// Once failed, the scope stays failed and ops are no-ops.
			if s.Exp(a) != nil || s.Err() != err {
				t.Fatal("an op after the first error ran or replaced the error")
			}
		})
	}
}

func TestFreedTensorIsAnError(t *testing.T) {
	x, err := Zeros([]int64{2}, Float32, CPU)
	if err != nil {
		t.Fatal(err)
	}
	x.Free()
	x.Free() // harmless
	s := NewScope()
	defer s.Close()
	if s.Exp(x) != nil || s.Err() != ErrFreed {
		t.Fatalf("op on a freed tensor: err %v, want ErrFreed", s.Err())
	}
	if _, err := x.Item(); err != ErrFreed {
		t.Fatalf("Item on freed tensor: %v", err)
	}
}

func TestScopeFreesWhatItOwns(t *testing.T) {
	before := LiveTensors()
	s := NewScope()
	x := FromSliceIn(s, []float32{1, 2, 3}, []int64{3}, CPU)
	kept := s.Keep(s.Exp(s.Tanh(x)))
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	if got := LiveTensors() - before; got != 3 {
		t.Fatalf("%d live tensors, want 3", got)
	}
	s.Close()
	if got := LiveTensors() - before; got != 1 {
		t.Fatalf("after Close %d live tensors, want the 1 kept", got)
	}
	kept.Free()
	if got := LiveTensors() - before; got != 0 {
		t.Fatalf("after Free %d live tensors, want 0", got)
	}
}
