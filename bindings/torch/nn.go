package torch

import (
	"fmt"
	"math"
)

// Activation is the non-linearity between an MLP's layers.
type Activation int

// The activations lago's networks use.
const (
	Tanh Activation = iota
	ReLU
)

// ParseActivation reads "tanh" or "relu".
func ParseActivation(s string) (Activation, error) {
	switch s {
	case "tanh":
		return Tanh, nil
	case "relu":
		return ReLU, nil
	}
	return Tanh, fmt.Errorf("torch: unknown activation %q: want tanh or relu", s)
}

func (a Activation) String() string {
	if a == ReLU {
		return "relu"
	}
	return "tanh"
}

// Linear is a fully connected layer y = x·Wᵀ + b with W [out, in].
type Linear struct {
	W, B *Tensor
}

// NewLinear makes a layer with orthogonal weights scaled by gain and zero
// bias (CleanRL's layer_init), both tracked by autograd.
func NewLinear(in, out int, gain float64, dt DType, d Device) (*Linear, error) {
	if in < 1 || out < 1 {
		return nil, fmt.Errorf("torch: linear layer %d→%d: sizes must be ≥ 1", in, out)
	}
	w, err := Zeros([]int64{int64(out), int64(in)}, dt, d)
	if err != nil {
		return nil, err
	}
	b, err := Zeros([]int64{int64(out)}, dt, d)
	if err != nil {
		w.Free()
		return nil, err
	}
	l := &Linear{W: w, B: b}
	for _, err := range []error{w.Orthogonal(gain), w.SetRequiresGrad(true), b.SetRequiresGrad(true)} {
		if err != nil {
			l.Free()
			return nil, err
		}
	}
	return l, nil
}

// Forward applies the layer.
func (l *Linear) Forward(s *Scope, x *Tensor) *Tensor { return s.Linear(x, l.W, l.B) }

// Free releases the layer's tensors.
func (l *Linear) Free() {
	l.W.Free()
	l.B.Free()
}

// MLP is a stack of Linear layers with an activation between them (none after the last).
type MLP struct {
	Layers []*Linear
	Act    Activation
}

// NewMLP builds layers of the given sizes (input first, output last). Hidden
// layers get orthogonal gain hiddenGain, the last layer outGain: CleanRL uses
// √2 for hidden layers, 0.01 for a policy head and 1 for a value head.
func NewMLP(sizes []int, act Activation, hiddenGain, outGain float64, dt DType, d Device) (*MLP, error) {
	if len(sizes) < 2 {
		return nil, fmt.Errorf("torch: an MLP needs at least input and output sizes, got %v", sizes)
	}
	m := &MLP{Act: act}
	for i := 0; i+1 < len(sizes); i++ {
		gain := hiddenGain
		if i+2 == len(sizes) {
			gain = outGain
		}
		l, err := NewLinear(sizes[i], sizes[i+1], gain, dt, d)
		if err != nil {
			m.Free()
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		m.Layers = append(m.Layers, l)
	}
	return m, nil
}

// Sqrt2 is the orthogonal gain CleanRL gives hidden layers.
var Sqrt2 = math.Sqrt2

// Forward applies the network.
func (m *MLP) Forward(s *Scope, x *Tensor) *Tensor {
	for i, l := range m.Layers {
		x = l.Forward(s, x)
		if i+1 < len(m.Layers) {
			if m.Act == ReLU {
				x = s.Relu(x)
			} else {
				x = s.Tanh(x)
			}
		}
	}
	return x
}

// Parameters lists the weights and biases, layer by layer.
func (m *MLP) Parameters() []*Tensor {
	ps := make([]*Tensor, 0, 2*len(m.Layers))
	for _, l := range m.Layers {
		ps = append(ps, l.W, l.B)
	}
	return ps
}

// Free releases every layer.
func (m *MLP) Free() {
	for _, l := range m.Layers {
		l.Free()
	}
	m.Layers = nil
}
