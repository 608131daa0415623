package gguf

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func writeTiny(t *testing.T, labels []string, seed uint64) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteTinyLlama(&buf, labels, seed); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func value[T any](t *testing.T, h *Header, key string) T {
	t.Helper()
	v, ok := h.Value(key)
	if !ok {
		t.Fatalf("no metadata %s", key)
	}
	x, ok := v.(T)
	if !ok {
		var zero T
		t.Fatalf("metadata %s is %T, want %T", key, v, zero)
	}
	return x
}

func TestTinyLlamaLayout(t *testing.T) {
	raw := writeTiny(t, []string{"pyramid", "Ω"}, 1)
	h, err := ReadHeader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("tiny model: %d bytes, %d tensors, %d metadata", len(raw), len(h.Tensors), len(h.Metadata))

	if a := value[string](t, h, "general.architecture"); a != "llama" {
		t.Errorf("architecture %q", a)
	}
	s := TinyShape
	for key, want := range map[string]int{
		"llama.context_length":          s.Context,
		"llama.embedding_length":        s.Embedding,
		"llama.block_count":             s.Layers,
		"llama.feed_forward_length":     s.FeedForward,
		"llama.attention.head_count":    s.Heads,
		"llama.attention.head_count_kv": s.KVHeads,
		"llama.rope.dimension_count":    s.Embedding / s.Heads,
	} {
		if got := value[uint32](t, h, key); int(got) != want {
			t.Errorf("%s = %d, want %d", key, got, want)
		}
	}
	value[float32](t, h, "llama.attention.layer_norm_rms_epsilon")
	if m := value[string](t, h, "tokenizer.ggml.model"); m != "llama" {
		t.Errorf("tokenizer model %q", m)
	}
	tokens := value[[]string](t, h, "tokenizer.ggml.tokens")
	scores := value[[]float32](t, h, "tokenizer.ggml.scores")
	types := value[[]int32](t, h, "tokenizer.ggml.token_type")
	vocab := int(value[uint32](t, h, "llama.vocab_size"))
	if len(tokens) != vocab || len(scores) != vocab || len(types) != vocab {
		t.Fatalf("vocab_size %d, %d tokens, %d scores, %d types", vocab, len(tokens), len(scores), len(types))
	}
	t.Logf("vocabulary: %d tokens", vocab)
	for key, want := range map[string]string{
		"tokenizer.ggml.unknown_token_id": "<unk>",
		"tokenizer.ggml.bos_token_id":     "<s>",
		"tokenizer.ggml.eos_token_id":     "</s>",
	} {
		if id := value[uint32](t, h, key); tokens[id] != want {
			t.Errorf("%s names %q, want %q", key, tokens[id], want)
		}
	}
	if !value[bool](t, h, "tokenizer.ggml.add_bos_token") {
		t.Error("add_bos_token is false")
	}
	seen := map[string]bool{}
	for i, tok := range tokens {
		if seen[tok] {
			t.Errorf("token %q repeats", tok)
		}
		seen[tok] = true
		want := TokenNormal
		switch {
		case i == 0:
			want = TokenUnknown
		case i < 3:
			want = TokenControl
		case i < 3+256:
			want = TokenByte
			if tok != fmt.Sprintf("<0x%02X>", i-3) {
				t.Errorf("token %d is %q", i, tok)
			}
		}
		if types[i] != want {
			t.Errorf("token %d %q has type %d, want %d", i, tok, types[i], want)
		}
	}
	for _, w := range []string{"A", "Z", "0", "9", "the", "ball", "push", "red", "blue", "green", "purple", "cyan",
		"left", "right", "front", "behind", "Answer", ":", "pyramid", "Ω"} {
		if !seen[w] || !seen["▁"+w] {
			t.Errorf("vocabulary lacks %q or %q", w, "▁"+w)
		}
	}

	e, ff, v := uint64(s.Embedding), uint64(s.FeedForward), uint64(vocab)
	kv := uint64(s.KVHeads * s.Embedding / s.Heads)
	want := map[string][]uint64{
		"token_embd.weight":  {e, v},
		"output_norm.weight": {e},
		"output.weight":      {e, v},
	}
	for i := range s.Layers {
		b := fmt.Sprintf("blk.%d.", i)
		for name, shape := range map[string][]uint64{
			"attn_norm": {e}, "attn_q": {e, e}, "attn_k": {e, kv}, "attn_v": {e, kv}, "attn_output": {e, e},
			"ffn_norm": {e}, "ffn_gate": {e, ff}, "ffn_up": {e, ff}, "ffn_down": {ff, e},
		} {
			want[b+name+".weight"] = shape
		}
	}
	if len(h.Tensors) != len(want) {
		t.Errorf("%d tensors, want %d", len(h.Tensors), len(want))
	}
	for _, ti := range h.Tensors {
		if !reflect.DeepEqual(ti.Shape, want[ti.Name]) || ti.Type != TensorF32 {
			t.Errorf("tensor %s: %v %v, want %v F32", ti.Name, ti.Shape, ti.Type, want[ti.Name])
		}
		if ti.Offset%DefaultAlignment != 0 {
			t.Errorf("tensor %s at unaligned offset %d", ti.Name, ti.Offset)
		}
		data, err := h.ReadF32(bytes.NewReader(raw), ti.Name)
		if err != nil {
			t.Fatal(err)
		}
		// Channel 0 of the embedding and of the output layer is steer's
		// constant carrier and per-token bias, and the blocks never write it;
		// the statistics are over the random rest.
		e := int(TinyShape.Embedding)
		var sum, sq float64
		n := 0
		for i, x := range data {
			if ti.Name == "token_embd.weight" || ti.Name == "output.weight" {
				if i%e == 0 {
					continue
				}
			}
			if strings.HasSuffix(ti.Name, "attn_output.weight") && i < e ||
				strings.HasSuffix(ti.Name, "ffn_down.weight") && i < int(TinyShape.FeedForward) {
				if x != 0 {
					t.Errorf("%s writes to the carrier channel: element %d = %g", ti.Name, i, x)
				}
				continue
			}
			sum += float64(x)
			sq += float64(x) * float64(x)
			n++
		}
		mean := sum / float64(n)
		std := math.Sqrt(sq/float64(n) - mean*mean)
		if strings.HasSuffix(ti.Name, "norm.weight") {
			if mean != 1 || std != 0 {
				t.Errorf("norm %s: mean %g std %g, want ones", ti.Name, mean, std)
			}
		} else if math.Abs(mean) > 0.01 || math.Abs(std-WeightStd) > 0.01 {
			t.Errorf("weights %s: mean %.4f std %.4f, want 0 and %g", ti.Name, mean, std, WeightStd)
		}
	}
}

