package lm

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/lm/gguf"
	"github.com/lago-rl/lago/engine/lm/tokenizer"
	"github.com/lago-rl/lago/engine/runfile"
)

// FileType is the tensor type of an exported model's weight matrices; norm
// gains are always F32, as llama.cpp's converters write them.
type FileType string

// The export types.
const (
	F32  FileType = "f32"
	F16  FileType = "f16"
	Q8_0 FileType = "q8_0"
)

// ParseFileType reads "f32", "f16" or "q8_0".
func ParseFileType(s string) (FileType, error) {
	switch t := FileType(strings.ToLower(s)); t {
	case F32, F16, Q8_0:
		return t, nil
	}
	return "", fmt.Errorf("lm: unknown file type %q: want f32, f16 or q8_0", s)
}

// ggufFileType is general.file_type (llama_ftype): ALL_F32, MOSTLY_F16, MOSTLY_Q8_0.
func (t FileType) ggufFileType() uint32 {
	return map[FileType]uint32{F32: 0, F16: 1, Q8_0: 7}[t]
}

func (t FileType) tensorType() gguf.TensorType {
	return map[FileType]gguf.TensorType{F32: gguf.TensorF32, F16: gguf.TensorF16, Q8_0: gguf.TensorQ8_0}[t]
}

// ggufShape is a torch shape in GGUF order (fastest dimension first).
func ggufShape(shape []int64) []uint64 {
	out := make([]uint64, len(shape))
	for i, d := range shape {
		out[len(shape)-1-i] = uint64(d)
	}
	return out
}

// GGUF builds the GGUF file of m with vocabulary v: every key llama.cpp's
// llama loader and Ollama read, the vocabulary, and the weights with
// matrices as ft.
func GGUF(m *Model, v *tokenizer.Vocab, name string, ft FileType) (*gguf.File, error) {
	s := m.Shape
	if v.Len() != s.Vocab {
		return nil, fmt.Errorf("lm: vocabulary of %d tokens for a model of %d", v.Len(), s.Vocab)
	}
	if ft == Q8_0 && (s.Dim%32 != 0 || s.FFN%32 != 0) {
		return nil, fmt.Errorf("lm: q8_0 export needs dim (%d) and ffn (%d) to be multiples of 32", s.Dim, s.FFN)
	}
	u32 := func(n int) uint32 { return uint32(n) }
	f := &gguf.File{Metadata: []gguf.KV{
		{Key: "general.architecture", Value: "llama"},
		{Key: "general.name", Value: name},
		{Key: "general.file_type", Value: ft.ggufFileType()},
		{Key: "llama.context_length", Value: u32(s.Context)},
		{Key: "llama.embedding_length", Value: u32(s.Dim)},
		{Key: "llama.block_count", Value: u32(s.Layers)},
		{Key: "llama.feed_forward_length", Value: u32(s.FFN)},
		{Key: "llama.attention.head_count", Value: u32(s.Heads)},
		{Key: "llama.attention.head_count_kv", Value: u32(s.KVHeads)},
		{Key: "llama.attention.layer_norm_rms_epsilon", Value: s.NormEps},
		{Key: "llama.rope.dimension_count", Value: u32(s.HeadDim())},
		// Explicit: llama.cpp defaults to 10000 but Ollama's own engine to 1e5.
		{Key: "llama.rope.freq_base", Value: float32(s.RopeBase)},
		{Key: "llama.vocab_size", Value: u32(s.Vocab)},
	}}
	f.Metadata = append(f.Metadata, v.Metadata()...)
	weights, err := m.Weights()
	if err != nil {
		return nil, err
	}
	for i, sp := range s.specs() {
		t := gguf.Tensor{Name: sp.name, Shape: ggufShape(sp.shape)}
		switch {
		case sp.norm || ft == F32:
			t.Data = weights[i]
		case ft == F16:
			t.Type, t.Raw = gguf.TensorF16, gguf.EncodeF16(weights[i])
		case ft == Q8_0:
			t.Type = gguf.TensorQ8_0
			if t.Raw, err = gguf.EncodeQ8_0(weights[i]); err != nil {
				return nil, fmt.Errorf("lm: %s: %w", sp.name, err)
			}
		}
		f.Tensors = append(f.Tensors, t)
	}
	return f, nil
}

// Export writes m and v as a GGUF model file at path, atomically.
func Export(path string, m *Model, v *tokenizer.Vocab, name string, ft FileType) error {
	f, err := GGUF(m, v, name, ft)
	if err != nil {
		return err
	}
	return runfile.WriteAtomic(path, 0o644, func(w io.Writer) error {
		_, err := f.WriteTo(w)
		return err
	})
}

// Imported describes a model read from a GGUF file.
type Imported struct {
	Model *Model
	Vocab *tokenizer.Vocab
	Name  string
	// Types are the GGUF tensor types of the file's weights, in Parameters order.
	Types []gguf.TensorType
	// TiedOutput is true when the file had no output.weight and the
	// embedding was used as the LM head, as llama.cpp does.
	TiedOutput bool
}

// Import reads a llama GGUF with a SentencePiece vocabulary and F32, F16 or
// Q8_0 weights into a model on dev in dt. Anything else — another
// architecture, a BPE vocabulary, K-quants, RoPE scaling, per-layer head
// counts, tensors the llama forward does not use — is an error naming it.
func Import(path string, dt torch.DType, dev torch.Device) (*Imported, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("lm: %w", err)
	}
	defer file.Close()
	h, err := ggufHeader(file, path)
	if err != nil {
		return nil, err
	}
	im, err := importHeader(h, file, dt, dev)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return im, nil
}

