package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Limits that keep a corrupt or hostile header from allocating without bound.
// Real models stay far below them (the largest vocabularies hold ~260k tokens).
const (
	maxStringLen  = 1 << 24
	maxArrayLen   = 1 << 26
	maxEntries    = 1 << 20
	readChunkSize = 1 << 16
)

// TensorInfo describes one tensor as its header entry records it.
type TensorInfo struct {
	Name  string
	Shape []uint64
	Type  TensorType
	// Offset is relative to Header.DataOffset; it is a multiple of the alignment.
	Offset uint64
}

// Elements is the number of values in the tensor.
func (t TensorInfo) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Header is a parsed GGUF header: everything but the tensor data.
type Header struct {
	Version   uint32
	Metadata  []KV
	Tensors   []TensorInfo
	Alignment uint64
	// DataOffset is where tensor data begins, from the start of the file.
	DataOffset int64
}

// Value returns the metadata value stored under key.
func (h *Header) Value(key string) (any, bool) {
	for _, kv := range h.Metadata {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}

// Int reads the integer under key, def when the key is missing. Writers
// store counts and token ids in different integer types (llama.cpp uint32,
// others int32 or 64-bit), so any of them reads; another type (a per-layer
// array, say) is an error naming the key.
func (h *Header) Int(key string, def int) (int, error) {
	v, ok := h.Value(key)
	if !ok {
		return def, nil
	}
	var n int64
	switch x := v.(type) {
	case uint32:
		n = int64(x)
	case int32:
		n = int64(x)
	case int64:
		n = x
	case uint64:
		if x > math.MaxInt32 {
			return 0, fmt.Errorf("gguf: key %s = %d is out of range", key, x)
		}
		n = int64(x)
	default:
		return 0, fmt.Errorf("gguf: key %s is %T, want one integer", key, v)
	}
	if n < math.MinInt32 || n > math.MaxInt32 {
		return 0, fmt.Errorf("gguf: key %s = %d is out of range", key, n)
	}
	return int(n), nil
}

// Float32 reads the float32 under key, def when the key is missing.
func (h *Header) Float32(key string, def float32) (float32, error) {
	v, ok := h.Value(key)
	if !ok {
		return def, nil
	}
	x, ok := v.(float32)
	if !ok {
		return 0, fmt.Errorf("gguf: key %s is %T, want float32", key, v)
	}
	return x, nil
}

// Bool reads the bool under key, def when the key is missing.
func (h *Header) Bool(key string, def bool) (bool, error) {
	v, ok := h.Value(key)
	if !ok {
		return def, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("gguf: key %s is %T, want bool", key, v)
	}
	return b, nil
}

// Tensor returns the header entry of the named tensor.
func (h *Header) Tensor(name string) (TensorInfo, bool) {
	for _, t := range h.Tensors {
		if t.Name == name {
			return t, true
		}
	}
	return TensorInfo{}, false
}

// ReadF32 reads the data of the named F32 tensor from the file r whose
// header is h (ReadFloat32 also reads F16 and Q8_0).
func (h *Header) ReadF32(r io.ReaderAt, name string) ([]float32, error) {
	if t, ok := h.Tensor(name); ok && t.Type != TensorF32 {
		return nil, fmt.Errorf("gguf: tensor %q is %v, not F32", name, t.Type)
	}
	return h.ReadFloat32(r, name)
}

// ReadHeader parses a GGUF v3 header from r, which must be at the start of
// the file. It buffers its reads, so r's position afterwards is unspecified:
// reach tensor data through DataOffset, as ReadF32 does.
func ReadHeader(r io.Reader) (*Header, error) {
	d := &decoder{r: bufio.NewReaderSize(r, readChunkSize)}
	magic := d.bytes(4)
	if d.err == nil && string(magic) != Magic {
		return nil, fmt.Errorf("gguf: bad magic %q", magic)
	}
	h := &Header{Version: d.u32()}
	if d.err == nil && h.Version != Version {
		return nil, fmt.Errorf("gguf: version %d, want %d", h.Version, Version)
	}
	nTensors, nKV := d.u64(), d.u64()
	if d.err == nil && (nTensors > maxEntries || nKV > maxEntries) {
		return nil, fmt.Errorf("gguf: implausible counts: %d tensors, %d metadata entries", nTensors, nKV)
	}
	for i := uint64(0); i < nKV && d.err == nil; i++ {
		key := d.str()
		h.Metadata = append(h.Metadata, KV{key, d.value()})
	}
	for i := uint64(0); i < nTensors && d.err == nil; i++ {
		t := TensorInfo{Name: d.str()}
		nd := d.u32()
		if d.err == nil && (nd == 0 || nd > maxDims) {
			return nil, fmt.Errorf("gguf: tensor %q has %d dimensions", t.Name, nd)
		}
		for j := uint32(0); j < nd && d.err == nil; j++ {
			t.Shape = append(t.Shape, d.u64())
		}
		t.Type = TensorType(d.u32())
		t.Offset = d.u64()
		h.Tensors = append(h.Tensors, t)
	}
	if d.err != nil {
		if errors.Is(d.err, io.EOF) {
			d.err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("gguf: header: %w", d.err)
	}
	h.Alignment = DefaultAlignment
	if v, ok := h.Value(AlignmentKey); ok {
		a, ok := v.(uint32)
		if !ok || a == 0 || a&(a-1) != 0 {
			return nil, fmt.Errorf("gguf: invalid %s %v (%T)", AlignmentKey, v, v)
		}
		h.Alignment = uint64(a)
	}
	h.DataOffset = int64(alignUp(d.n, h.Alignment))
	for _, t := range h.Tensors {
		if t.Offset%h.Alignment != 0 {
			return nil, fmt.Errorf("gguf: tensor %q offset %d is not a multiple of %d", t.Name, t.Offset, h.Alignment)
		}
	}
	return h, nil
}

// decoder reads little-endian GGUF primitives and keeps the first error.
type decoder struct {
	r   *bufio.Reader
	n   uint64 // bytes consumed
	err error
}

func (d *decoder) bytes(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	b := make([]byte, n)
	_, d.err = io.ReadFull(d.r, b)
	d.n += n
	return b
}

func (d *decoder) u8() uint8 {
	if b := d.bytes(1); d.err == nil {
		return b[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if b := d.bytes(2); d.err == nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if b := d.bytes(4); d.err == nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if b := d.bytes(8); d.err == nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (d *decoder) str() string {
	n := d.u64()
	if d.err == nil && n > maxStringLen {
		d.err = fmt.Errorf("string of %d bytes", n)
	}
	return string(d.bytes(n))
}

func (d *decoder) value() any {
	t := ValueType(d.u32())
	if d.err != nil {
		return nil
	}
	if t != TypeArray {
		return d.scalar(t)
	}
	elem := ValueType(d.u32())
	n := d.u64()
	if d.err != nil {
		return nil
	}
	if n > maxArrayLen {
		d.err = fmt.Errorf("array of %d elements", n)
		return nil
	}
	switch elem {
	case TypeUint8:
		return d.bytes(n)
	case TypeInt8:
		return readArray[int8](d, elem, n)
	case TypeUint16:
		return readArray[uint16](d, elem, n)
	case TypeInt16:
		return readArray[int16](d, elem, n)
	case TypeUint32:
		return readArray[uint32](d, elem, n)
	case TypeInt32:
		return readArray[int32](d, elem, n)
	case TypeFloat32:
		return readArray[float32](d, elem, n)
	case TypeBool:
		return readArray[bool](d, elem, n)
	case TypeString:
		return readArray[string](d, elem, n)
	case TypeUint64:
		return readArray[uint64](d, elem, n)
	case TypeInt64:
		return readArray[int64](d, elem, n)
	case TypeFloat64:
		return readArray[float64](d, elem, n)
	}
	d.err = fmt.Errorf("unsupported array element type %v", elem)
	return nil
}

func readArray[T any](d *decoder, elem ValueType, n uint64) []T {
	a := make([]T, 0, min(n, readChunkSize))
	for i := uint64(0); i < n && d.err == nil; i++ {
		a = append(a, d.scalar(elem).(T))
	}
	return a
}

// scalar reads a value of type t; on error it still returns a zero value of
// the right Go type, so readArray's assertion cannot panic.
func (d *decoder) scalar(t ValueType) any {
	switch t {
	case TypeUint8:
		return d.u8()
	case TypeInt8:
		return int8(d.u8())
	case TypeUint16:
		return d.u16()
	case TypeInt16:
		return int16(d.u16())
	case TypeUint32:
		return d.u32()
	case TypeInt32:
		return int32(d.u32())
	case TypeFloat32:
		return math.Float32frombits(d.u32())
	case TypeBool:
		b := d.u8()
		if d.err == nil && b > 1 {
			d.err = fmt.Errorf("bool value %d", b)
		}
		return b == 1
	case TypeString:
		return d.str()
	case TypeUint64:
		return d.u64()
	case TypeInt64:
		return int64(d.u64())
	case TypeFloat64:
		return math.Float64frombits(d.u64())
	}
	if d.err == nil {
		d.err = fmt.Errorf("unsupported value type %v", t)
	}
	return nil
}
