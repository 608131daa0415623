package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
)

// golden builds expected file bytes by hand, independently of the encoder,
// so that a bug shared by the writer and the reader cannot hide.
type golden struct{ bytes.Buffer }

func (g *golden) u32(v uint32) { binary.Write(&g.Buffer, binary.LittleEndian, v) }
func (g *golden) u64(v uint64) { binary.Write(&g.Buffer, binary.LittleEndian, v) }
func (g *golden) str(s string) { g.u64(uint64(len(s))); g.WriteString(s) }
func (g *golden) pad(a int) {
	for g.Len()%a != 0 {
		g.WriteByte(0)
	}
}

func TestWriteGoldenBytes(t *testing.T) {
	f := &File{
		Metadata: []KV{
			{"n", uint32(7)},
			{"s", "hi"},
			{"b", true},
			{"a", []string{"x", "yz"}},
			{"f", []float32{1.5}},
		},
		Tensors: []Tensor{
			{Name: "t0", Shape: []uint64{3}, Data: []float32{1, 2, 3}},
			{Name: "t1", Shape: []uint64{2, 1}, Data: []float32{-1, 0.25}},
		},
	}
	var g golden
	g.WriteString("GGUF")
	g.u32(3)
	g.u64(2) // tensors
	g.u64(5) // metadata
	g.str("n")
	g.u32(4) // uint32
	g.u32(7)
	g.str("s")
	g.u32(8) // string
	g.str("hi")
	g.str("b")
	g.u32(7) // bool
	g.WriteByte(1)
	g.str("a")
	g.u32(9) // array
	g.u32(8) // of strings
	g.u64(2)
	g.str("x")
	g.str("yz")
	g.str("f")
	g.u32(9)
	g.u32(6) // of float32
	g.u64(1)
	g.u32(math.Float32bits(1.5))
	g.str("t0")
	g.u32(1)
	g.u64(3)
	g.u32(0) // F32
	g.u64(0)
	g.str("t1")
	g.u32(2)
	g.u64(2)
	g.u64(1)
	g.u32(0)
	g.u64(32) // 12 bytes of t0, padded to 32
	g.pad(32)
	for _, v := range []float32{1, 2, 3} {
		g.u32(math.Float32bits(v))
	}
	g.pad(32)
	for _, v := range []float32{-1, 0.25} {
		g.u32(math.Float32bits(v))
	}
	g.pad(32)

	var buf bytes.Buffer
	n, err := f.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Errorf("WriteTo returned %d, wrote %d bytes", n, buf.Len())
	}
	if !bytes.Equal(buf.Bytes(), g.Bytes()) {
		t.Fatalf("bytes differ from the hand-built file:\ngot  %x\nwant %x", buf.Bytes(), g.Bytes())
	}
}

// allKinds holds one value of every supported Go type.
var allKinds = []KV{
	{"u8", uint8(200)},
	{"i8", int8(-100)},
	{"u16", uint16(60000)},
	{"i16", int16(-30000)},
	{"u32", uint32(4_000_000_000)},
	{"i32", int32(-2_000_000_000)},
	{"f32", float32(3.25)},
	{"bool", false},
	{"str", "naïve ▁A"},
	{"u64", uint64(math.MaxUint64)},
	{"i64", int64(math.MinInt64)},
	{"f64", math.Pi},
	{"a.u8", []uint8{0, 255}},
	{"a.i8", []int8{-1, 1}},
	{"a.u16", []uint16{1, 65535}},
	{"a.i16", []int16{-2, 2}},
	{"a.u32", []uint32{3, 4}},
	{"a.i32", []int32{1, 2, 3, 6}},
	{"a.f32", []float32{0, -0.5, float32(math.Inf(1))}},
	{"a.bool", []bool{true, false, true}},
	{"a.str", []string{"", "<0x0A>", "▁ball"}},
	{"a.u64", []uint64{1 << 40}},
	{"a.i64", []int64{-1 << 40}},
	{"a.f64", []float64{math.SmallestNonzeroFloat64}},
	{"a.empty", []int32{}},
}