// shapeOf reads a llama model's shape from its header, refusing what the
// forward pass does not implement.
func shapeOf(h *gguf.Header) (Shape, error) {
	arch, _ := h.Value("general.architecture")
	if arch != "llama" {
		return Shape{}, fmt.Errorf("lm: general.architecture %q is not supported: lago reads llama models only", arch)
	}
	vocab, err := tokenizer.FromGGUF(h)
	if err != nil {
		return Shape{}, fmt.Errorf("lm: %w", err)
	}
	// geti reads an integer key; a required one that is missing is an error.
	geti := func(key string, def int, required bool) (int, error) {
		if _, ok := h.Value(key); !ok && required {
			return 0, fmt.Errorf("lm: key %s is missing", key)
		}
		n, err := h.Int(key, def)
		if err != nil {
			return 0, fmt.Errorf("lm: %w (per-layer values are not supported)", err)
		}
		return n, nil
	}
	var s Shape
	var errs []error
	add := func(p *int, key string, def int, req bool) {
		v, err := geti(key, def, req)
		*p = v
		errs = append(errs, err)
	}
	add(&s.Dim, "llama.embedding_length", 0, true)
	add(&s.Layers, "llama.block_count", 0, true)
	add(&s.FFN, "llama.feed_forward_length", 0, true)
	add(&s.Heads, "llama.attention.head_count", 0, true)
	add(&s.Context, "llama.context_length", 0, true)
	for _, e := range errs {
		if e != nil {
			return Shape{}, e
		}
	}
	if s.KVHeads, err = geti("llama.attention.head_count_kv", s.Heads, false); err != nil {
		return Shape{}, err
	}
	eps, err := h.Float32("llama.attention.layer_norm_rms_epsilon", 0)
	if err != nil {
		return Shape{}, fmt.Errorf("lm: %w", err)
	}
	if eps == 0 {
		return Shape{}, fmt.Errorf("lm: key llama.attention.layer_norm_rms_epsilon is missing")
	}
	base, err := h.Float32("llama.rope.freq_base", 10000)
	if err != nil {
		return Shape{}, fmt.Errorf("lm: %w", err)
	}
	s.NormEps, s.RopeBase, s.Vocab = eps, float64(base), vocab.Len()
	for _, kv := range h.Metadata {
		if strings.HasPrefix(kv.Key, "llama.rope.scaling.") && kv.Key != "llama.rope.scaling.type" {
			return Shape{}, fmt.Errorf("lm: key %s: RoPE scaling is not supported", kv.Key)
		}
		if kv.Key == "llama.rope.scaling.type" && kv.Value != "none" {
			return Shape{}, fmt.Errorf("lm: key %s = %v: RoPE scaling is not supported", kv.Key, kv.Value)
		}
	}
	if err := s.Check(); err != nil {
		return Shape{}, err
	}
	if rot, err := geti("llama.rope.dimension_count", s.HeadDim(), false); err != nil {
		return Shape{}, err
	} else if rot != s.HeadDim() {
		return Shape{}, fmt.Errorf("lm: llama.rope.dimension_count %d differs from the head dimension %d: partial rotary embeddings are not supported", rot, s.HeadDim())
	}
	return s, nil
}

// ggufHeader reads the header of the GGUF file f (named path in errors).
func ggufHeader(f io.Reader, path string) (*gguf.Header, error) {
	h, err := gguf.ReadHeader(f)
	if err != nil {
		return nil, fmt.Errorf("lm: %s: %w", path, err)
	}
	return h, nil
}

func importHeader(h *gguf.Header, r io.ReaderAt, dt torch.DType, dev torch.Device) (*Imported, error) {
	s, err := shapeOf(h)
	if err != nil {
		return nil, err
	}
	vocab, err := tokenizer.FromGGUF(h)
	if err != nil {
		return nil, fmt.Errorf("lm: %w", err)
	}
	specs := s.specs()
	known := map[string]bool{}
	for _, sp := range specs {
		known[sp.name] = true
	}
	for _, ti := range h.Tensors {
		if !known[ti.Name] {
			return nil, fmt.Errorf("lm: tensor %s is not supported (lago's llama forward has no use for it)", ti.Name)
		}
		if _, err := gguf.DataSize(ti.Type, ti.Elements()); err != nil {
			return nil, fmt.Errorf("lm: tensor %s: %w", ti.Name, err)
		}
	}
	im := &Imported{Vocab: vocab}
	if n, ok := h.Value("general.name"); ok {
		im.Name, _ = n.(string)
	}
	data := make([][]float32, len(specs))
	for i, sp := range specs {
		name := sp.name
		ti, ok := h.Tensor(name)
		if !ok && name == "output.weight" {
			name, im.TiedOutput = "token_embd.weight", true
			ti, ok = h.Tensor(name)
		}
		if !ok {
			return nil, fmt.Errorf("lm: tensor %s is missing", sp.name)
		}
		if !slices.Equal(ti.Shape, ggufShape(sp.shape)) {
			return nil, fmt.Errorf("lm: tensor %s has shape %v, the model's keys say %v", name, ti.Shape, ggufShape(sp.shape))
		}
		if data[i], err = h.ReadFloat32(r, name); err != nil {
			return nil, fmt.Errorf("lm: %w", err)
		}
		im.Types = append(im.Types, ti.Type)
	}
	if im.Model, err = newModel(s, data, dt, dev); err != nil {
		return nil, err
	}
	return im, nil
}
