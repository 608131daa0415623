package clevr

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
)

// seedPCG seeds p from seed, spreading it over both 64-bit halves of the
// PCG state with SplitMix64 so that the adjacent seeds a Vec gives its envs
// (seed, seed+1, ...) start far apart, as engine/env's own envs do.
func seedPCG(p *rand.PCG, seed uint64) {
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

// uniform returns a float64 uniformly distributed in [low, high).
func uniform(r *rand.Rand, low, high float64) float64 {
	return low + (high-low)*r.Float64()
}

// encoder appends the little-endian fields of a binary state.
type encoder struct{ buf []byte }

func (e *encoder) uint(v uint64)     { e.buf = binary.LittleEndian.AppendUint64(e.buf, v) }
func (e *encoder) int(v int)         { e.uint(uint64(int64(v))) }
func (e *encoder) float64(v float64) { e.uint(math.Float64bits(v)) }
func (e *encoder) bytes(b []byte)    { e.uint(uint64(len(b))); e.buf = append(e.buf, b...) }
func (e *encoder) string(s string)   { e.bytes([]byte(s)) }

// decoder reads what an encoder wrote. The first error sticks and later
// reads return zero values, so callers check err once at the end.
type decoder struct {
	buf []byte
	err error
}

var errShort = errors.New("clevr: truncated state")

func (d *decoder) next(n int) []byte {
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

func (d *decoder) uint() uint64 {
	b := d.next(8)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

func (d *decoder) int() int         { return int(int64(d.uint())) }
func (d *decoder) float64() float64 { return math.Float64frombits(d.uint()) }

func (d *decoder) bytes() []byte {
	n := d.uint()
	if d.err == nil && n > uint64(len(d.buf)) {
		d.err = errShort
		return nil
	}
	return d.next(int(n))
}