func TestTinyLlamaDeterministic(t *testing.T) {
	a, b, c := writeTiny(t, nil, 7), writeTiny(t, nil, 7), writeTiny(t, nil, 8)
	if !bytes.Equal(a, b) {
		t.Error("same seed, different files")
	}
	if bytes.Equal(a, c) {
		t.Error("different seeds, same file")
	}
	// Pin the generator: a seed must mean the same weights with any Go
	// release, or models recreated on another machine change digest.
	h, err := ReadHeader(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	w, err := h.ReadF32(bytes.NewReader(a), "blk.0.attn_q.weight")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%.6f", w[:3]); got != pinnedAttnQ {
		t.Errorf("seed 7 blk.0.attn_q.weight starts %s, was %s", got, pinnedAttnQ)
	}
}

// pinnedAttnQ is the start of seed 7's blk.0.attn_q.weight.
const pinnedAttnQ = "[-0.109086 -0.117914 0.011025]"

func TestTinyLlamaRejectsLabels(t *testing.T) {
	for _, l := range []string{"", "two words", "tab\there", "▁A", "<s>", "<0x41>", "\xff"} {
		if err := WriteTinyLlama(&bytes.Buffer{}, []string{l}, 1); err == nil {
			t.Errorf("label %q: no error", l)
		}
	}
}

// spmTokenize mimics llama.cpp's SentencePiece tokenizer (llm_tokenizer_spm):
// spaces become "▁", one is prepended, characters are merged pairwise, the
// best-scored mergeable pair first (leftmost on ties), and what remains
// unknown falls back to byte tokens.
func spmTokenize(text string, tokens []string, scores []float32) []string {
	id := make(map[string]int, len(tokens))
	for i, t := range tokens {
		id[t] = i
	}
	var syms []string
	for _, r := range "▁" + strings.ReplaceAll(text, " ", "▁") {
		syms = append(syms, string(r))
	}
	for {
		best := -1
		for i := 0; i+1 < len(syms); i++ {
			j, ok := id[syms[i]+syms[i+1]]
			if ok && (best < 0 || scores[j] > scores[id[syms[best]+syms[best+1]]]) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		syms = slices.Replace(syms, best, best+2, syms[best]+syms[best+1])
	}
	var out []string
	for _, s := range syms {
		if _, ok := id[s]; ok {
			out = append(out, s)
			continue
		}
		for _, b := range []byte(s) {
			out = append(out, fmt.Sprintf("<0x%02X>", b))
		}
	}
	return out
}

func TestTinyLlamaTokenizesWords(t *testing.T) {
	tokens, scores, _, err := vocabulary([]string{"pyramid"})
	if err != nil {
		t.Fatal(err)
	}
	for text, want := range map[string]string{
		"push the red ball":  "▁push|▁the|▁red|▁ball",
		"Answer: A":          "▁Answer|:|▁A",
		"the pyramid (B) is": "▁the|▁pyramid|▁(|B|)|▁is",
		"ballz":              "▁ball|<0x7A>",
		"the é":              "▁the|▁|<0xC3>|<0xA9>",
	} {
		if got := strings.Join(spmTokenize(text, tokens, scores), "|"); got != want {
			t.Errorf("%q tokenizes as %s, want %s", text, got, want)
		}
	}
}
