package gguf

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"
)

// LlamaShape holds the hyperparameters of a llama-architecture model.
type LlamaShape struct {
	Layers      int // transformer blocks
	Embedding   int // hidden size
	Heads       int // attention heads
	KVHeads     int // key/value heads; fewer than Heads is grouped-query attention
	FeedForward int // SwiGLU hidden size
	Context     int // context length the model declares
}

// TinyShape is the shape of WriteTinyLlama's model: small enough to load in
// a fraction of a second and answer in milliseconds on a CPU. Its context is
// Ollama's default num_ctx without a GPU, so the server neither truncates
// lago's prompts nor warns that the context exceeds the model's; it costs
// only KV-cache memory (≈2 MB).
var TinyShape = LlamaShape{Layers: 2, Embedding: 64, Heads: 4, KVHeads: 4, FeedForward: 128, Context: 4096}

// WeightStd is the standard deviation of the random weight matrices. It is
// larger than a trained model's initialisation so that the logits spread
// over a few nats: top_logprobs then differ clearly between tokens and
// between prompts, and no near-ties make their order fragile.
const WeightStd = 0.1

// Token types of tokenizer.ggml.token_type, as llama.cpp numbers them.
const (
	TokenNormal  int32 = 1
	TokenUnknown int32 = 2
	TokenControl int32 = 3
	TokenByte    int32 = 6
)

// spaceMark is SentencePiece's visible space: "▁A" is "A" after a space.
const spaceMark = "▁"

// defaultWords are always in the tiny vocabulary, each also after a space.
// They are the labels lago's priors answer with (letters, digits) and the
// words its prompts are built from, so prompts tokenize mostly into word
// pieces rather than bytes, as they would with a real model.
var defaultWords = func() []string {
	var w []string
	for c := 'A'; c <= 'Z'; c++ {
		w = append(w, string(c))
	}
	for c := '0'; c <= '9'; c++ {
		w = append(w, string(c))
	}
	return append(w,
		// Prompt scaffolding.
		"Answer", "Question", "Action", "Actions", "Choose", "Options", "Goal", "You",
		"the", "a", "an", "is", "are", "of", "to", "in", "on", "at", "and", "or", "with",
		"you", "your", "agent", "goal", "task", "next", "action", "actions", "choose",
		"best", "which", "what", "one", "letter", "option", "options", "see", "can",
		// Objects and verbs of lago's environments.
		"ball", "box", "key", "door", "wall", "object", "room", "grid",
		"push", "pull", "pick", "up", "drop", "open", "close", "toggle", "go", "move",
		"turn", "forward", "stop", "wait", "done",
		// Colours and places.
		"red", "blue", "green", "purple", "yellow", "grey", "gray", "cyan", "orange",
		"white", "black", "left", "right", "front", "behind", "above", "below", "near", "far",
		// Punctuation.
		":", ".", ",", "?", "!", "(", ")", "-", "'", "\"", ";", "/", "=",
	)
}()

// WriteTinyLlama writes TinyShape's random-weight llama model with seed's
// weights to w. Its vocabulary holds every label in labels as a single token,
// both bare ("A") and after a space ("▁A"), besides the default words.
func WriteTinyLlama(w io.Writer, labels []string, seed uint64) error {
	f, err := NewLlama(TinyShape, labels, seed)
	if err != nil {
		return err
	}
	_, err = f.WriteTo(w)
	return err
}

