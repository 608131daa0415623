package gguf

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// q8Block is the number of values in one Q8_0 block: an f16 scale d and 32
// int8 quants q, each value being q·d (ggml's block_q8_0).
const q8Block = 32

// DataSize is the number of bytes n values of type t take in a file.
func DataSize(t TensorType, n uint64) (uint64, error) {
	switch t {
	case TensorF32:
		return 4 * n, nil
	case TensorF16:
		return 2 * n, nil
	case TensorQ8_0:
		if n%q8Block != 0 {
			return 0, fmt.Errorf("%d values are not whole Q8_0 blocks of %d", n, q8Block)
		}
		return n / q8Block * (2 + q8Block), nil
	}
	return 0, fmt.Errorf("tensor type %v is not supported: lago reads and writes F32, F16 and Q8_0 only", t)
}

// F16 converts x to IEEE half precision, rounding to nearest even, as
// ggml's GGML_FP32_TO_FP16 does on CPUs with F16C (and its portable
// fallback): overflow gives ±Inf, NaN stays NaN, small values go subnormal.
func F16(x float32) uint16 {
	b := math.Float32bits(x)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	switch {
	case exp == 0xff: // Inf or NaN
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	case exp > 142: // ≥ 2^16: beyond f16's range
		return sign | 0x7c00
	case exp >= 113: // normal f16
		h := uint32(exp-112)<<10 | mant>>13
		// Round to nearest even on the 13 dropped bits; a carry into the
		// exponent is correct (it may reach Inf).
		rest := mant & 0x1fff
		if rest > 0x1000 || (rest == 0x1000 && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	case exp >= 102: // subnormal f16
		m := mant | 0x800000
		shift := uint32(126 - exp) // 14 … 24
		h := m >> shift
		rest := m & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rest > half || (rest == half && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	}
	return sign // underflows to ±0
}

// F32FromF16 widens a half-precision value exactly.
func F32FromF16(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	case mant == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal: mant·2^-24.
	v := float32(mant) * (1.0 / (1 << 24))
	if sign != 0 {
		v = -v
	}
	return v
}

// EncodeF16 is data as F16 bytes.
func EncodeF16(data []float32) []byte {
	out := make([]byte, 2*len(data))
	for i, x := range data {
		binary.LittleEndian.PutUint16(out[2*i:], F16(x))
	}
	return out
}

// EncodeQ8_0 quantizes data (a multiple of 32 values) as ggml's
// quantize_row_q8_0_ref does: per block, d = max|x|/127, q = round(x/d)
// (half away from zero, as C's roundf), and d stored as f16.
func EncodeQ8_0(data []float32) ([]byte, error) {
	if len(data)%q8Block != 0 {
		return nil, fmt.Errorf("gguf: Q8_0 needs a multiple of %d values, got %d", q8Block, len(data))
	}
	out := make([]byte, 0, len(data)/q8Block*(2+q8Block))
	for b := 0; b < len(data); b += q8Block {
		var amax float32
		for _, x := range data[b : b+q8Block] {
			amax = max(amax, float32(math.Abs(float64(x))))
		}
		d := amax / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		out = binary.LittleEndian.AppendUint16(out, F16(d))
		for _, x := range data[b : b+q8Block] {
			out = append(out, byte(int8(math.Round(float64(x*id)))))
		}
	}
	return out, nil
}

// Decode converts n values of type t from raw into float32 (Q8_0: q·d with
// d widened from f16, as ggml's dequantize_row_q8_0).
func Decode(t TensorType, raw []byte, n uint64) ([]float32, error) {
	size, err := DataSize(t, n)
	if err != nil {
		return nil, err
	}
	if uint64(len(raw)) != size {
		return nil, fmt.Errorf("%v data of %d values takes %d bytes, got %d", t, n, size, len(raw))
	}
	v := make([]float32, n)
	switch t {
	case TensorF32:
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case TensorF16:
		for i := range v {
			v[i] = F32FromF16(binary.LittleEndian.Uint16(raw[2*i:]))
		}
	case TensorQ8_0:
		for b := 0; b < len(v)/q8Block; b++ {
			blk := raw[b*(2+q8Block):]
			d := F32FromF16(binary.LittleEndian.Uint16(blk))
			for j := range q8Block {
				v[b*q8Block+j] = float32(int8(blk[2+j])) * d
			}
		}
	}
	return v, nil
}

// ReadRaw reads the encoded data of the named tensor from the file r whose
// header is h, for any type DataSize knows.
func (h *Header) ReadRaw(r io.ReaderAt, name string) ([]byte, TensorInfo, error) {
	t, ok := h.Tensor(name)
	if !ok {
		return nil, t, fmt.Errorf("gguf: no tensor %q", name)
	}
	n := t.Elements()
	if n > maxArrayLen {
		return nil, t, fmt.Errorf("gguf: tensor %q has %d elements, more than this reader accepts", name, n)
	}
	size, err := DataSize(t.Type, n)
	if err != nil {
		return nil, t, fmt.Errorf("gguf: tensor %q: %w", name, err)
	}
	raw := make([]byte, size)
	if _, err := r.ReadAt(raw, h.DataOffset+int64(t.Offset)); err != nil {
		return nil, t, fmt.Errorf("gguf: tensor %q: %w", name, err)
	}
	return raw, t, nil
}

// ReadFloat32 reads the named F32, F16 or Q8_0 tensor as float32 values.
func (h *Header) ReadFloat32(r io.ReaderAt, name string) ([]float32, error) {
	raw, t, err := h.ReadRaw(r, name)
	if err != nil {
		return nil, err
	}
	v, err := Decode(t.Type, raw, t.Elements())
	if err != nil {
		return nil, fmt.Errorf("gguf: tensor %q: %w", name, err)
	}
	return v, nil
}
