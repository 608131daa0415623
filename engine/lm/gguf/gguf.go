// Package gguf writes and reads GGUF v3 files, the model format of llama.cpp
// and Ollama, and builds a tiny random-weight llama model with them.
//
// lago uses the tiny model to exercise its LLM prior against a real Ollama
// server without downloading anything: the model's answers are meaningless,
// but they come back through the same API, tokenizer and sampler as a real
// model's, deterministically and in milliseconds.
//
// The writer supports scalar and array metadata of every GGUF value type
// except nested arrays, and F32, F16 and Q8_0 tensors. The reader parses any
// GGUF v3 header (metadata and tensor infos) and F32, F16 and Q8_0 tensor
// data; other tensor types (K-quants, BF16, …) are an error naming the type.
//
// Layout of a GGUF v3 file (all integers little-endian):
//
//	"GGUF" | version u32 | tensor count u64 | metadata count u64
//	metadata: key (string) | value type u32 | value
//	tensor infos: name (string) | n_dims u32 | dims u64... | type u32 | offset u64
//	padding to the alignment
//	tensor data, each tensor starting at a multiple of the alignment
//
// where a string is a u64 byte length followed by UTF-8 bytes, and an array
// is an element type u32, a u64 count and the elements.
//
// # Why not github.com/ollama/ollama/fs/ggml
//
// Ollama's own GGUF package (in go.mod for the API client) was checked as a
// replacement. lago uses it where it fits: as the independent reader in this
// package's tests, proving that the loader Ollama runs accepts lago's files and
// sees the same metadata and tensor table. It does not replace our writer or
// reader because:
//   - ggml.WriteGGUF needs an *os.File (it seeks and writes tensors in
//     parallel at offsets), so it cannot stream into runfile.WriteAtomic's
//     writer; it sorts metadata keys and reorders tensors, so an imported file
//     cannot be written back in its own order; it prefixes keys that lack the
//     architecture's name; and it cannot write uint8/int8/uint16/int16/float64
//     values or uint64 arrays, which a GGUF may hold.
//   - ggml.Decode returns metadata as an unordered map whose arrays are of an
//     unexported type, logs through slog, and has no limits on counts and
//     lengths beyond one array cap, so a corrupt header can make it allocate
//     without bound; lago's reader keeps order and Go types (a file reads back
//     equal to what was written) and rejects implausible headers.
package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

const (
	// Magic opens every GGUF file.
	Magic = "GGUF"
	// Version is the GGUF version this package writes and reads.
	Version = 3
	// DefaultAlignment applies when a file has no general.alignment key.
	DefaultAlignment = 32
	// AlignmentKey overrides the alignment of tensor data; its value is a uint32.
	AlignmentKey = "general.alignment"
	// maxDims is GGML_MAX_DIMS: ggml tensors have at most four dimensions.
	maxDims = 4
)

// ValueType is the type tag of a metadata value.
type ValueType uint32

// Metadata value types, numbered as in the GGUF specification.
const (
	TypeUint8 ValueType = iota
	TypeInt8
	TypeUint16
	TypeInt16
	TypeUint32
	TypeInt32
	TypeFloat32
	TypeBool
	TypeString
	TypeArray
	TypeUint64
	TypeInt64
	TypeFloat64
)

var valueTypeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array", "uint64", "int64", "float64"}

func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("ValueType(%d)", uint32(t))
}

// TensorType is a ggml tensor element type.
type TensorType uint32

// The tensor types lago writes and reads as data: F32, F16 and Q8_0. The
// others are named so that an error can say which type a file holds.
const (
	TensorF32  TensorType = 0
	TensorF16  TensorType = 1
	TensorQ8_0 TensorType = 8
)

// typeNames are ggml's names of its tensor types (ggml.h, enum ggml_type).
var typeNames = map[TensorType]string{
	0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1",
	10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K",
	16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S",
	22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64",
	29: "IQ1_M", 30: "BF16", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4",
}

func (t TensorType) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("TensorType(%d)", uint32(t))
}

// KV is one metadata entry. Value's Go type selects the GGUF type: uint8,
// int8, uint16, int16, uint32, int32, float32, bool, string, uint64, int64,
// float64, or a slice of one of them for an array. The reader returns values
// of the same Go types, so a written file reads back equal.
type KV struct {
	Key   string
	Value any
}

// Tensor is a tensor to write: F32 values in Data, or data already encoded
// as Type in Raw (see EncodeF16 and EncodeQ8_0).
type Tensor struct {
	Name string
	// Shape is in ggml order: Shape[0] is the contiguous dimension, so a
	// weight matrix mapping n inputs to m outputs has Shape {n, m}.
	Shape []uint64
	Data  []float32
	// Type and Raw, when Raw is not nil, replace Data.
	Type TensorType
	Raw  []byte
}

