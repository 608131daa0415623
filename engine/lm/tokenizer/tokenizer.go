// Package tokenizer is llama.cpp's SentencePiece ("llama") tokenizer over a
// GGUF vocabulary, as the default Ollama runner (v0.17.4) applies it, and a
// builder of such vocabularies for the models lago trains.
//
// Encode, for a prompt sent with add_special = parse_special = true:
//  1. BOS first when the vocabulary asks for it (tokenizer.ggml.add_bos_token).
//  2. Special tokens — types CONTROL, USER_DEFINED and UNKNOWN — are cut out
//     of the text first, matched literally, longest token first.
//  3. Each remaining text fragment gets one leading space when
//     add_space_prefix is set and it is the first fragment or follows a
//     special token; every ' ' then becomes '▁' (U+2581).
//  4. The fragment is split into UTF-8 characters, and the adjacent pair
//     whose joined text is a token is merged, highest score first and the
//     leftmost on a tie, until no pair is a token.
//  5. A symbol that is not a token becomes one <0xXX> byte token per byte
//     (<unk> only when the vocabulary has no byte tokens).
//
// Ollama's newer engine (OLLAMA_NEW_ENGINE=1) tokenizes differently (no
// space prefix, <unk> is not special); lago follows the default runner.
package tokenizer

import (
	"container/heap"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Token types of tokenizer.ggml.token_type, as llama.cpp numbers them.
const (
	TypeNormal      int32 = 1
	TypeUnknown     int32 = 2
	TypeControl     int32 = 3
	TypeUserDefined int32 = 4
	TypeUnused      int32 = 5
	TypeByte        int32 = 6
)

// SpaceMark is SentencePiece's visible space.
const SpaceMark = "▁"

// Vocab is a SentencePiece vocabulary with llama.cpp's special-token settings.
type Vocab struct {
	Tokens []string
	Scores []float32
	Types  []int32
	// BOS, EOS and UNK are token ids; -1 when the vocabulary has none.
	BOS, EOS, UNK  int
	AddBOS         bool
	AddSpacePrefix bool

	ids      map[string]int
	bytes    [256]int // id of <0xXX>, -1 when absent
	specials []int    // special token ids, longest text first
}

// New checks a vocabulary's tables and indexes it for Encode.
func New(tokens []string, scores []float32, types []int32, bos, eos, unk int, addBOS, addSpacePrefix bool) (*Vocab, error) {
	if len(tokens) == 0 {
		return nil, errors.New("tokenizer: empty vocabulary")
	}
	if scores == nil {
		scores = make([]float32, len(tokens))
	}
	if types == nil {
		types = make([]int32, len(tokens))
		for i := range types {
			types[i] = TypeNormal
		}
	}
	if len(scores) != len(tokens) || len(types) != len(tokens) {
		return nil, fmt.Errorf("tokenizer: %d tokens, %d scores, %d types", len(tokens), len(scores), len(types))
	}
	for _, id := range []struct {
		name string
		v    int
	}{{"bos", bos}, {"eos", eos}, {"unknown", unk}} {
		if id.v < -1 || id.v >= len(tokens) {
			return nil, fmt.Errorf("tokenizer: %s token id %d outside the vocabulary of %d", id.name, id.v, len(tokens))
		}
	}
	v := &Vocab{Tokens: tokens, Scores: scores, Types: types, BOS: bos, EOS: eos, UNK: unk, AddBOS: addBOS, AddSpacePrefix: addSpacePrefix}
	v.ids = make(map[string]int, len(tokens))
	for i := range v.bytes {
		v.bytes[i] = -1
	}
	for i, t := range tokens {
		// The first of duplicate texts wins, as in llama.cpp's token_to_id.
		if _, ok := v.ids[t]; !ok {
			v.ids[t] = i
		}
		switch types[i] {
		case TypeByte:
			var b int
			if _, err := fmt.Sscanf(t, "<0x%02X>", &b); err == nil && len(t) == 6 {
				v.bytes[b] = i
			}
		case TypeControl, TypeUserDefined, TypeUnknown:
			if t != "" {
				v.specials = append(v.specials, i)
			}
		}
	}
	sort.SliceStable(v.specials, func(a, b int) bool { return len(tokens[v.specials[a]]) > len(tokens[v.specials[b]]) })
	return v, nil
}

// ID is the id of a token's text, if the vocabulary has it.
func (v *Vocab) ID(text string) (int, bool) {
	id, ok := v.ids[text]
	return id, ok
}

// Len is the vocabulary size.
func (v *Vocab) Len() int { return len(v.Tokens) }

// fragment is a piece of the input: raw text, or a special token (id ≥ 0).
type fragment struct {
	text string
	id   int
}

// Encode tokenizes text as the default Ollama runner does (BOS included
// when the vocabulary adds it).
func (v *Vocab) Encode(text string) []int {
	var out []int
	if v.AddBOS && v.BOS >= 0 {
		out = append(out, v.BOS)
	}
	frags := []fragment{{text: text, id: -1}}
	for _, sid := range v.specials {
		st := v.Tokens[sid]
		var next []fragment
		for _, f := range frags {
			if f.id >= 0 {
				next = append(next, f)
				continue
			}
			rest := f.text
			for {
				i := strings.Index(rest, st)
				if i < 0 {
					break
				}
				if i > 0 {
					next = append(next, fragment{text: rest[:i], id: -1})
				}
				next = append(next, fragment{id: sid})
				rest = rest[i+len(st):]
			}
			if rest != "" {
				next = append(next, fragment{text: rest, id: -1})
			}
		}
		frags = next
	}
	prevSpecial := true
	for _, f := range frags {
		if f.id >= 0 {
			out = append(out, f.id)
			prevSpecial = true
			continue
		}
		t := f.text
		if v.AddSpacePrefix && prevSpecial {
			t = " " + t
		}
		out = v.encodeText(strings.ReplaceAll(t, " ", SpaceMark), out)
		prevSpecial = false
	}
	return out
}

// utf8Len is llama.cpp's unicode_len_utf8: the length a lead byte announces
// (1 for continuation bytes), so invalid UTF-8 splits as it does there.
func utf8Len(b byte) int {
	return [16]int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4}[b>>4]
}