func TestRoundTrip(t *testing.T) {
	for _, align := range []uint32{0, 8, 64} {
		meta := append([]KV(nil), allKinds...)
		want := uint64(DefaultAlignment)
		if align != 0 {
			meta = append(meta, KV{AlignmentKey, align})
			want = uint64(align)
		}
		// Sizes that are not multiples of the alignment, to exercise padding.
		f := &File{Metadata: meta}
		for i, shape := range [][]uint64{{1}, {5, 3}, {7, 2, 2}, {2, 2, 2, 3}, {64}} {
			n := 1
			for _, d := range shape {
				n *= int(d)
			}
			data := make([]float32, n)
			for j := range data {
				data[j] = float32(i*1000 + j)
			}
			f.Tensors = append(f.Tensors, Tensor{Name: "t" + string(rune('a'+i)), Shape: shape, Data: data})
		}
		var buf bytes.Buffer
		if _, err := f.WriteTo(&buf); err != nil {
			t.Fatalf("align %d: %v", align, err)
		}
		h, err := ReadHeader(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatalf("align %d: %v", align, err)
		}
		if h.Version != Version || h.Alignment != want {
			t.Errorf("align %d: version %d alignment %d", align, h.Version, h.Alignment)
		}
		if !reflect.DeepEqual(h.Metadata, meta) {
			t.Errorf("align %d: metadata differs:\ngot  %#v\nwant %#v", align, h.Metadata, meta)
		}
		if h.DataOffset%int64(want) != 0 {
			t.Errorf("align %d: data offset %d not aligned", align, h.DataOffset)
		}
		var next uint64
		for i, ti := range h.Tensors {
			src := f.Tensors[i]
			if ti.Name != src.Name || !reflect.DeepEqual(ti.Shape, src.Shape) || ti.Type != TensorF32 {
				t.Errorf("align %d: tensor %d is %+v, want %s %v F32", align, i, ti, src.Name, src.Shape)
			}
			// Tensors are packed in order, each at the next aligned offset.
			if ti.Offset != next {
				t.Errorf("align %d: tensor %s at %d, want %d", align, ti.Name, ti.Offset, next)
			}
			next = (ti.Offset + 4*ti.Elements() + want - 1) / want * want
			got, err := h.ReadF32(bytes.NewReader(buf.Bytes()), ti.Name)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, src.Data) {
				t.Errorf("align %d: tensor %s data differs", align, ti.Name)
			}
		}
		if size := h.DataOffset + int64(next); size != int64(buf.Len()) {
			t.Errorf("align %d: file is %d bytes, want %d", align, buf.Len(), size)
		}
	}
}

func TestWriteRejects(t *testing.T) {
	one := []Tensor{{Name: "x", Shape: []uint64{1}, Data: []float32{0}}}
	cases := map[string]*File{
		"repeated key":     {Metadata: []KV{{"k", uint32(1)}, {"k", uint32(2)}}},
		"empty key":        {Metadata: []KV{{"", uint32(1)}}},
		"int":              {Metadata: []KV{{"k", 1}}},
		"nested array":     {Metadata: []KV{{"k", [][]int32{{1}}}}},
		"alignment type":   {Metadata: []KV{{AlignmentKey, uint64(32)}}},
		"alignment 24":     {Metadata: []KV{{AlignmentKey, uint32(24)}}},
		"repeated tensor":  {Tensors: append(one, one...)},
		"no dimensions":    {Tensors: []Tensor{{Name: "x", Data: []float32{0}}}},
		"five dimensions":  {Tensors: []Tensor{{Name: "x", Shape: []uint64{1, 1, 1, 1, 1}, Data: []float32{0}}}},
		"zero dimension":   {Tensors: []Tensor{{Name: "x", Shape: []uint64{0}}}},
		"shape mismatch":   {Tensors: []Tensor{{Name: "x", Shape: []uint64{2, 2}, Data: []float32{0}}}},
		"empty tensorname": {Tensors: []Tensor{{Shape: []uint64{1}, Data: []float32{0}}}},
	}
	for name, f := range cases {
		var buf bytes.Buffer
		if _, err := f.WriteTo(&buf); err == nil {
			t.Errorf("%s: no error", name)
		} else if buf.Len() != 0 {
			t.Errorf("%s: wrote %d bytes before failing", name, buf.Len())
		}
	}
}

