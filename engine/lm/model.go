// Package lm is lago's language-model engine: a llama-architecture decoder
// over bindings/torch that computes what llama.cpp computes for a GGUF with
// general.architecture = "llama", its GGUF import and export, and batched
// scoring of answers to prompts.
//
// The forward pass (see ../../shared/reference/llama-gguf-parity.md in the
// work area for the measured facts behind each choice):
//
//	x = token_embd[ids]
//	for each block:
//	    h = RMSNorm(x)·attn_norm            RMSNorm(x) = x / √(mean(x²) + ε)
//	    q, k, v = h·Wqᵀ, h·Wkᵀ, h·Wvᵀ       heads are contiguous blocks of D rows
//	    q, k = RoPE(q), RoPE(k)             ggml NORM mode: adjacent pairs (2i, 2i+1)
//	    a = softmax(q·kᵀ/√D + causal mask)·v, query head h reading KV head ⌊h/(H/Hkv)⌋
//	    x = x + a·Woᵀ
//	    h = RMSNorm(x)·ffn_norm
//	    x = x + (silu(h·Wgateᵀ) ⊙ h·Wupᵀ)·Wdownᵀ
//	logits = (RMSNorm(x)·output_norm)·Woutputᵀ
//
// Weights are kept exactly as GGUF stores them: a GGUF matrix of shape
// [in, out] is row-major [out][in], which is torch's Linear layout, and the
// Q/K rows stay in GGUF's permuted order, which is why RoPE rotates adjacent
// pairs rather than halves.
package lm

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/lago-rl/lago/bindings/torch"
)

// Shape is a llama model's hyperparameters.
type Shape struct {
	Vocab   int // tokens
	Dim     int // embedding (residual) width
	Layers  int // transformer blocks
	Heads   int // query heads
	KVHeads int // key/value heads; fewer than Heads is grouped-query attention
	FFN     int // SwiGLU hidden width
	Context int // longest sequence the model is meant for (positions)
	// RopeBase is llama.rope.freq_base (llama.cpp's default 10000 when absent).
	RopeBase float64
	// NormEps is llama.attention.layer_norm_rms_epsilon. GGUF stores it as
	// float32, so it is kept as one: 1e-5 is 9.99999975e-6 in llama.cpp.
	NormEps float32
}

// HeadDim is the width of one attention head.
func (s Shape) HeadDim() int { return s.Dim / s.Heads }

// Check reports the first inconsistency of s, naming the field.
func (s Shape) Check() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"vocab", s.Vocab}, {"dim", s.Dim}, {"layers", s.Layers}, {"heads", s.Heads}, {"kv_heads", s.KVHeads}, {"ffn", s.FFN}, {"context", s.Context}} {
		if f.v < 1 {
			return fmt.Errorf("lm: shape %s = %d, want ≥ 1", f.name, f.v)
		}
	}
	switch {
	case s.Dim%s.Heads != 0:
		return fmt.Errorf("lm: shape heads = %d must divide dim = %d", s.Heads, s.Dim)
	case s.Heads%s.KVHeads != 0:
		return fmt.Errorf("lm: shape kv_heads = %d must divide heads = %d", s.KVHeads, s.Heads)
	case s.HeadDim()%2 != 0:
		return fmt.Errorf("lm: head dimension dim/heads = %d must be even for rotary embeddings", s.HeadDim())
	case !(s.RopeBase > 1):
		return fmt.Errorf("lm: shape rope base = %v, want > 1", s.RopeBase)
	case !(s.NormEps > 0):
		return fmt.Errorf("lm: shape norm epsilon = %v, want > 0", s.NormEps)
	}
	return nil
}

// Block is one transformer block's weights, named as in GGUF (blk.N.*).
type Block struct {
	AttnNorm, Q, K, V, Out, FFNNorm, Gate, Up, Down *torch.Tensor
}

// Model is a llama decoder's weights on one device.
type Model struct {
	Shape  Shape
	Embed  *torch.Tensor // token_embd.weight [vocab, dim]
	Blocks []Block
	Norm   *torch.Tensor // output_norm.weight [dim]
	Output *torch.Tensor // output.weight [vocab, dim]
	DType  torch.DType
	Device torch.Device
}