type symbol struct {
	start, n   int // byte span in the text; n = 0 once merged away
	prev, next int
}

type bigram struct {
	left, right int
	score       float32
	size        int
}

type bigrams []bigram

func (q bigrams) Len() int { return len(q) }
func (q bigrams) Less(i, j int) bool {
	if q[i].score != q[j].score {
		return q[i].score > q[j].score
	}
	return q[i].left < q[j].left
}
func (q bigrams) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *bigrams) Push(x any)   { *q = append(*q, x.(bigram)) }
func (q *bigrams) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// encodeText is llm_tokenizer_spm_session::tokenize on escaped text.
func (v *Vocab) encodeText(text string, out []int) []int {
	var syms []symbol
	for i := 0; i < len(text); {
		n := min(utf8Len(text[i]), len(text)-i)
		syms = append(syms, symbol{start: i, n: n, prev: len(syms) - 1, next: len(syms) + 1})
		i += n
	}
	if len(syms) == 0 {
		return out
	}
	syms[len(syms)-1].next = -1
	q := &bigrams{}
	try := func(l, r int) {
		if l < 0 || r < 0 {
			return
		}
		s := text[syms[l].start : syms[r].start+syms[r].n]
		if id, ok := v.ids[s]; ok {
			heap.Push(q, bigram{left: l, right: r, score: v.Scores[id], size: len(s)})
		}
	}
	for i := 1; i < len(syms); i++ {
		try(i-1, i)
	}
	for q.Len() > 0 {
		b := heap.Pop(q).(bigram)
		l, r := &syms[b.left], &syms[b.right]
		// Skip pairs one of whose symbols has changed since they were queued.
		if l.n == 0 || r.n == 0 || l.n+r.n != b.size {
			continue
		}
		l.n += r.n
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = b.left
		}
		try(l.prev, b.left)
		try(b.left, l.next)
	}
	for i := 0; i >= 0; i = syms[i].next {
		s := text[syms[i].start : syms[i].start+syms[i].n]
		if id, ok := v.ids[s]; ok {
			out = append(out, id)
			continue
		}
		for j := 0; j < len(s); j++ {
			if id := v.bytes[s[j]]; id >= 0 {
				out = append(out, id)
			} else if v.UNK >= 0 {
				out = append(out, v.UNK)
			}
		}
	}
	return out
}

// Piece is a token's text as Ollama returns it in logprobs: ▁ as a space, a
// byte token as its byte, a control token by name.
func (v *Vocab) Piece(id int) string {
	if id < 0 || id >= len(v.Tokens) {
		return ""
	}
	if v.Types[id] == TypeByte {
		var b int
		if _, err := fmt.Sscanf(v.Tokens[id], "<0x%02X>", &b); err == nil {
			return string([]byte{byte(b)})
		}
	}
	return strings.ReplaceAll(v.Tokens[id], SpaceMark, " ")
}