// bytes is the size of the tensor's data in the file.
func (t *Tensor) size() uint64 {
	if t.Raw != nil {
		return uint64(len(t.Raw))
	}
	return 4 * uint64(len(t.Data))
}

// kind is the tensor's type in the file.
func (t *Tensor) kind() TensorType {
	if t.Raw != nil {
		return t.Type
	}
	return TensorF32
}

// File is the content of a GGUF file to write. Metadata and tensors keep
// their order in the file.
type File struct {
	Metadata []KV
	Tensors  []Tensor
}

// WriteTo writes f as GGUF v3. It checks f first and writes nothing when
// keys or tensor names repeat, a value has an unsupported type, or a
// tensor's data does not match its shape.
func (f *File) WriteTo(w io.Writer) (int64, error) {
	align, err := f.check()
	if err != nil {
		return 0, err
	}
	cw := &countingWriter{w: w}
	bw := bufio.NewWriterSize(cw, 1<<16)
	e := &encoder{w: bw}

	e.bytes([]byte(Magic))
	e.u32(Version)
	e.u64(uint64(len(f.Tensors)))
	e.u64(uint64(len(f.Metadata)))
	for _, kv := range f.Metadata {
		e.str(kv.Key)
		e.value(kv.Value)
	}
	var offset uint64
	for _, t := range f.Tensors {
		e.str(t.Name)
		e.u32(uint32(len(t.Shape)))
		for _, d := range t.Shape {
			e.u64(d)
		}
		e.u32(uint32(t.kind()))
		e.u64(offset)
		offset = alignUp(offset+t.size(), align)
	}
	e.pad(align)
	for _, t := range f.Tensors {
		if t.Raw != nil {
			e.bytes(t.Raw)
		} else {
			e.f32s(t.Data)
		}
		e.pad(align)
	}
	if e.err == nil {
		e.err = bw.Flush()
	}
	return cw.n, e.err
}

// check validates f and returns the alignment its data will use.
func (f *File) check() (uint64, error) {
	align := uint64(DefaultAlignment)
	keys := make(map[string]bool, len(f.Metadata))
	for _, kv := range f.Metadata {
		if kv.Key == "" {
			return 0, errors.New("gguf: empty metadata key")
		}
		if keys[kv.Key] {
			return 0, fmt.Errorf("gguf: metadata key %q repeats", kv.Key)
		}
		keys[kv.Key] = true
		if _, _, ok := typeOf(kv.Value); !ok {
			return 0, fmt.Errorf("gguf: metadata %q: unsupported value type %T", kv.Key, kv.Value)
		}
		if kv.Key == AlignmentKey {
			a, ok := kv.Value.(uint32)
			// The specification requires a multiple of 8; ggml also
			// requires a power of two.
			if !ok || a < 8 || a&(a-1) != 0 {
				return 0, fmt.Errorf("gguf: %s must be a uint32 power of two ≥ 8, got %v (%T)", AlignmentKey, kv.Value, kv.Value)
			}
			align = uint64(a)
		}
	}
	names := make(map[string]bool, len(f.Tensors))
	for _, t := range f.Tensors {
		if t.Name == "" {
			return 0, errors.New("gguf: empty tensor name")
		}
		if names[t.Name] {
			return 0, fmt.Errorf("gguf: tensor %q repeats", t.Name)
		}
		names[t.Name] = true
		if len(t.Shape) == 0 || len(t.Shape) > maxDims {
			return 0, fmt.Errorf("gguf: tensor %q has %d dimensions, want 1 to %d", t.Name, len(t.Shape), maxDims)
		}
		n := uint64(1)
		for _, d := range t.Shape {
			if d == 0 || n > math.MaxInt64/d {
				return 0, fmt.Errorf("gguf: tensor %q has invalid shape %v", t.Name, t.Shape)
			}
			n *= d
		}
		if t.Raw != nil {
			want, err := DataSize(t.Type, n)
			if err != nil {
				return 0, fmt.Errorf("gguf: tensor %q: %w", t.Name, err)
			}
			if want != uint64(len(t.Raw)) {
				return 0, fmt.Errorf("gguf: tensor %q: %v data of shape %v takes %d bytes, got %d", t.Name, t.Type, t.Shape, want, len(t.Raw))
			}
			if t.Type == TensorQ8_0 && t.Shape[0]%q8Block != 0 {
				return 0, fmt.Errorf("gguf: tensor %q: Q8_0 needs rows of a multiple of %d values, shape %v", t.Name, q8Block, t.Shape)
			}
		} else if n != uint64(len(t.Data)) {
			return 0, fmt.Errorf("gguf: tensor %q has shape %v (%d elements) but %d values", t.Name, t.Shape, n, len(t.Data))
		}
	}
	return align, nil
}