// tensorSpec names one parameter as GGUF does, with its torch shape.
type tensorSpec struct {
	name  string
	shape []int64
	norm  bool // a norm weight: initialised to 1, not decayed
}

func (s Shape) specs() []tensorSpec {
	d, kv, f, v := int64(s.Dim), int64(s.KVHeads*s.HeadDim()), int64(s.FFN), int64(s.Vocab)
	specs := []tensorSpec{{"token_embd.weight", []int64{v, d}, false}}
	for i := range s.Layers {
		b := fmt.Sprintf("blk.%d.", i)
		specs = append(specs,
			tensorSpec{b + "attn_norm.weight", []int64{d}, true},
			tensorSpec{b + "attn_q.weight", []int64{d, d}, false},
			tensorSpec{b + "attn_k.weight", []int64{kv, d}, false},
			tensorSpec{b + "attn_v.weight", []int64{kv, d}, false},
			tensorSpec{b + "attn_output.weight", []int64{d, d}, false},
			tensorSpec{b + "ffn_norm.weight", []int64{d}, true},
			tensorSpec{b + "ffn_gate.weight", []int64{f, d}, false},
			tensorSpec{b + "ffn_up.weight", []int64{f, d}, false},
			tensorSpec{b + "ffn_down.weight", []int64{d, f}, false},
		)
	}
	return append(specs,
		tensorSpec{"output_norm.weight", []int64{d}, true},
		tensorSpec{"output.weight", []int64{v, d}, false})
}

// Parameters lists the weights in GGUF order: token_embd, then each block's
// attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate,
// ffn_up, ffn_down, then output_norm and output. Checkpoints rely on it.
func (m *Model) Parameters() []*torch.Tensor {
	ps := []*torch.Tensor{m.Embed}
	for _, b := range m.Blocks {
		ps = append(ps, b.AttnNorm, b.Q, b.K, b.V, b.Out, b.FFNNorm, b.Gate, b.Up, b.Down)
	}
	return append(ps, m.Norm, m.Output)
}

// Decayed lists the weight matrices (weight decay applies to them, not to
// the norm gains).
func (m *Model) Decayed() []*torch.Tensor {
	var out []*torch.Tensor
	specs := m.Shape.specs()
	for i, p := range m.Parameters() {
		if !specs[i].norm {
			out = append(out, p)
		}
	}
	return out
}

// ParamCount is the number of weights.
func (s Shape) ParamCount() int64 {
	var n int64
	for _, sp := range s.specs() {
		k := int64(1)
		for _, d := range sp.shape {
			k *= d
		}
		n += k
	}
	return n
}

// FromWeights makes a model whose parameters hold data[i], in Parameters
// order, each row-major in its torch shape.
func FromWeights(s Shape, data [][]float32, dt torch.DType, dev torch.Device) (*Model, error) {
	return newModel(s, data, dt, dev)
}

// newModel makes a model whose parameters hold data[i] (in specs order).
func newModel(s Shape, data [][]float32, dt torch.DType, dev torch.Device) (*Model, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	specs := s.specs()
	if len(data) != len(specs) {
		return nil, fmt.Errorf("lm: %d tensors for %d parameters", len(data), len(specs))
	}
	ps := make([]*torch.Tensor, 0, len(specs))
	free := func() {
		for _, p := range ps {
			p.Free()
		}
	}
	for i, sp := range specs {
		n := int64(1)
		for _, d := range sp.shape {
			n *= d
		}
		if int64(len(data[i])) != n {
			free()
			return nil, fmt.Errorf("lm: %s: %d values for shape %v", sp.name, len(data[i]), sp.shape)
		}
		t, err := torch.FromSlice(data[i], sp.shape, torch.CPU)
		if err != nil {
			free()
			return nil, fmt.Errorf("lm: %s: %w", sp.name, err)
		}
		if dt != torch.Float32 || dev != torch.CPU {
			s := torch.NewScope()
			c := s.Keep(s.To(t, dev, dt))
			err := s.Err()
			s.Close()
			t.Free()
			if err != nil {
				free()
				return nil, fmt.Errorf("lm: %s: %w", sp.name, err)
			}
			t = c
		}
		if err := t.SetRequiresGrad(true); err != nil {
			t.Free()
			free()
			return nil, err
		}
		ps = append(ps, t)
	}
	m := &Model{Shape: s, DType: dt, Device: dev, Embed: ps[0], Norm: ps[len(ps)-2], Output: ps[len(ps)-1]}
	for i := range s.Layers {
		p := ps[1+9*i:]
		m.Blocks = append(m.Blocks, Block{p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8]})
	}
	return m, nil
}