// NewLlama builds a llama-architecture model of shape s with a SentencePiece
// ("llama") vocabulary: <unk>, <s>, </s>, the 256 byte tokens <0x00>…<0xFF>
// for byte fallback, then the pieces of the default words and of labels.
// Weights are F32 normal values with standard deviation WeightStd drawn
// from a generator seeded by seed and the tensor's name; norm weights are 1.
func NewLlama(s LlamaShape, labels []string, seed uint64) (*File, error) {
	if s.Layers < 1 || s.Embedding < 1 || s.Heads < 1 || s.KVHeads < 1 || s.FeedForward < 1 || s.Context < 1 {
		return nil, fmt.Errorf("gguf: invalid llama shape %+v", s)
	}
	if s.Embedding%s.Heads != 0 || s.Heads%s.KVHeads != 0 {
		return nil, fmt.Errorf("gguf: heads (%d) must divide the embedding (%d) and be a multiple of the KV heads (%d)", s.Heads, s.Embedding, s.KVHeads)
	}
	headDim := s.Embedding / s.Heads
	if headDim%2 != 0 {
		return nil, fmt.Errorf("gguf: head dimension %d must be even for rotary embeddings", headDim)
	}
	tokens, scores, types, err := vocabulary(labels)
	if err != nil {
		return nil, err
	}

	u32 := func(n int) uint32 { return uint32(n) }
	f := &File{Metadata: []KV{
		{"general.architecture", "llama"},
		{"general.name", "lago-tiny"},
		{"general.file_type", uint32(0)}, // all F32
		{"llama.context_length", u32(s.Context)},
		{"llama.embedding_length", u32(s.Embedding)},
		{"llama.block_count", u32(s.Layers)},
		{"llama.feed_forward_length", u32(s.FeedForward)},
		{"llama.attention.head_count", u32(s.Heads)},
		{"llama.attention.head_count_kv", u32(s.KVHeads)},
		{"llama.attention.layer_norm_rms_epsilon", float32(1e-5)},
		{"llama.rope.dimension_count", u32(headDim)},
		// Explicit because llama.cpp and Ollama's own engine default differently.
		{"llama.rope.freq_base", float32(10000)},
		{"llama.vocab_size", u32(len(tokens))},
		{"tokenizer.ggml.model", "llama"},
		{"tokenizer.ggml.tokens", tokens},
		{"tokenizer.ggml.scores", scores},
		{"tokenizer.ggml.token_type", types},
		{"tokenizer.ggml.unknown_token_id", uint32(0)},
		{"tokenizer.ggml.bos_token_id", uint32(1)},
		{"tokenizer.ggml.eos_token_id", uint32(2)},
		{"tokenizer.ggml.add_bos_token", true},
		{"tokenizer.ggml.add_eos_token", false},
		// A leading space makes a prompt's first word "▁Answer", not "Answer".
		{"tokenizer.ggml.add_space_prefix", true},
	}}

	vocab, e, kv := uint64(len(tokens)), uint64(s.Embedding), uint64(s.KVHeads*headDim)
	ff := uint64(s.FeedForward)
	random := func(name string, shape ...uint64) {
		f.Tensors = append(f.Tensors, Tensor{Name: name, Shape: shape, Data: normals(seed, name, shape)})
	}
	ones := func(name string) {
		data := make([]float32, e)
		for i := range data {
			data[i] = 1
		}
		f.Tensors = append(f.Tensors, Tensor{Name: name, Shape: []uint64{e}, Data: data})
	}
	random("token_embd.weight", e, vocab)
	for i := range s.Layers {
		b := fmt.Sprintf("blk.%d.", i)
		ones(b + "attn_norm.weight")
		random(b+"attn_q.weight", e, e)
		random(b+"attn_k.weight", e, kv)
		random(b+"attn_v.weight", e, kv)
		random(b+"attn_output.weight", e, e)
		ones(b + "ffn_norm.weight")
		random(b+"ffn_gate.weight", e, ff)
		random(b+"ffn_up.weight", e, ff)
		random(b+"ffn_down.weight", ff, e)
	}
	ones("output_norm.weight")
	random("output.weight", e, vocab)
	steer(f, tokens, s)
	return f, nil
}

// steer makes the random model usable as an answerer: it never ends or
// begins a sequence on its own, and it leans towards single-letter labels.
// Residual channel 0 carries a constant: every token embeds 1 there and no
// block writes to it, so after the final norm it is a positive input to the
// output layer, whose weight on it is a per-token bias. Control tokens get
// −20 (a greedy step would otherwise sometimes pick </s>, which Ollama
// returns without log-probabilities), labels A–T +3.
func steer(f *File, tokens []string, s LlamaShape) {
	e := s.Embedding
	get := func(name string) []float32 {
		for i := range f.Tensors {
			if f.Tensors[i].Name == name {
				return f.Tensors[i].Data
			}
		}
		panic("gguf: no tensor " + name)
	}
	embd := get("token_embd.weight") // token-major: [vocab][e]
	for tok := range tokens {
		embd[tok*e] = 1
	}
	for i := range s.Layers {
		b := fmt.Sprintf("blk.%d.", i)
		attnOut := get(b + "attn_output.weight") // output-major: [e][e]
		ffnDown := get(b + "ffn_down.weight")    // [e][ff]
		clear(attnOut[:e])
		clear(ffnDown[:s.FeedForward])
	}
	out := get("output.weight") // [vocab][e]
	for tok, t := range tokens {
		switch {
		case tok <= 2: // <unk>, <s>, </s>
			out[tok*e] = -20
		case len(strings.TrimPrefix(t, "▁")) == 1 && t != "▁" && strings.Contains("ABCDEFGHIJKLMNOPQRST", strings.TrimPrefix(t, "▁")):
			out[tok*e] = 3
		default:
			out[tok*e] = 0
		}
	}
}

