package env

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// newPCG returns a generator seeded from seed. The seed is spread over
// both 64-bit halves of the PCG state with SplitMix64 so that the adjacent
// seeds a Vec gives its environments (seed, seed+1, ...) start far apart
// rather than on neighbouring states of the same congruential sequence.
func newPCG(seed uint64) *rand.PCG {
	p := new(rand.PCG)
	SeedPCG(p, seed)
	return p
}

// SeedPCG seeds p as newPCG does; envs in other packages seed with it too,
// so that every env spreads adjacent seeds the same way.
func SeedPCG(p *rand.PCG, seed uint64) {
	hi := splitMix64(&seed)
	lo := splitMix64(&seed)
	p.Seed(hi, lo)
}

func splitMix64(s *uint64) uint64 {
	*s += 0x9e3779b97f4a7c15
	z := *s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// uniform returns a float64 uniformly distributed in [low, high), as
// NumPy's Generator.uniform does.
func uniform(p *rand.PCG, low, high float64) float64 {
	// 53 random bits give every multiple of 2^-53 in [0, 1) with equal
	// probability, the most a float64 mantissa can hold uniformly.
	u := float64(p.Uint64()>>11) / (1 << 53)
	return low + (high-low)*u
}

// Encoder appends the fields of a binary state, for the MarshalBinary of
// envs (here and in other packages). The formats start with a tag naming the
// type and its version, so that a state is never decoded into the wrong type
// or by an incompatible layout.
type Encoder struct{ buf []byte }

// Data is what has been encoded.
func (e *Encoder) Data() []byte { return e.buf }

func (e *Encoder) Uint(v uint64)     { e.buf = binary.LittleEndian.AppendUint64(e.buf, v) }
func (e *Encoder) Int(v int)         { e.Uint(uint64(int64(v))) }
func (e *Encoder) Float64(v float64) { e.Uint(math.Float64bits(v)) }
func (e *Encoder) Float32(v float32) {
	e.buf = binary.LittleEndian.AppendUint32(e.buf, math.Float32bits(v))
}
func (e *Encoder) Bytes(b []byte)  { e.Uint(uint64(len(b))); e.buf = append(e.buf, b...) }
func (e *Encoder) String(s string) { e.Bytes([]byte(s)) }
func (e *Encoder) Bool(v bool) {
	var b byte
	if v {
		b = 1
	}
	e.buf = append(e.buf, b)
}

// Decoder reads what an Encoder wrote. The first error sticks and later
// reads return zero values, so callers check err once at the end.
type Decoder struct {
	buf []byte
	err error
}

// NewDecoder reads data.
func NewDecoder(data []byte) *Decoder { return &Decoder{buf: data} }

// Err is the first error met so far.
func (d *Decoder) Err() error { return d.err }

var errShort = errors.New("env: truncated state")

func (d *Decoder) next(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.buf) {
		d.err = errShort
		return nil
	}
	b := d.buf[:n]
	d.buf = d.buf[n:]
	return b
}

func (d *Decoder) Uint() uint64 {
	b := d.next(8)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

func (d *Decoder) Int() int         { return int(int64(d.Uint())) }
func (d *Decoder) Float64() float64 { return math.Float64frombits(d.Uint()) }

func (d *Decoder) Float32() float32 {
	b := d.next(4)
	if b == nil {
		return 0
	}
	return math.Float32frombits(binary.LittleEndian.Uint32(b))
}

func (d *Decoder) Bool() bool {
	b := d.next(1)
	if b == nil {
		return false
	}
	if b[0] > 1 {
		d.err = fmt.Errorf("env: bad boolean %d in state", b[0])
	}
	return b[0] == 1
}

func (d *Decoder) Bytes() []byte {
	n := d.Uint()
	if d.err == nil && n > uint64(len(d.buf)) {
		d.err = errShort
		return nil
	}
	return d.next(int(n))
}

// tag checks that the state starts with the tag want.
func (d *Decoder) Tag(want string) {
	if got := string(d.Bytes()); d.err == nil && got != want {
		d.err = fmt.Errorf("env: state is %q, want %q", got, want)
	}
}

// pcg restores a generator state written by Encoder.bytes(p.MarshalBinary()).
func (d *Decoder) Pcg(p *rand.PCG) {
	b := d.Bytes()
	if d.err != nil {
		return
	}
	if err := p.UnmarshalBinary(b); err != nil {
		d.err = fmt.Errorf("env: generator state: %w", err)
	}
}

// done returns the first error, or an error if bytes are left over.
func (d *Decoder) Done() error {
	if d.err == nil && len(d.buf) != 0 {
		d.err = fmt.Errorf("env: %d unexpected bytes after state", len(d.buf))
	}
	return d.err
}

// encodePCG appends the generator state; PCG.MarshalBinary cannot fail.
func (e *Encoder) Pcg(p *rand.PCG) {
	b, _ := p.MarshalBinary()
	e.Bytes(b)
}
