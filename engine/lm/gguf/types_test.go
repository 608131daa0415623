package gguf

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestF16(t *testing.T) {
	cases := []struct {
		x    float32
		want uint16
	}{
		{0, 0}, {float32(math.Copysign(0, -1)), 0x8000}, {1, 0x3c00}, {-2, 0xc000}, {65504, 0x7bff},
		{65520, 0x7c00},                       // rounds up past the largest finite value
		{1 + 1.0/2048, 0x3c00},                // a tie goes to the even mantissa
		{1 + 3.0/2048, 0x3c02},                // … and up when that is even
		{float32(math.Ldexp(1, -24)), 0x0001}, // smallest subnormal
		{float32(math.Ldexp(1, -25)), 0x0000}, // its half ties to even (0)
		{float32(math.Ldexp(3, -26)), 0x0001}, // above the half rounds up
		{float32(math.Inf(1)), 0x7c00},
		{0.1, 0x2e66},
	}
	for _, c := range cases {
		if got := F16(c.x); got != c.want {
			t.Errorf("F16(%g) = %#04x, want %#04x", c.x, got, c.want)
		}
	}
	// Every finite half widens and narrows back to itself.
	for h := range 1 << 16 {
		if h&0x7c00 == 0x7c00 && h&0x3ff != 0 {
			continue // NaN payloads
		}
		if got := F16(F32FromF16(uint16(h))); got != uint16(h) {
			t.Fatalf("F16(F32FromF16(%#04x)) = %#04x", h, got)
		}
	}
}

func TestQ8_0(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	data := make([]float32, 4*q8Block)
	for i := range data {
		data[i] = float32(r.NormFloat64() * 0.05)
	}
	clear(data[q8Block : 2*q8Block]) // an all-zero block: d = 0
	raw, err := EncodeQ8_0(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 4*34 {
		t.Fatalf("%d bytes, want %d", len(raw), 4*34)
	}
	back, err := Decode(TensorQ8_0, raw, uint64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	for b := 0; b < 4; b++ {
		var amax float64
		for _, x := range data[b*q8Block : (b+1)*q8Block] {
			amax = math.Max(amax, math.Abs(float64(x)))
		}
		for j := b * q8Block; j < (b+1)*q8Block; j++ {
			// Error ≤ half a step, plus the f16 rounding of the scale.
			if d := math.Abs(float64(back[j] - data[j])); d > amax/127*0.5+amax*1e-3 {
				t.Errorf("value %d: %g came back as %g", j, data[j], back[j])
			}
		}
	}
	// Quantizing the dequantized values gives the same bytes: a Q8_0 model
	// imported and exported is unchanged.
	again, _ := EncodeQ8_0(back)
	if !bytes.Equal(again, raw) {
		t.Error("Q8_0 → float32 → Q8_0 changed the bytes")
	}
	if _, err := EncodeQ8_0(make([]float32, 31)); err == nil {
		t.Error("31 values quantized without error")
	}
	if _, err := DataSize(12, 256); err == nil || !strings.Contains(err.Error(), "Q4_K is not supported") {
		t.Errorf("K-quant: error %v", err)
	}
}

func TestWriteReadTypedTensors(t *testing.T) {
	data := make([]float32, 64)
	for i := range data {
		data[i] = float32(i)/7 - 3
	}
	q8, _ := EncodeQ8_0(data)
	f := &File{
		Metadata: []KV{{"general.architecture", "llama"}},
		Tensors: []Tensor{
			{Name: "a", Shape: []uint64{32, 2}, Data: data},
			{Name: "b", Shape: []uint64{32, 2}, Type: TensorF16, Raw: EncodeF16(data)},
			{Name: "c", Shape: []uint64{32, 2}, Type: TensorQ8_0, Raw: q8},
		},
	}
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	r := bytes.NewReader(buf.Bytes())
	h, err := ReadHeader(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range f.Tensors {
		raw, ti, err := h.ReadRaw(r, want.Name)
		if err != nil {
			t.Fatal(err)
		}
		if ti.Type != want.kind() {
			t.Errorf("%s: type %v, want %v", want.Name, ti.Type, want.kind())
		}
		if want.Raw != nil && !bytes.Equal(raw, want.Raw) {
			t.Errorf("%s: data changed", want.Name)
		}
		v, err := h.ReadFloat32(r, want.Name)
		if err != nil || len(v) != 64 {
			t.Fatalf("%s: %v", want.Name, err)
		}
	}
	bad := &File{Tensors: []Tensor{{Name: "q", Shape: []uint64{16, 2}, Type: TensorQ8_0, Raw: q8[:34]}}}
	if _, err := bad.WriteTo(&bytes.Buffer{}); err == nil {
		t.Error("Q8_0 rows of 16 values written without error")
	}
}