// typeOf maps a Go value to its GGUF type and, for arrays, element type.
func typeOf(v any) (t, elem ValueType, ok bool) {
	switch v.(type) {
	case uint8:
		return TypeUint8, 0, true
	case int8:
		return TypeInt8, 0, true
	case uint16:
		return TypeUint16, 0, true
	case int16:
		return TypeInt16, 0, true
	case uint32:
		return TypeUint32, 0, true
	case int32:
		return TypeInt32, 0, true
	case float32:
		return TypeFloat32, 0, true
	case bool:
		return TypeBool, 0, true
	case string:
		return TypeString, 0, true
	case uint64:
		return TypeUint64, 0, true
	case int64:
		return TypeInt64, 0, true
	case float64:
		return TypeFloat64, 0, true
	case []uint8:
		return TypeArray, TypeUint8, true
	case []int8:
		return TypeArray, TypeInt8, true
	case []uint16:
		return TypeArray, TypeUint16, true
	case []int16:
		return TypeArray, TypeInt16, true
	case []uint32:
		return TypeArray, TypeUint32, true
	case []int32:
		return TypeArray, TypeInt32, true
	case []float32:
		return TypeArray, TypeFloat32, true
	case []bool:
		return TypeArray, TypeBool, true
	case []string:
		return TypeArray, TypeString, true
	case []uint64:
		return TypeArray, TypeUint64, true
	case []int64:
		return TypeArray, TypeInt64, true
	case []float64:
		return TypeArray, TypeFloat64, true
	}
	return 0, 0, false
}

func alignUp(n, align uint64) uint64 {
	return (n + align - 1) / align * align
}

// encoder writes little-endian GGUF primitives and keeps the first error, so
// WriteTo can write a whole file and check once.
type encoder struct {
	w   *bufio.Writer
	n   uint64 // bytes written, for padding
	err error
	buf [8]byte
}

func (e *encoder) bytes(b []byte) {
	if e.err != nil {
		return
	}
	_, e.err = e.w.Write(b)
	e.n += uint64(len(b))
}

func (e *encoder) u8(v uint8)   { e.bytes([]byte{v}) }
func (e *encoder) u16(v uint16) { binary.LittleEndian.PutUint16(e.buf[:], v); e.bytes(e.buf[:2]) }
func (e *encoder) u32(v uint32) { binary.LittleEndian.PutUint32(e.buf[:], v); e.bytes(e.buf[:4]) }
func (e *encoder) u64(v uint64) { binary.LittleEndian.PutUint64(e.buf[:], v); e.bytes(e.buf[:8]) }

func (e *encoder) str(s string) {
	e.u64(uint64(len(s)))
	e.bytes([]byte(s))
}

func (e *encoder) f32s(v []float32) {
	for _, x := range v {
		e.u32(math.Float32bits(x))
	}
}

func (e *encoder) pad(align uint64) {
	if r := e.n % align; r != 0 {
		e.bytes(make([]byte, align-r))
	}
}

// value writes a value's type tag and the value; check has vetted its type.
func (e *encoder) value(v any) {
	t, elem, _ := typeOf(v)
	e.u32(uint32(t))
	if t != TypeArray {
		e.scalar(v)
		return
	}
	e.u32(uint32(elem))
	switch a := v.(type) {
	case []uint8:
		e.u64(uint64(len(a)))
		e.bytes(a)
	case []int8:
		writeArray(e, a)
	case []uint16:
		writeArray(e, a)
	case []int16:
		writeArray(e, a)
	case []uint32:
		writeArray(e, a)
	case []int32:
		writeArray(e, a)
	case []float32:
		writeArray(e, a)
	case []bool:
		writeArray(e, a)
	case []string:
		writeArray(e, a)
	case []uint64:
		writeArray(e, a)
	case []int64:
		writeArray(e, a)
	case []float64:
		writeArray(e, a)
	}
}

func writeArray[T any](e *encoder, a []T) {
	e.u64(uint64(len(a)))
	for _, x := range a {
		e.scalar(x)
	}
}

func (e *encoder) scalar(v any) {
	switch x := v.(type) {
	case uint8:
		e.u8(x)
	case int8:
		e.u8(uint8(x))
	case uint16:
		e.u16(x)
	case int16:
		e.u16(uint16(x))
	case uint32:
		e.u32(x)
	case int32:
		e.u32(uint32(x))
	case float32:
		e.u32(math.Float32bits(x))
	case bool:
		if x {
			e.u8(1)
		} else {
			e.u8(0)
		}
	case string:
		e.str(x)
	case uint64:
		e.u64(x)
	case int64:
		e.u64(uint64(x))
	case float64:
		e.u64(math.Float64bits(x))
	}
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
