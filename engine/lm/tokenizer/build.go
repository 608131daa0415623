package tokenizer

import (
	"errors"
	"fmt"
	"slices"
	"unicode"
	"unicode/utf8"

	"github.com/lago-rl/lago/engine/lm/gguf"
)

// Build makes a vocabulary for a model lago trains from the texts it will see
// (its prompts and answers): <unk>, <s>, </s>, the 256 byte tokens for
// fallback, every character of the texts, and every prefix of every word
// piece — a word's first run of letters or digits with its leading "▁"
// (and without it, for a text's first word and runs after punctuation),
// each punctuation mark alone. With every prefix a token, the merge loop
// always reaches the whole piece, so each word of the texts becomes one
// token. Earlier pieces score higher (SentencePiece's convention).
func Build(texts []string) *Vocab {
	b := NewBuilder()
	for _, text := range texts {
		b.Add(text)
	}
	return b.Vocab()
}

// Builder is Build one text at a time, for texts read from a file that
// need not all be held at once; Vocab is the vocabulary of the texts added
// so far, in the order they were added.
type Builder struct {
	tokens []string
	types  []int32
	seen   map[string]bool
}

// NewBuilder starts a vocabulary with its fixed tokens: <unk>, <s>, </s>
// and the 256 byte tokens.
func NewBuilder() *Builder {
	b := &Builder{seen: map[string]bool{}}
	b.add("<unk>", TypeUnknown)
	b.add("<s>", TypeControl)
	b.add("</s>", TypeControl)
	for c := range 256 {
		b.add(fmt.Sprintf("<0x%02X>", c), TypeByte)
	}
	return b
}

func (b *Builder) add(t string, typ int32) {
	if !b.seen[t] {
		b.seen[t] = true
		b.tokens = append(b.tokens, t)
		b.types = append(b.types, typ)
	}
}

// prefixes adds every prefix of p that ends on a character boundary.
func (b *Builder) prefixes(p string) {
	for end := 1; end <= len(p); end++ {
		if end == len(p) || utf8.RuneStart(p[end]) {
			b.add(p[:end], TypeNormal)
		}
	}
}

// Add adds the characters and word-piece prefixes of text.
func (b *Builder) Add(text string) {
	for _, r := range text {
		if r != ' ' && r != utf8.RuneError {
			b.add(string(r), TypeNormal)
		}
	}
	for _, word := range splitSpaces(text) {
		for i, run := range runs(word) {
			if i == 0 {
				b.prefixes(SpaceMark + run)
			}
			b.prefixes(run)
		}
	}
}

// Vocab is the vocabulary of the texts added so far.
func (b *Builder) Vocab() *Vocab {
	tokens, types := slices.Clone(b.tokens), slices.Clone(b.types)
	scores := make([]float32, len(tokens))
	for i := range scores {
		if types[i] == TypeNormal {
			scores[i] = -float32(i)
		}
	}
	v, err := New(tokens, scores, types, 1, 2, 0, true, true)
	if err != nil {
		panic("tokenizer: Build made an invalid vocabulary: " + err.Error()) // cannot happen: the tables are consistent
	}
	return v
}

// splitSpaces splits at spaces only (a tab or newline is a character of the
// word, as SentencePiece escapes only ' ').
func splitSpaces(s string) []string {
	var out []string
	start := -1
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
		} else if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}

// runs splits a word into maximal runs of letters and digits, and single
// other characters.
func runs(w string) []string {
	var out []string
	start := -1
	for i, r := range w {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			out = append(out, w[start:i])
			start = -1
		}
		out = append(out, string(r))
	}
	if start >= 0 {
		out = append(out, w[start:])
	}
	return out
}

// Metadata is the vocabulary as GGUF tokenizer keys (tokenizer.ggml.*), in
// the order llama.cpp's converter writes them.
func (v *Vocab) Metadata() []gguf.KV {
	kv := []gguf.KV{
		{Key: "tokenizer.ggml.model", Value: "llama"},
		{Key: "tokenizer.ggml.tokens", Value: v.Tokens},
		{Key: "tokenizer.ggml.scores", Value: v.Scores},
		{Key: "tokenizer.ggml.token_type", Value: v.Types},
	}
	for _, id := range []struct {
		key string
		v   int
	}{{"tokenizer.ggml.bos_token_id", v.BOS}, {"tokenizer.ggml.eos_token_id", v.EOS}, {"tokenizer.ggml.unknown_token_id", v.UNK}} {
		if id.v >= 0 {
			kv = append(kv, gguf.KV{Key: id.key, Value: uint32(id.v)})
		}
	}
	return append(kv,
		gguf.KV{Key: "tokenizer.ggml.add_bos_token", Value: v.AddBOS},
		gguf.KV{Key: "tokenizer.ggml.add_eos_token", Value: false},
		gguf.KV{Key: "tokenizer.ggml.add_space_prefix", Value: v.AddSpacePrefix})
}

// FromGGUF reads the vocabulary of a GGUF header. Only SentencePiece
// ("llama") vocabularies are supported; any other tokenizer.ggml.model is an
// error naming it.
func FromGGUF(h *gguf.Header) (*Vocab, error) {
	model, _ := h.Value("tokenizer.ggml.model")
	if model != "llama" {
		return nil, fmt.Errorf("tokenizer: tokenizer.ggml.model %q is not supported: lago reads only SentencePiece (\"llama\") vocabularies, not BPE (\"gpt2\") or others", model)
	}
	tv, _ := h.Value("tokenizer.ggml.tokens")
	tokens, ok := tv.([]string)
	if !ok || len(tokens) == 0 {
		return nil, fmt.Errorf("tokenizer: tokenizer.ggml.tokens is missing or not a string array (%T)", tv)
	}
	var scores []float32
	if sv, ok := h.Value("tokenizer.ggml.scores"); ok {
		if scores, ok = sv.([]float32); !ok {
			return nil, fmt.Errorf("tokenizer: tokenizer.ggml.scores is %T, want a float32 array", sv)
		}
	}
	var types []int32
	if tv, ok := h.Value("tokenizer.ggml.token_type"); ok {
		if types, ok = tv.([]int32); !ok {
			return nil, fmt.Errorf("tokenizer: tokenizer.ggml.token_type is %T, want an int32 array", tv)
		}
	}
	// llama.cpp's SPM defaults: <unk> 0, <s> 1, </s> 2, BOS and space prefix on.
	bos, err1 := h.Int("tokenizer.ggml.bos_token_id", 1)
	eos, err2 := h.Int("tokenizer.ggml.eos_token_id", 2)
	unk, err3 := h.Int("tokenizer.ggml.unknown_token_id", 0)
	addBOS, err4 := h.Bool("tokenizer.ggml.add_bos_token", true)
	space, err5 := h.Bool("tokenizer.ggml.add_space_prefix", true)
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return New(tokens, scores, types, bos, eos, unk, addBOS, space)
}