// vocabulary lists the tokens with their scores and types.
//
// llama.cpp's SentencePiece tokenizer starts from single characters and
// repeatedly merges the adjacent pair whose concatenation is a token, so a
// word becomes one token only if a chain of such merges leads to it. Adding
// every prefix of every word ("▁", "▁b", "▁ba", "▁bal", "▁ball") makes the
// chain exist: the leftmost symbol of a word is always a prefix, and so is
// it joined to its neighbour. Characters with no token fall back to bytes.
func vocabulary(labels []string) (tokens []string, scores []float32, types []int32, err error) {
	add := func(tok string, score float32, typ int32) {
		tokens = append(tokens, tok)
		scores = append(scores, score)
		types = append(types, typ)
	}
	add("<unk>", 0, TokenUnknown)
	add("<s>", 0, TokenControl)
	add("</s>", 0, TokenControl)
	for b := range 256 {
		add(fmt.Sprintf("<0x%02X>", b), 0, TokenByte)
	}
	seen := make(map[string]bool, len(tokens))
	for _, t := range tokens {
		seen[t] = true
	}
	words := append(append([]string(nil), defaultWords...), labels...)
	for i, w := range words {
		if i >= len(defaultWords) {
			if err := checkLabel(w); err != nil {
				return nil, nil, nil, err
			}
		}
		for _, form := range []string{spaceMark + w, w} {
			// Every prefix ending at a rune boundary, the form itself last.
			for end := 1; end <= len(form); end++ {
				if end < len(form) && !utf8.RuneStart(form[end]) {
					continue
				}
				if p := form[:end]; !seen[p] {
					seen[p] = true
					// SentencePiece convention: earlier pieces are more
					// frequent, with higher (less negative) scores.
					add(p, -float32(len(tokens)), TokenNormal)
				}
			}
		}
	}
	return tokens, scores, types, nil
}

func checkLabel(l string) error {
	switch {
	case l == "":
		return errors.New("gguf: empty label")
	case !utf8.ValidString(l):
		return fmt.Errorf("gguf: label %q is not valid UTF-8", l)
	case strings.IndexFunc(l, unicode.IsSpace) >= 0 || strings.Contains(l, spaceMark):
		// Real vocabularies have no token spanning two words; a tiny
		// model that had one would let a scorer pass here and fail there.
		return fmt.Errorf("gguf: label %q spans several words", l)
	case strings.HasPrefix(l, "<") && strings.HasSuffix(l, ">"):
		// <s>, <0x41> and the like name special and byte tokens.
		return fmt.Errorf("gguf: label %q looks like a special token", l)
	}
	return nil
}

// normals returns the deterministic normal values of a tensor: a
// splitmix64 stream seeded by seed and the tensor's name, through the
// Box–Muller transform. Both are fully specified here, unlike math/rand's
// distributions, so a seed gives the same model with any Go release.
func normals(seed uint64, name string, shape []uint64) []float32 {
	n := uint64(1)
	for _, d := range shape {
		n *= d
	}
	h := fnv.New64a()
	io.WriteString(h, name)
	state := seed ^ h.Sum64()
	next := func() uint64 {
		state += 0x9e3779b97f4a7c15
		z := state
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		return z ^ z>>31
	}
	// uniform is in (0, 1], so the logarithm below is finite.
	uniform := func() float64 { return float64(next()>>11+1) / (1 << 53) }
	out := make([]float32, n)
	for i := uint64(0); i < n; i += 2 {
		r := math.Sqrt(-2*math.Log(uniform())) * WeightStd
		theta := 2 * math.Pi * uniform()
		out[i] = float32(r * math.Cos(theta))
		if i+1 < n {
			out[i+1] = float32(r * math.Sin(theta))
		}
	}
	return out
}
