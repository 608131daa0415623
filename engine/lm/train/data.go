package train

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"sync"

	"github.com/lago-rl/lago/engine/lm/tokenizer"
)

// Pair is one training example: the model reads Prompt and is taught to
// continue it with Answer (the loss is on the answer's tokens only).
type Pair struct {
	Prompt string `json:"prompt"`
	Answer string `json:"answer"`
}

// LoadPairs reads a JSON-lines file of pairs; blank lines are skipped, and
// errors name the line.
func LoadPairs(path string) ([]Pair, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	defer f.Close()
	var out []Pair
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var p Pair
		dec := json.NewDecoder(strings.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("train: %s line %d: %w", path, line, err)
		}
		if p.Prompt == "" || p.Answer == "" {
			return nil, fmt.Errorf("train: %s line %d: prompt and answer must both be non-empty", path, line)
		}
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("train: %s: %w", path, err)
	}
	if len(out) < 2 {
		return nil, fmt.Errorf("train: %s holds %d pairs; training needs at least 2 (one held out)", path, len(out))
	}
	return out, nil
}

// LoadPrompts reads the prompts of a JSON-lines file of pairs (answers may
// be empty here).
func LoadPrompts(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	defer f.Close()
	var out []string
	dec := json.NewDecoder(bufio.NewReader(f))
	for line := 1; dec.More(); line++ {
		var p Pair
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("train: %s record %d: %w", path, line, err)
		}
		if p.Prompt == "" {
			return nil, fmt.Errorf("train: %s record %d: empty prompt", path, line)
		}
		out = append(out, p.Prompt)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("train: %s holds no prompts", path)
	}
	return out, nil
}

// Split shuffles the pairs by seed and holds out a fraction (at least one).
func Split(pairs []Pair, fraction float64, seed uint64) (trainSet, heldout []Pair) {
	idx := rand.New(rand.NewPCG(seed, 0x73706c6974)).Perm(len(pairs)) // "split"
	n := max(1, int(float64(len(pairs))*fraction+0.5))
	n = min(n, len(pairs)-1)
	for i, j := range idx {
		if i < n {
			heldout = append(heldout, pairs[j])
		} else {
			trainSet = append(trainSet, pairs[j])
		}
	}
	return trainSet, heldout
}

// Texts lists the prompts and answers, for tokenizer.Build.
func Texts(pairs []Pair) []string {
	out := make([]string, 0, 2*len(pairs))
	for _, p := range pairs {
		out = append(out, p.Prompt, p.Answer)
	}
	return out
}

// Sequence is a tokenized pair: Tokens = prompt (with BOS) then answer, and
// the answer starts at Tokens[AnswerStart].
type Sequence struct {
	Tokens      []int64
	AnswerStart int
}

// EncodeAnswer is the answer's tokens as a continuation of the prompt: no
// BOS and no space prefix (a leading space in the answer is its ▁).
func EncodeAnswer(v *tokenizer.Vocab, answer string) []int {
	cont := *v
	cont.AddBOS, cont.AddSpacePrefix = false, false
	return cont.Encode(answer)
}

// Encode tokenizes pairs; a pair longer than context is an error naming it
// (the first such pair in data order). The pairs are split into one
// contiguous range per core: tokenizing ~1M CLEVR prompts is minutes on
// one core, and the vocabulary is only read.
func Encode(v *tokenizer.Vocab, pairs []Pair, context int) ([]Sequence, error) {
	out := make([]Sequence, len(pairs))
	workers := max(1, min(runtime.GOMAXPROCS(0), len(pairs)/encodeChunk))
	per := (len(pairs) + workers - 1) / workers
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*per, min(len(pairs), (w+1)*per)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = encodeRange(v, pairs, out, lo, hi, context)
		}()
	}
	wg.Wait()
	// Ranges are in data order and each stops at its first bad pair, so the
	// first error here is the first bad pair of the data.
	if err := firstErr(errs); err != nil {
		return nil, err
	}
	return out, nil
}

// encodeChunk is the fewest pairs worth a goroutine of their own.
const encodeChunk = 4096

func firstErr(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// encodeRange tokenizes pairs[lo:hi] into out[lo:hi].
func encodeRange(v *tokenizer.Vocab, pairs []Pair, out []Sequence, lo, hi, context int) error {
	for i := lo; i < hi; i++ {
		p := pairs[i]
		prompt := v.Encode(p.Prompt)
		answer := EncodeAnswer(v, p.Answer)
		if len(answer) == 0 {
			return fmt.Errorf("train: pair %d: the answer %q has no tokens", i, p.Answer)
		}
		n := len(prompt) + len(answer)
		if n > context {
			return fmt.Errorf("train: pair %d (%q) is %d tokens, more than context = %d", i, p.Prompt, n, context)
		}
		seq := Sequence{Tokens: make([]int64, 0, n), AnswerStart: len(prompt)}
		for _, id := range prompt {
			seq.Tokens = append(seq.Tokens, int64(id))
		}
		for _, id := range answer {
			seq.Tokens = append(seq.Tokens, int64(id))
		}
		out[i] = seq
	}
	return nil
}

// LetterAfter is the synthetic task of the learning test: a list of
// distinct letters and a query letter of the list (not its last); the
// answer is the letter that follows it. Answering needs attention over the
// prompt: find the query in the list and copy its successor. The n pairs
// are distinct, so a held-out pair was never seen in training.
//
//	{"prompt": "list: C F A D. after F", "answer": " A"}
func LetterAfter(n, listLen, alphabet int, seed uint64) ([]Pair, error) {
	if alphabet > 26 || listLen < 2 || listLen > alphabet {
		return nil, errors.New("train: LetterAfter needs 2 ≤ listLen ≤ alphabet ≤ 26")
	}
	distinct := float64(listLen - 1)
	for i := range listLen {
		distinct *= float64(alphabet - i)
	}
	if float64(n) > distinct {
		return nil, fmt.Errorf("train: LetterAfter: %d pairs asked, but only %.0f distinct ones exist", n, distinct)
	}
	r := rand.New(rand.NewPCG(seed, 0x6c6574746572)) // "letter"
	out := make([]Pair, 0, n)
	seen := make(map[string]bool, n)
	for len(out) < n {
		perm := r.Perm(alphabet)[:listLen]
		letters := make([]string, listLen)
		for j, k := range perm {
			letters[j] = string(rune('A' + k))
		}
		q := r.IntN(listLen - 1)
		p := Pair{
			Prompt: "list: " + strings.Join(letters, " ") + ". after " + letters[q],
			Answer: " " + letters[q+1],
		}
		if !seen[p.Prompt] {
			seen[p.Prompt] = true
			out = append(out, p)
		}
	}
	return out, nil
}
