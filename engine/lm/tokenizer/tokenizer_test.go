package tokenizer

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/lago-rl/lago/engine/lm/gguf"
)

// tinyVocab is the vocabulary of `lago model tiny`, the model whose
// tokenization was measured against Ollama v0.17.4 (shared reference
// llama-gguf-parity.md).
func tinyVocab(t *testing.T) *Vocab {
	t.Helper()
	var buf bytes.Buffer
	if err := gguf.WriteTinyLlama(&buf, nil, 1); err != nil {
		t.Fatal(err)
	}
	h, err := gguf.ReadHeader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	v, err := FromGGUF(h)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func pieces(v *Vocab, ids []int) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = v.Tokens[id]
	}
	return out
}

func TestEncodeTinyVocab(t *testing.T) {
	v := tinyVocab(t)
	cases := []struct {
		text string
		want string // pieces joined by '|'
	}{
		// Measured with Ollama v0.17.4: prompt_eval_count and logprobs agree.
		{"hello world", "<s>|▁|<0x68>|<0x65>|l|l|o|▁w|or|l|d"},
		{"<s>A</s>B", "<s>|<s>|▁A|</s>|▁B"},
		// Words in the vocabulary, with and without the space prefix.
		{"Answer: A", "<s>|▁Answer|:|▁A"},
		{"the ball", "<s>|▁the|▁ball"},
		// Digits are single tokens after a space and bare.
		{"42", "<s>|▁4|2"},
		// Doubled spaces: each space is a ▁ of its own.
		{"a  b", "<s>|▁a|▁|▁b"},
		// Out-of-vocabulary UTF-8 falls back to bytes, never <unk>.
		{"é", "<s>|▁|<0xC3>|<0xA9>"},
		// A newline is not a space; without a token it is a byte.
		{"A\nB", "<s>|▁A|<0x0A>|B"},
		// <unk> typed in a prompt is special (type UNKNOWN); <0x41> is text.
		{"<unk>", "<s>|<unk>"},
		{"", "<s>"},
	}
	for _, c := range cases {
		got := strings.Join(pieces(v, v.Encode(c.text)), "|")
		if got != c.want {
			t.Errorf("Encode(%q) = %s, want %s", c.text, got, c.want)
		}
	}
}

// TestMergesByScoreNotLongestMatch: with "ab" scored above "bc", "abc"
// becomes ab|c even though "bc" is the longer match from the right, and a
// score tie goes to the leftmost pair.
func TestMergesByScoreNotLongestMatch(t *testing.T) {
	tokens := []string{"<unk>", "<s>", "</s>", "a", "b", "c", "ab", "bc", "▁"}
	types := []int32{TypeUnknown, TypeControl, TypeControl, 1, 1, 1, 1, 1, 1}
	for _, c := range []struct {
		scores []float32
		want   string
	}{
		{[]float32{0, 0, 0, -1, -1, -1, -2, -3, -1}, "ab|c"},
		{[]float32{0, 0, 0, -1, -1, -1, -3, -2, -1}, "a|bc"},
		{[]float32{0, 0, 0, -1, -1, -1, -2, -2, -1}, "ab|c"},
	} {
		v, err := New(tokens, c.scores, types, 1, 2, 0, false, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(pieces(v, v.Encode("abc")), "|"); got != c.want {
			t.Errorf("scores %v: %s, want %s", c.scores, got, c.want)
		}
	}
}

func TestBuildMakesWordsSingleTokens(t *testing.T) {
	texts := []string{"Which letter comes after K in: Q K Z B?", "Answer: Z", "push the red ball (left) 0.25 m"}
	v := Build(texts)
	for _, text := range texts {
		for _, id := range v.Encode(text) {
			if v.Types[id] == TypeByte {
				t.Errorf("%q: fell back to a byte token %s", text, v.Tokens[id])
			}
		}
	}
	if got := strings.Join(pieces(v, v.Encode("Which letter comes after K")), "|"); got != "<s>|▁Which|▁letter|▁comes|▁after|▁K" {
		t.Errorf("words split into %s", got)
	}
	if got := strings.Join(pieces(v, v.Encode("ball (left)")), "|"); got != "<s>|▁ball|▁(|left|)" {
		t.Errorf("punctuation: %s", got)
	}
	// Unseen text still tokenizes, through bytes.
	if got := strings.Join(pieces(v, v.Encode("ü")), "|"); got != "<s>|▁|<0xC3>|<0xBC>" {
		t.Errorf("unseen character: %s", got)
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	v := Build([]string{"a small test"})
	f := &gguf.File{Metadata: append([]gguf.KV{{Key: "general.architecture", Value: "llama"}}, v.Metadata()...)}
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	h, err := gguf.ReadHeader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	back, err := FromGGUF(h)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Tokens, v.Tokens) || !reflect.DeepEqual(back.Encode("a small test"), v.Encode("a small test")) {
		t.Error("vocabulary changed through GGUF")
	}
}

func TestFromGGUFRejectsBPE(t *testing.T) {
	h := &gguf.Header{Metadata: []gguf.KV{{Key: "tokenizer.ggml.model", Value: "gpt2"}, {Key: "tokenizer.ggml.tokens", Value: []string{"a"}}}}
	if _, err := FromGGUF(h); err == nil || !strings.Contains(err.Error(), `"gpt2" is not supported`) {
		t.Errorf("BPE vocabulary: error %v", err)
	}
}
