package train

import (
	"bufio"
	"bytes"
	"cmp"
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

// decodePair is one line of a pairs file: a JSON object with exactly the
// keys prompt and answer, both non-empty.
func decodePair(line []byte) (Pair, error) {
	var p Pair
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, err
	}
	if p.Prompt == "" || p.Answer == "" {
		return p, errors.New("prompt and answer must both be non-empty")
	}
	return p, nil
}

// scanPairs calls fn with each non-blank line of a JSON-lines file and its
// number (from 1), in order, until fn returns false.
func scanPairs(path string, fn func(num int, line []byte) bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for num := 1; sc.Scan(); num++ {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 && !fn(num, line) {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("train: %s: %w", path, err)
	}
	return nil
}

// addTexts adds the prompts and answers of a pairs file to a vocabulary,
// reading the file once without holding its texts.
func addTexts(b *tokenizer.Builder, path string) error {
	var bad error
	err := scanPairs(path, func(num int, line []byte) bool {
		p, err := decodePair(line)
		if err != nil {
			bad = fmt.Errorf("train: %s line %d: %w", path, num, err)
			return false
		}
		b.Add(p.Prompt)
		b.Add(p.Answer)
		return true
	})
	return cmp.Or(err, bad)
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

// splitIndex shuffles n items by seed and holds out a fraction of them
// (at least one, never all): the indices of each side, in shuffled order.
func splitIndex(n int, fraction float64, seed uint64) (trainIdx, heldIdx []int) {
	idx := rand.New(rand.NewPCG(seed, 0x73706c6974)).Perm(n) // "split"
	k := max(1, int(float64(n)*fraction+0.5))
	k = min(k, n-1)
	return idx[k:], idx[:k]
}

// EncodeAnswer is the answer's tokens as a continuation of the prompt: no
// BOS and no space prefix (a leading space in the answer is its ▁).
func EncodeAnswer(v *tokenizer.Vocab, answer string) []int {
	cont := *v
	cont.AddBOS, cont.AddSpacePrefix = false, false
	return cont.Encode(answer)
}

// Corpus is tokenized pairs packed for training: every token of every pair
// in one int32 buffer. Each rank of a data-parallel run holds the whole
// corpus (its batches are drawn from all of it): 1.18M CLEVR pairs train
// the 431k model in ~1.1 GB resident per rank, where the pairs' text and a
// []int64 per pair took 3.8 GB.
type Corpus struct {
	tokens []int32
	ends   []int   // pair i's tokens are tokens[ends[i-1]:ends[i]] (from 0 for i = 0)
	answer []int32 // where pair i's answer starts within its tokens
}

// Len is the number of pairs.
func (c *Corpus) Len() int { return len(c.ends) }

// Seq is pair i's tokens, the prompt (with BOS) then the answer, and the
// index of the answer's first token in them.
func (c *Corpus) Seq(i int) (tokens []int32, answerStart int) {
	lo := 0
	if i > 0 {
		lo = c.ends[i-1]
	}
	return c.tokens[lo:c.ends[i]], int(c.answer[i])
}

// add appends a pair: its prompt's tokens, then its answer's.
func (c *Corpus) add(v *tokenizer.Vocab, p Pair, context int) error {
	prompt := v.Encode(p.Prompt)
	answer := EncodeAnswer(v, p.Answer)
	if len(answer) == 0 {
		return fmt.Errorf("the answer %q has no tokens", p.Answer)
	}
	if n := len(prompt) + len(answer); n > context {
		return fmt.Errorf("the pair (%q) is %d tokens, more than context = %d", p.Prompt, n, context)
	}
	for _, id := range prompt {
		c.tokens = append(c.tokens, int32(id))
	}
	for _, id := range answer {
		c.tokens = append(c.tokens, int32(id))
	}
	c.ends = append(c.ends, len(c.tokens))
	c.answer = append(c.answer, int32(len(prompt)))
	return nil
}

// extend appends every pair of o.
func (c *Corpus) extend(o *Corpus) {
	base := len(c.tokens)
	c.tokens = append(c.tokens, o.tokens...)
	for _, e := range o.ends {
		c.ends = append(c.ends, base+e)
	}
	c.answer = append(c.answer, o.answer...)
}

// Select is a corpus of the pairs idx, in idx's order.
func (c *Corpus) Select(idx []int) *Corpus {
	n := 0
	for _, i := range idx {
		toks, _ := c.Seq(i)
		n += len(toks)
	}
	out := &Corpus{tokens: make([]int32, 0, n), ends: make([]int, 0, len(idx)), answer: make([]int32, 0, len(idx))}
	for _, i := range idx {
		toks, a := c.Seq(i)
		out.tokens = append(out.tokens, toks...)
		out.ends = append(out.ends, len(out.tokens))
		out.answer = append(out.answer, int32(a))
	}
	return out
}

// ReadCorpus reads and tokenizes a JSON-lines file of pairs; blank lines
// are skipped, and an error names the file and the first bad line.
// Tokenizing ~1M CLEVR prompts is minutes on one core, so chunks of
// chunkLines lines are decoded and tokenized on every core while the file
// is read, and joined in file order; the text of a chunk is dropped once
// it is tokenized.
func ReadCorpus(path string, v *tokenizer.Vocab, context int) (*Corpus, error) {
	type chunk struct {
		lines [][]byte
		nums  []int
		done  chan chunkResult // buffered: a worker never waits on the collector
	}
	workers := max(1, runtime.GOMAXPROCS(0))
	work := make(chan *chunk)             // to the workers
	order := make(chan *chunk, 2*workers) // to the collector, in file order
	stop := make(chan struct{})           // closed at the first bad line
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ch := range work {
				var r chunkResult
				for k, line := range ch.lines {
					p, err := decodePair(line)
					if err == nil {
						err = r.c.add(v, p, context)
					}
					if err != nil {
						r.err = fmt.Errorf("train: %s line %d: %w", path, ch.nums[k], err)
						break
					}
				}
				ch.done <- r
			}
		}()
	}
	var readErr error
	go func() {
		// A chunk goes to a worker before the collector waits on it, so
		// every chunk the collector sees is tokenized even after a stop.
		defer close(order)
		defer close(work)
		ch := &chunk{done: make(chan chunkResult, 1)}
		send := func() bool {
			select {
			case work <- ch:
			case <-stop:
				return false
			}
			select {
			case order <- ch:
			case <-stop:
				return false
			}
			ch = &chunk{done: make(chan chunkResult, 1)}
			return true
		}
		readErr = scanPairs(path, func(num int, line []byte) bool {
			ch.lines = append(ch.lines, bytes.Clone(line))
			ch.nums = append(ch.nums, num)
			return len(ch.lines) < chunkLines || send()
		})
		if len(ch.lines) > 0 {
			send()
		}
	}()
	out := &Corpus{}
	var bad error
	for ch := range order {
		r := <-ch.done
		if bad == nil && r.err != nil {
			bad = r.err
			close(stop)
		}
		if bad == nil {
			out.extend(&r.c)
		}
	}
	wg.Wait()
	if err := cmp.Or(bad, readErr); err != nil { // bad first: the reader may have stopped because of it
		return nil, err
	}
	if out.Len() == 0 {
		return nil, fmt.Errorf("train: %s holds no pairs", path)
	}
	return out, nil
}

type chunkResult struct {
	c   Corpus
	err error
}

// chunkLines is the lines a ReadCorpus worker takes at a time.
const chunkLines = 4096

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