// InitStd is the standard deviation of a new model's weight matrices
// (GPT-2's); the two projections into the residual stream are scaled down
// by √(2·layers) so the residual's variance does not grow with depth.
const InitStd = 0.02

// New makes a model of shape s with random weights from seed: matrices
// N(0, InitStd²) drawn in Go (the same model for a seed on every device),
// norm gains 1.
func New(s Shape, seed uint64, dt torch.DType, dev torch.Device) (*Model, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	r := rand.New(rand.NewPCG(seed, 0x6c6d2d696e6974)) // "lm-init"
	specs := s.specs()
	data := make([][]float32, len(specs))
	residualScale := 1 / math.Sqrt(2*float64(s.Layers))
	for i, sp := range specs {
		n := int64(1)
		for _, d := range sp.shape {
			n *= d
		}
		v := make([]float32, n)
		std := InitStd
		if sp.norm {
			for j := range v {
				v[j] = 1
			}
		} else {
			if hasSuffix(sp.name, "attn_output.weight") || hasSuffix(sp.name, "ffn_down.weight") {
				std *= residualScale
			}
			for j := range v {
				v[j] = float32(r.NormFloat64() * std)
			}
		}
		data[i] = v
	}
	return newModel(s, data, dt, dev)
}

func hasSuffix(s, suf string) bool { return len(s) >= len(suf) && s[len(s)-len(suf):] == suf }

// Free releases the weights.
func (m *Model) Free() {
	for _, p := range m.Parameters() {
		p.Free()
	}
}

