package lm

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/lm/gguf"
	"github.com/lago-rl/lago/engine/lm/tokenizer"
)

var exportShape = Shape{Dim: 32, Layers: 2, Heads: 4, KVHeads: 2, FFN: 64, Context: 32, RopeBase: 10000, NormEps: 1e-5}

func testModel(t *testing.T) (*Model, *tokenizer.Vocab) {
	t.Helper()
	v := tokenizer.Build([]string{"which letter comes after K in Q K Z", "Answer: Z"})
	s := exportShape
	s.Vocab = v.Len()
	m, err := FromWeights(s, randomWeights(s, 5, 0.1), torch.Float32, torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	return m, v
}

// rawTensors reads every tensor's encoded bytes from a GGUF file.
func rawTensors(t *testing.T, path string) map[string][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := bytes.NewReader(data)
	h, err := gguf.ReadHeader(r)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, ti := range h.Tensors {
		raw, _, err := h.ReadRaw(r, ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		out[ti.Name] = raw
	}
	return out
}

func TestExportImportExportIsIdentical(t *testing.T) {
	m, v := testModel(t)
	defer m.Free()
	dir := t.TempDir()
	for _, ft := range []FileType{F32, F16, Q8_0} {
		first := filepath.Join(dir, string(ft)+".gguf")
		if err := Export(first, m, v, "test", ft); err != nil {
			t.Fatal(err)
		}
		im, err := Import(first, torch.Float32, torch.CPU)
		if err != nil {
			t.Fatalf("%s: %v", ft, err)
		}
		second := filepath.Join(dir, string(ft)+"-again.gguf")
		if err := Export(second, im.Model, im.Vocab, im.Name, ft); err != nil {
			t.Fatal(err)
		}
		a, b := rawTensors(t, first), rawTensors(t, second)
		if len(a) != len(m.Parameters()) || len(a) != len(b) {
			t.Fatalf("%s: %d and %d tensors", ft, len(a), len(b))
		}
		for name, raw := range a {
			if !bytes.Equal(raw, b[name]) {
				t.Errorf("%s: tensor %s changed through import and export", ft, name)
			}
		}
		if im.Types[1] != gguf.TensorF32 || (ft != F32 && im.Types[0] == gguf.TensorF32) {
			t.Errorf("%s: imported types %v", ft, im.Types[:3])
		}
		if ft == F32 {
			w1, _ := m.Weights()
			w2, _ := im.Model.Weights()
			for i := range w1 {
				if !slicesEqual(w1[i], w2[i]) {
					t.Errorf("f32: parameter %d changed", i)
				}
			}
		}
		im.Model.Free()
	}
}

func slicesEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestImportTinyModel reads the model `lago model tiny` writes (the one the
// Ollama parity of the tokenizer was measured on).
func TestImportTinyModel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tiny.gguf")
	var buf bytes.Buffer
	if err := gguf.WriteTinyLlama(&buf, nil, 1); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, buf.Bytes(), 0o644)
	im, err := Import(path, torch.Float32, torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer im.Model.Free()
	if s := im.Model.Shape; s.Dim != 64 || s.Layers != 2 || s.Heads != 4 || s.Vocab != im.Vocab.Len() || s.NormEps != float32(1e-5) {
		t.Errorf("shape %+v", s)
	}
}

func TestImportRejects(t *testing.T) {
	m, v := testModel(t)
	defer m.Free()
	dir := t.TempDir()
	cases := []struct {
		name string
		edit func(f *gguf.File)
		want string
	}{
		{"architecture", func(f *gguf.File) { setKV(f, "general.architecture", "qwen2") }, `general.architecture "qwen2" is not supported`},
		{"bpe", func(f *gguf.File) { setKV(f, "tokenizer.ggml.model", "gpt2") }, `"gpt2" is not supported`},
		// Q4_K: 256 values in 144 bytes, written as 36 F32 values and retyped below.
		{"k-quant", func(f *gguf.File) { f.Tensors[1].Shape, f.Tensors[1].Data = []uint64{36}, make([]float32, 36) }, "Q4_K is not supported"},
		{"extra tensor", func(f *gguf.File) {
			f.Tensors = append(f.Tensors, gguf.Tensor{Name: "rope_freqs.weight", Shape: []uint64{4}, Data: make([]float32, 4)})
		}, "tensor rope_freqs.weight is not supported"},
		{"rope scaling", func(f *gguf.File) {
			f.Metadata = append(f.Metadata, gguf.KV{Key: "llama.rope.scaling.type", Value: "linear"})
		}, "RoPE scaling is not supported"},
		{"per-layer heads", func(f *gguf.File) { setKV(f, "llama.attention.head_count_kv", []int32{2, 2}) }, "per-layer values are not supported"},
	}
	for _, c := range cases {
		f, err := GGUF(m, v, "x", F32)
		if err != nil {
			t.Fatal(err)
		}
		c.edit(f)
		path := filepath.Join(dir, c.name+".gguf")
		var buf bytes.Buffer
		if _, err := f.WriteTo(&buf); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		data := buf.Bytes()
		if c.name == "k-quant" {
			// The tensor entry: name, n_dims 1, dim 36, type 0 → 12 (Q4_K), shape 256.
			entry := append([]byte("blk.0.attn_norm.weight"), 1, 0, 0, 0, 36, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
			i := bytes.Index(data, entry)
			if i < 0 {
				t.Fatal("tensor entry not found")
			}
			dim := i + len("blk.0.attn_norm.weight") + 4
			data[dim], data[dim+1] = 0, 1 // 256
			data[dim+8] = 12
		}
		os.WriteFile(path, data, 0o644)
		if _, err := Import(path, torch.Float32, torch.CPU); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}

func setKV(f *gguf.File, key string, v any) {
	for i := range f.Metadata {
		if f.Metadata[i].Key == key {
			f.Metadata[i].Value = v
			return
		}
	}
	panic("no key " + key)
}