func TestReadRejects(t *testing.T) {
	var buf bytes.Buffer
	f := &File{Metadata: allKinds, Tensors: []Tensor{{Name: "x", Shape: []uint64{2}, Data: []float32{1, 2}}}}
	if _, err := f.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()

	if _, err := ReadHeader(bytes.NewReader(append([]byte("GGUG"), good[4:]...))); err == nil || !strings.Contains(err.Error(), "magic") {
		t.Errorf("bad magic: %v", err)
	}
	v2 := append([]byte(nil), good...)
	v2[4] = 2
	if _, err := ReadHeader(bytes.NewReader(v2)); err == nil || !strings.Contains(err.Error(), "version") {
		t.Errorf("version 2: %v", err)
	}
	// Every truncation inside the header must fail cleanly, not panic.
	h, err := ReadHeader(bytes.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < int(h.DataOffset)-32; n++ {
		if _, err := ReadHeader(bytes.NewReader(good[:n])); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("truncated at %d: %v", n, err)
		}
	}
	if _, err := h.ReadF32(bytes.NewReader(good[:h.DataOffset+4]), "x"); err == nil {
		t.Error("ReadF32 of truncated data: no error")
	}
	if _, err := h.ReadF32(bytes.NewReader(good), "y"); err == nil {
		t.Error("ReadF32 of a missing tensor: no error")
	}
}

// TestTypedValues: an integer reads from any integer type a writer may have
// chosen, a missing key gives the default, and a key of the wrong type or
// out of range is an error naming it.
func TestTypedValues(t *testing.T) {
	h := &Header{Metadata: []KV{
		{"u32", uint32(7)}, {"i32", int32(-3)}, {"u64", uint64(1 << 20)}, {"i64", int64(5)},
		{"big", uint64(1) << 40}, {"arr", []int32{2, 2}}, {"f", float32(1e-5)}, {"b", false}, {"s", "x"},
	}}
	for _, c := range []struct {
		key  string
		want int
		err  string
	}{
		{"u32", 7, ""}, {"i32", -3, ""}, {"u64", 1 << 20, ""}, {"i64", 5, ""}, {"missing", 42, ""},
		{"big", 0, "big = 1099511627776 is out of range"}, {"arr", 0, "arr is []int32"}, {"f", 0, "f is float32"},
	} {
		n, err := h.Int(c.key, 42)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("Int(%s) = %d, %v; want an error with %q", c.key, n, err, c.err)
			}
		} else if err != nil || n != c.want {
			t.Errorf("Int(%s) = %d, %v; want %d", c.key, n, err, c.want)
		}
	}
	if f, err := h.Float32("f", 0); err != nil || f != 1e-5 {
		t.Errorf("Float32(f) = %v, %v", f, err)
	}
	if f, err := h.Float32("missing", 3); err != nil || f != 3 {
		t.Errorf("Float32(missing) = %v, %v; want the default", f, err)
	}
	if _, err := h.Float32("u32", 0); err == nil || !strings.Contains(err.Error(), "u32 is uint32, want float32") {
		t.Errorf("Float32(u32) error %v", err)
	}
	if b, err := h.Bool("b", true); err != nil || b {
		t.Errorf("Bool(b) = %v, %v", b, err)
	}
	if b, err := h.Bool("missing", true); err != nil || !b {
		t.Errorf("Bool(missing) = %v, %v; want the default", b, err)
	}
	if _, err := h.Bool("s", false); err == nil || !strings.Contains(err.Error(), "s is string, want bool") {
		t.Errorf("Bool(s) error %v", err)
	}
}