// Weights copies every parameter to the host as float32, in Parameters order.
func (m *Model) Weights() ([][]float32, error) {
	var out [][]float32
	for _, p := range m.Parameters() {
		s := torch.NewScope()
		c := s.To(s.Detach(p), torch.CPU, torch.Float32)
		if s.Err() != nil {
			s.Close()
			return nil, s.Err()
		}
		v, err := torch.ToSlice[float32](c)
		s.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Rope holds the rotary tables for positions 0…n−1: cos and sin of
// θ_{p,i} = p·base^(−2i/D), shaped [n, D/2, 1] to broadcast over
// [batch, heads, positions, D/2, 2].
type Rope struct {
	Cos, Sin *torch.Tensor
	N        int
}

// NewRope computes the tables in float64 and stores them in dt on dev.
func NewRope(s Shape, n int, dt torch.DType, dev torch.Device) (*Rope, error) {
	half := s.HeadDim() / 2
	cos := make([]float64, n*half)
	sin := make([]float64, n*half)
	for p := range n {
		for i := range half {
			theta := float64(p) * math.Pow(s.RopeBase, -2*float64(i)/float64(s.HeadDim()))
			cos[p*half+i], sin[p*half+i] = math.Cos(theta), math.Sin(theta)
		}
	}
	sc := torch.NewScope()
	defer sc.Close()
	shape := []int64{int64(n), int64(half), 1}
	c := sc.Keep(sc.To(torch.FromSliceIn(sc, cos, shape, torch.CPU), dev, dt))
	si := sc.Keep(sc.To(torch.FromSliceIn(sc, sin, shape, torch.CPU), dev, dt))
	if err := sc.Err(); err != nil {
		c.Free()
		si.Free()
		return nil, err
	}
	return &Rope{Cos: c, Sin: si, N: n}, nil
}

// Free releases the tables.
func (r *Rope) Free() {
	r.Cos.Free()
	r.Sin.Free()
}

// apply rotates adjacent pairs of x [B, H, T, D] at positions 0…T−1.
func (r *Rope) apply(s *torch.Scope, x *torch.Tensor, b, h, t, d int64) *torch.Tensor {
	cos := s.Narrow(r.Cos, 0, 0, t)
	sin := s.Narrow(r.Sin, 0, 0, t)
	pairs := s.Reshape(x, b, h, t, d/2, 2)
	x0 := s.Narrow(pairs, -1, 0, 1)
	x1 := s.Narrow(pairs, -1, 1, 1)
	r0 := s.Sub(s.Mul(x0, cos), s.Mul(x1, sin))
	r1 := s.Add(s.Mul(x0, sin), s.Mul(x1, cos))
	return s.Reshape(s.Cat(-1, r0, r1), b, h, t, d)
}

// applyAt rotates adjacent pairs of x [B, H, T, D] at positions pos
// (int64 [B, T]), each row at its own.
func (r *Rope) applyAt(s *torch.Scope, x, pos *torch.Tensor, b, h, t, d int64) *torch.Tensor {
	flat := s.View(pos, b*t)
	cos := s.View(s.IndexSelect(r.Cos, 0, flat), b, 1, t, d/2, 1)
	sin := s.View(s.IndexSelect(r.Sin, 0, flat), b, 1, t, d/2, 1)
	pairs := s.Reshape(x, b, h, t, d/2, 2)
	x0 := s.Narrow(pairs, -1, 0, 1)
	x1 := s.Narrow(pairs, -1, 1, 1)
	r0 := s.Sub(s.Mul(x0, cos), s.Mul(x1, sin))
	r1 := s.Add(s.Mul(x0, sin), s.Mul(x1, cos))
	return s.Reshape(s.Cat(-1, r0, r1), b, h, t, d)
}

// rmsNorm is x/√(mean(x²)+ε)·w over the last dim.
func rmsNorm(s *torch.Scope, x, w *torch.Tensor, eps float32) *torch.Tensor {
	ms := s.MeanDim(s.Square(x), -1, true)
	return s.Mul(s.Mul(x, s.Rsqrt(s.AddS(ms, float64(eps)))), w)
}

// causalMask is the bool mask [T, T] that is true where key j > query i.
func causalMask(s *torch.Scope, t int64, dev torch.Device) *torch.Tensor {
	v := make([]bool, t*t)
	for i := range t {
		for j := i + 1; j < t; j++ {
			v[i*t+j] = true
		}
	}
	return torch.FromSliceIn(s, v, []int64{t, t}, dev)
}

// Block applies transformer block i to x [B, T, dim] under mask (bool,
// broadcastable to [B, Hkv, G, T, T], true where attention is forbidden).
func (m *Model) Block(s *torch.Scope, i int, x, mask *torch.Tensor, rope *Rope) *torch.Tensor {
	y, _ := m.block(s, i, x, mask, rope, nil, KV{})
	return y
}

// KV is one block's keys (after RoPE) and values, [B, Hkv, T, D]: what a
// later forward over the same prefix reads instead of recomputing it.
type KV struct{ K, V *torch.Tensor }

// BlockCached is Block for tokens that continue a prefix whose keys and
// values are past (zero for none): x [B, T, dim] sits at positions pos
// (int64 [B, T]), its queries attend to past's and its own keys under mask
// (broadcastable to [B, Hkv, G, T, Tpast+T]), and it returns the block's
// output and its own keys and values (without past's).
func (m *Model) BlockCached(s *torch.Scope, i int, x, mask *torch.Tensor, rope *Rope, pos *torch.Tensor, past KV) (*torch.Tensor, KV) {
	return m.block(s, i, x, mask, rope, pos, past)
}

// block is Block and BlockCached: pos nil means positions 0…T−1.
func (m *Model) block(s *torch.Scope, i int, x, mask *torch.Tensor, rope *Rope, pos *torch.Tensor, past KV) (*torch.Tensor, KV) {
	if s.Err() != nil {
		return nil, KV{}
	}
	sh := x.Shape()
	if len(sh) != 3 {
		s.Fail(fmt.Errorf("lm: block input has shape %v, want [batch, tokens, dim]", sh))
		return nil, KV{}
	}
	b, t := sh[0], sh[1]
	if int(t) > rope.N {
		s.Fail(fmt.Errorf("lm: %d tokens, more than the %d positions of the rotary tables", t, rope.N))
		return nil, KV{}
	}
	blk := m.Blocks[i]
	H, Hkv, D := int64(m.Shape.Heads), int64(m.Shape.KVHeads), int64(m.Shape.HeadDim())
	G := H / Hkv
	h := rmsNorm(s, x, blk.AttnNorm, m.Shape.NormEps)
	heads := func(w *torch.Tensor, n int64) *torch.Tensor {
		return s.Transpose(s.View(s.Linear(h, w, nil), b, t, n, D), 1, 2) // [B, n, T, D]
	}
	rotate := func(x *torch.Tensor, n int64) *torch.Tensor {
		if pos == nil {
			return rope.apply(s, x, b, n, t, D)
		}
		return rope.applyAt(s, x, pos, b, n, t, D)
	}
	q := rotate(heads(blk.Q, H), H)
	own := KV{K: rotate(heads(blk.K, Hkv), Hkv), V: heads(blk.V, Hkv)}
	k, v := own.K, own.V
	if past.K != nil {
		k, v = s.Cat(2, past.K, k), s.Cat(2, past.V, v)
	}
	// Query head h = kv·G + g reads KV head kv = ⌊h/G⌋: group the query
	// heads by KV head and let matmul broadcast K and V over the group.
	qg := s.View(q, b, Hkv, G, t, D)
	kg := s.Unsqueeze(k, 2)
	vg := s.Unsqueeze(v, 2)
	scores := s.MulS(s.Matmul(qg, s.Transpose(kg, -1, -2)), 1/math.Sqrt(float64(D)))
	probs := s.Softmax(s.MaskedFill(scores, mask, math.Inf(-1)), -1)
	att := s.Matmul(probs, vg)                                                // [B, Hkv, G, T, D]
	att = s.Reshape(s.Transpose(s.Reshape(att, b, H, t, D), 1, 2), b, t, H*D) // [B, T, H·D]
	x = s.Add(x, s.Linear(att, blk.Out, nil))
	h = rmsNorm(s, x, blk.FFNNorm, m.Shape.NormEps)
	ff := s.Mul(s.SiLU(s.Linear(h, blk.Gate, nil)), s.Linear(h, blk.Up, nil))
	return s.Add(x, s.Linear(ff, blk.Down, nil)), own
}

// Mask is the attention mask for a batch: causal, plus keys at padded
// positions (pad[b][j] true) hidden from every query. pad may be nil.
func Mask(s *torch.Scope, b, t int64, pad []bool, dev torch.Device) *torch.Tensor {
	causal := causalMask(s, t, dev)
	if pad == nil {
		return causal
	}
	if int64(len(pad)) != b*t {
		s.Fail(fmt.Errorf("lm: padding mask of %d entries for a batch of %d×%d", len(pad), b, t))
		return nil
	}
	keys := s.View(torch.FromSliceIn(s, pad, []int64{b, t}, dev), b, 1, 1, 1, t)
	return s.Or(causal, keys)
}

// Hidden runs the blocks and the final norm over ids [B, T] (int64) and
// returns the normalised hidden states [B, T, dim]. mask is from Mask.
func (m *Model) Hidden(s *torch.Scope, ids, mask *torch.Tensor, rope *Rope) *torch.Tensor {
	x := s.Embedding(m.Embed, ids)
	for i := range m.Blocks {
		x = m.Block(s, i, x, mask, rope)
	}
	return rmsNorm(s, x, m.Norm, m.Shape.NormEps)
}

// HiddenCached is Hidden for tokens ids [B, T] at positions pos (int64
// [B, T]) continuing prefixes whose per-block keys and values are past (nil
// for none) under mask (broadcastable to [B, 1, 1, T, Tpast+T]); it also
// returns every block's own keys and values, for a later continuation.
func (m *Model) HiddenCached(s *torch.Scope, ids, mask, pos *torch.Tensor, rope *Rope, past []KV) (*torch.Tensor, []KV) {
	if past != nil && len(past) != len(m.Blocks) {
		s.Fail(fmt.Errorf("lm: %d cached blocks for a model of %d", len(past), len(m.Blocks)))
		return nil, nil
	}
	x := s.Embedding(m.Embed, ids)
	kvs := make([]KV, len(m.Blocks))
	for i := range m.Blocks {
		var p KV
		if past != nil {
			p = past[i]
		}
		x, kvs[i] = m.block(s, i, x, mask, rope, pos, p)
	}
	return rmsNorm(s, x, m.Norm, m.Shape.NormEps), kvs
}

// Logits projects hidden states [..., dim] onto the vocabulary.
func (m *Model) Logits(s *torch.Scope, hidden *torch.Tensor) *torch.Tensor {
	return s.Linear(hidden, m.Output, nil)
}
