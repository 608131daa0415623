package torch

import "testing"

// BenchmarkTrainStep is the measurement behind the BLAS choice: one
// forward+backward+Adam step of a 16-64-64-1 tanh MLP on a 2048×16 batch.
func BenchmarkTrainStep(b *testing.B) {
	d := testDevice(b)
	m, err := NewMLP([]int{16, 64, 64, 1}, Tanh, Sqrt2, 1, Float32, d)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Free()
	opt, err := NewAdam(m.Parameters(), DefaultAdam(1e-3, 1e-5))
	if err != nil {
		b.Fatal(err)
	}
	defer opt.Free()
	x, err := Randn([]int64{2048, 16}, Float32, d)
	if err != nil {
		b.Fatal(err)
	}
	defer x.Free()
	y, err := Randn([]int64{2048, 1}, Float32, d)
	if err != nil {
		b.Fatal(err)
	}
	defer y.Free()
	s := NewScope()
	defer s.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Backward(s.Mean(s.Square(s.Sub(m.Forward(s, x), y))))
		if err := s.Err(); err != nil {
			b.Fatal(err)
		}
		if err := opt.Step(); err != nil {
			b.Fatal(err)
		}
		if err := opt.ZeroGrad(); err != nil {
			b.Fatal(err)
		}
		s.Reset()
	}
}

// BenchmarkOpDispatch is the floor of one small op through the shim: a cgo
// call, libtorch's dispatcher and a Go wrapper.
func BenchmarkOpDispatch(b *testing.B) {
	x, err := Zeros([]int64{4}, Float32, CPU)
	if err != nil {
		b.Fatal(err)
	}
	defer x.Free()
	s := NewScope()
	defer s.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.AddS(x, 1)
		if i%1024 == 0 {
			s.Reset()
		}
	}
}
