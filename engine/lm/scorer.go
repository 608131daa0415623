package lm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/lm/tokenizer"
)

// TokenLogprob is one next-token alternative as Ollama's /api/generate
// reports it in top_logprobs: the token's text (token_to_piece: ▁ as a
// space, a byte token as its byte, a control token by name) and its
// log-probability under the full-vocabulary softmax.
type TokenLogprob struct {
	Token   string
	Logprob float64
}

// Scorer scores prompts in-process with a GGUF llama model: the `lm:`
// prior backend. It answers what Ollama's default runner answers for the
// same GGUF and raw prompt (BOS, SentencePiece tokens, last-position
// log-softmax), many prompts per forward pass. It is safe for concurrent
// use: concurrent Score calls are gathered into shared batches.
type Scorer struct {
	model   *Model
	vocab   *tokenizer.Vocab
	rope    *Rope
	device  torch.Device
	digest  string
	engine  string
	batch   int
	threads int
	topK    int // second-factor prompts per state, at most

	mu       sync.Mutex // one forward at a time (libtorch grad mode is per thread)
	requests chan scoreRequest
	stop     chan struct{}
	done     sync.WaitGroup
	labelIDs map[string][]int // label text → ids of the tokens that read as it
}

// Scoring engines: how the scorer's forward pass rounds. They name the
// scorer's cache keys (Digest), since their numbers differ.
const (
	// EngineF16FA emulates what Ollama v0.17.4's default (llama.cpp) runner
	// computes on CPU: queries, keys and values in f16 and its flash-
	// attention step with an f16 V accumulator (NumericsF16FA). The default:
	// closest to Ollama, slower than the others.
	EngineF16FA = "f16fa"
	// EngineF16KV rounds queries, keys and values to f16 but attends in
	// float32 (NumericsF16KV): about half EngineF32's distance from Ollama
	// at EngineF32's speed.
	EngineF16KV = "f16kv"
	// EngineF32 computes in plain float32, as training does.
	EngineF32 = "f32"
)

// engines maps each engine to its numerics.
var engines = map[string]Numerics{EngineF16FA: NumericsF16FA, EngineF16KV: NumericsF16KV, EngineF32: NumericsF32}

// ParseEngine checks a scoring engine's name; "" is EngineF16FA.
func ParseEngine(name string) (string, error) {
	if name == "" {
		return EngineF16FA, nil
	}
	if _, ok := engines[name]; ok {
		return name, nil
	}
	return "", fmt.Errorf("lm: unknown scoring engine %q; known: %s, %s, %s", name, EngineF16FA, EngineF16KV, EngineF32)
}

// ScorerOptions size the scorer.
type ScorerOptions struct {
	// Device is where the model runs, as torch.ParseDevice reads it: cpu,
	// cuda, cuda:N, or auto (CUDA when available, else CPU). Empty is
	// auto, so the zero options work on any machine (a zero torch.Device
	// would be CUDA device 0).
	Device string
	// Engine is the scoring engine: EngineF16FA (default), EngineF16KV or
	// EngineF32.
	Engine string
	// Batch is the most prompts per forward pass (default 64).
	Batch int
	// FactorTopK bounds the second-factor prompts of a factored question
	// (the prior_factor_topk key; default FactorTopK).
	FactorTopK int
	// Threads is the libtorch intra-op threads of the batcher's OS thread
	// and OpenBLAS's threads, which are process-wide (default 1: on a busy
	// machine two threads made every op wait for a descheduled thread and
	// OpenBLAS's idle threads spin; raise it on a quiet one).
	Threads int
}

// OpenScorer loads the llama GGUF at path for scoring.
func OpenScorer(path string, opt ScorerOptions) (*Scorer, error) {
	if opt.Batch < 1 {
		opt.Batch = 64
	}
	if opt.Threads < 1 {
		opt.Threads = 1
	}
	if opt.FactorTopK < 1 {
		opt.FactorTopK = FactorTopK
	}
	if opt.Device == "" {
		opt.Device = "auto"
	}
	dev, err := torch.ParseDevice(opt.Device)
	if err != nil {
		return nil, fmt.Errorf("lm: %w", err)
	}
	engine, err := ParseEngine(opt.Engine)
	if err != nil {
		return nil, err
	}
	digest, err := fileDigest(path)
	if err != nil {
		return nil, err
	}
	// Process-wide, and most of a scoring run's system time
	// (bench/results/lm-engine.md, "Scoring speed"). OpenBLAS's threads,
	// the other half of that figure, are the batcher's SetNumThreads.
	torch.KeepFreedMemory()
	im, err := Import(path, torch.Float32, dev)
	if err != nil {
		return nil, err
	}
	im.Model.Numerics = engines[engine]
	rope, err := NewRope(im.Model.Shape, im.Model.Shape.Context, torch.Float32, dev)
	if err != nil {
		im.Model.Free()
		return nil, err
	}
	s := &Scorer{model: im.Model, vocab: im.Vocab, rope: rope, device: dev, digest: digest, engine: engine, batch: opt.Batch, threads: opt.Threads, topK: opt.FactorTopK,
		requests: make(chan scoreRequest), stop: make(chan struct{}), labelIDs: map[string][]int{}}
	for id := range im.Vocab.Len() {
		if im.Vocab.Types[id] == tokenizer.TypeControl {
			continue
		}
		lab := normalizeLabel(im.Vocab.Piece(id))
		s.labelIDs[lab] = append(s.labelIDs[lab], id)
	}
	s.done.Add(1)
	go s.batcher()
	return s, nil
}

// fileDigest is "sha256:HEX" of the file, as Ollama names blobs.
func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("lm: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("lm: %s: %w", path, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// Digest names the model and this engine for cache keys: lago's own
// forward with its scoring engine ("lago-lm-f16fa", "lago-lm-f16kv",
// "lago-lm-f32"; not
// Ollama's), and the GGUF's SHA-256.
func (s *Scorer) Digest() string { return "lago-lm-" + s.engine + ":" + s.digest }

// Vocab is the model's vocabulary.
func (s *Scorer) Vocab() *tokenizer.Vocab { return s.vocab }

// Close stops the batcher and frees the model.
func (s *Scorer) Close() {
	close(s.stop)
	s.done.Wait()
	s.rope.Free()
	s.model.Free()
}

// NextLogprobs returns, for each prompt, the log-softmax over the
// vocabulary of the token after it, in batches of at most the scorer's size
// and batchTokens tokens. A prompt longer than the model's context is an
// error (Ollama would silently drop its middle).
func (s *Scorer) NextLogprobs(ctx context.Context, prompts []string) ([][]float32, error) {
	seqs := make([][]int, len(prompts))
	for i, p := range prompts {
		var err error
		if seqs[i], err = s.encode(i, p); err != nil {
			return nil, err
		}
	}
	// Similar lengths share a batch, so little is padding.
	order := make([]int, len(seqs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return len(seqs[order[a]]) < len(seqs[order[b]]) })
	out := make([][]float32, len(prompts))
	s.mu.Lock()
	defer s.mu.Unlock()
	for start := 0; start < len(order); {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := 1
		for start+n < len(order) && n < s.batch && (n+1)*len(seqs[order[start+n]]) <= batchTokens {
			n++
		}
		idx := order[start : start+n]
		start += n
		rows, err := s.forward(seqs, idx)
		if err != nil {
			return nil, err
		}
		for r, i := range idx {
			out[i] = rows[r]
		}
	}
	return out, nil
}

// forward runs one right-padded batch and returns each row's last-position
// log-probabilities.
func (s *Scorer) forward(seqs [][]int, idx []int) ([][]float32, error) {
	batch := make([][]int, len(idx))
	for r, i := range idx {
		batch[r] = seqs[i]
	}
	var rows [][]float32
	err := torch.NoGrad(func() error {
		sc := torch.NewScope()
		defer sc.Close()
		var err error
		rows, _, err = s.prefill(sc, batch)
		return err
	})
	return rows, err
}

// TopLogprobs returns each prompt's k most likely next tokens, most likely
// first, as Ollama's top_logprobs lists them (ties in id order).
func (s *Scorer) TopLogprobs(ctx context.Context, prompts []string, k int) ([][]TokenLogprob, error) {
	rows, err := s.NextLogprobs(ctx, prompts)
	if err != nil {
		return nil, err
	}
	out := make([][]TokenLogprob, len(rows))
	for i, row := range rows {
		ids := make([]int, len(row))
		for j := range ids {
			ids[j] = j
		}
		sort.SliceStable(ids, func(a, b int) bool { return row[ids[a]] > row[ids[b]] })
		for _, id := range ids[:min(k, len(ids))] {
			out[i] = append(out[i], TokenLogprob{Token: s.vocab.Piece(id), Logprob: float64(row[id])})
		}
	}
	return out, nil
}

// labels are the option labels of engine/prior's prompts.
const labels = "ABCDEFGHIJKLMNOPQRST"

// normalizeLabel is engine/prior's reading of a token as a label: spaces
// and word-start marks dropped, trailing ".):" dropped, upper case.
func normalizeLabel(tok string) string {
	tok = strings.TrimSpace(strings.ReplaceAll(tok, tokenizer.SpaceMark, " "))
	return strings.ToUpper(strings.TrimRight(tok, ".):"))
}

// labelDistribution is the distribution over the first n labels: the
// probability of every token that reads as a label, summed per label and
// renormalised. The Ollama backend sees only the top 20 tokens and floors
// the labels missing there; with the whole vocabulary at hand no floor is
// needed, so the two agree whenever every label token is in the top 20.
func (s *Scorer) labelDistribution(row []float32, n int) []float64 {
	p := make([]float64, n)
	var z float64
	for i := range n {
		for _, id := range s.labelIDs[labels[i:i+1]] {
			p[i] += math.Exp(float64(row[id]))
		}
		p[i] = math.Max(p[i], 1e-8) // KL to the prior must stay finite
		z += p[i]
	}
	for i := range p {
		p[i] /= z
	}
	return p
}

// Query is one state's question as engine/prior renders it: Prompt(k,
// chosen) is the prompt of factor k given the option chosen for factor k−1
// (prior.Question.Prompt), Factors the options of each factor (1 or 2).
type Query struct {
	Prompt  func(k int, chosen string) string
	Factors [][]string
}

// Scored is one state's answer: the joint distribution over its actions
// (first factor major) and the number of prompts it took.
type Scored struct {
	Probs []float64
	Calls int
}

// FactorTopK and FactorCoverage bound the second-factor prompts of a
// factored question as the Ollama backend does: the most likely first-factor
// options up to 95% of its mass, at most FactorTopK by default
// (ScorerOptions.FactorTopK sets it); the others get a uniform second factor.
const (
	FactorTopK     = 3
	FactorCoverage = 0.95
)

// batchTokens bounds the tokens of one forward pass (rows × longest row)
// besides the rows' count: the attention scores of a pass grow with rows ×
// tokens², and tensors past glibc's 32 MB mmap threshold are mapped and
// unmapped at every op, which page-faulted ~30% of a scoring run away in
// system time (shared/reference and bench/results/lm-engine.md).
const batchTokens = 4096

// ScoreBatch scores many states. A state's prompts share their text up to
// the question (the state's view), so each state costs one full forward
// of its first-factor prompt, whose keys and values are kept, and its
// second-factor prompts are scored as continuations of the tokens they
// share with it: only the question, options and tail after the shared
// tokens go through the model again. The answer is the same as scoring
// every prompt whole (causal attention: a position's keys and values
// depend only on the tokens up to it).
func (s *Scorer) ScoreBatch(ctx context.Context, qs []Query) ([]Scored, error) {
	tokens := make([][]int, len(qs))
	for i, q := range qs {
		if len(q.Factors) < 1 || len(q.Factors) > 2 {
			return nil, fmt.Errorf("lm: query %d has %d action factors; 1 or 2 are supported", i, len(q.Factors))
		}
		for k, f := range q.Factors {
			if len(f) < 1 || len(f) > len(labels) {
				return nil, fmt.Errorf("lm: query %d factor %d has %d options; 1 to %d are supported", i, k, len(f), len(labels))
			}
		}
		var err error
		if tokens[i], err = s.encode(i, q.Prompt(0, "")); err != nil {
			return nil, err
		}
	}
	// Similar lengths share a batch, so little is padding.
	order := make([]int, len(qs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return len(tokens[order[a]]) < len(tokens[order[b]]) })
	out := make([]Scored, len(qs))
	s.mu.Lock()
	defer s.mu.Unlock()
	for start := 0; start < len(order); {
		n := 1
		for start+n < len(order) && n < s.batch && (n+1)*len(tokens[order[start+n]]) <= batchTokens {
			n++
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := s.scoreStates(qs, tokens, order[start:start+n], out); err != nil {
			return nil, err
		}
		start += n
	}
	return out, nil
}

// encode tokenizes prompt i, refusing one longer than the context.
func (s *Scorer) encode(i int, prompt string) ([]int, error) {
	t := s.vocab.Encode(prompt)
	if len(t) > s.model.Shape.Context {
		return nil, fmt.Errorf("lm: prompt %d is %d tokens, more than the model's context of %d", i, len(t), s.model.Shape.Context)
	}
	return t, nil
}

// continuation is a second-factor prompt scored after its state's first:
// the first prompt's batch row, the option it follows, and its tokens,
// of which the first shared are the first prompt's.
type continuation struct {
	row, opt int
	tokens   []int
	shared   int
}

// scoreStates scores the states idx (one batch) into out.
func (s *Scorer) scoreStates(qs []Query, tokens [][]int, idx []int, out []Scored) error {
	return torch.NoGrad(func() error {
		sc := torch.NewScope()
		defer sc.Close()
		seqs := make([][]int, len(idx))
		for r, i := range idx {
			seqs[r] = tokens[i]
		}
		rows, cache, err := s.prefill(sc, seqs)
		if err != nil {
			return err
		}
		var conts []continuation
		firsts := make([][]float64, len(idx))
		for r, i := range idx {
			q := qs[i]
			first := s.labelDistribution(rows[r], len(q.Factors[0]))
			firsts[r] = first
			out[i].Calls = 1
			if len(q.Factors) == 1 {
				out[i].Probs = first
				continue
			}
			inner := len(q.Factors[1])
			joint := make([]float64, len(first)*inner)
			for a, p := range first {
				for b := range inner {
					joint[a*inner+b] = p / float64(inner)
				}
			}
			out[i].Probs = joint
			for _, a := range topIndices(first, s.topK, FactorCoverage) {
				t, err := s.encode(i, q.Prompt(1, q.Factors[0][a]))
				if err != nil {
					return err
				}
				// At least the last token is new: its position is the one scored.
				shared := min(commonPrefix(seqs[r], t), len(t)-1)
				conts = append(conts, continuation{row: r, opt: a, tokens: t, shared: shared})
				out[i].Calls++
			}
		}
		sort.SliceStable(conts, func(a, b int) bool {
			return len(conts[a].tokens)-conts[a].shared < len(conts[b].tokens)-conts[b].shared
		})
		for start := 0; start < len(conts); {
			n := 1
			for start+n < len(conts) && n < 3*s.batch && (n+1)*(len(conts[start+n].tokens)-conts[start+n].shared) <= batchTokens {
				n++
			}
			part := conts[start : start+n]
			rows2, err := s.continueRows(cache, part)
			if err != nil {
				return err
			}
			for j, c := range part {
				i := idx[c.row]
				inner := len(qs[i].Factors[1])
				for b, p := range s.labelDistribution(rows2[j], inner) {
					out[i].Probs[c.opt*inner+b] = firsts[c.row][c.opt] * p
				}
			}
			start += n
		}
		return nil
	})
}

// commonPrefix is the number of leading tokens a and b share.
func commonPrefix(a, b []int) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// prefill runs seqs as one right-padded batch and returns each row's
// last-position log-probabilities and every block's keys and values
// [rows, Hkv, longest, D], which live as long as sc.
func (s *Scorer) prefill(sc *torch.Scope, seqs [][]int) ([][]float32, []KV, error) {
	var T int
	for _, q := range seqs {
		T = max(T, len(q))
	}
	B := len(seqs)
	ids := make([]int64, B*T)
	pad := make([]bool, B*T)
	last := make([]int64, B)
	for r, q := range seqs {
		for j, id := range q {
			ids[r*T+j] = int64(id)
		}
		for j := len(q); j < T; j++ {
			pad[r*T+j] = true
		}
		last[r] = int64(r*T + len(q) - 1)
	}
	x := torch.FromSliceIn(sc, ids, []int64{int64(B), int64(T)}, s.device)
	h, kv := s.model.HiddenCached(sc, x, Mask(sc, int64(B), int64(T), pad, s.device), nil, s.rope, nil)
	rows, err := s.lastLogprobs(sc, h, last)
	return rows, kv, err
}

// continueRows scores continuations of prefill's rows: each row is the
// tokens after its shared ones, at their positions, attending to the
// shared tokens' cached keys and values and causally to its own.
func (s *Scorer) continueRows(cache []KV, conts []continuation) ([][]float32, error) {
	sc := torch.NewScope()
	defer sc.Close()
	var S, P int
	for _, c := range conts {
		S = max(S, len(c.tokens)-c.shared)
		P = max(P, c.shared)
	}
	R := len(conts)
	ids := make([]int64, R*S)
	pos := make([]int64, R*S)
	rows := make([]int64, R)
	last := make([]int64, R)
	mask := make([]bool, R*S*(P+S)) // [row, query, key]: true where forbidden
	for r, c := range conts {
		n := len(c.tokens) - c.shared
		rows[r] = int64(c.row)
		last[r] = int64(r*S + n - 1)
		for j := range S {
			pos[r*S+j] = int64(c.shared) // padding sits anywhere valid
			if j < n {
				ids[r*S+j] = int64(c.tokens[c.shared+j])
				pos[r*S+j] = int64(c.shared + j)
			}
			m := mask[(r*S+j)*(P+S):][:P+S]
			for k := c.shared; k < P; k++ {
				m[k] = true // another row's longer shared part
			}
			for k := range S {
				m[P+k] = k > j || k >= n
			}
		}
	}
	var past []KV
	if P > 0 {
		sel := torch.FromSliceIn(sc, rows, []int64{int64(R)}, s.device)
		past = make([]KV, len(cache))
		for i, kv := range cache {
			past[i] = KV{K: sc.Narrow(sc.IndexSelect(kv.K, 0, sel), 2, 0, int64(P)), V: sc.Narrow(sc.IndexSelect(kv.V, 0, sel), 2, 0, int64(P))}
		}
	}
	x := torch.FromSliceIn(sc, ids, []int64{int64(R), int64(S)}, s.device)
	p := torch.FromSliceIn(sc, pos, []int64{int64(R), int64(S)}, s.device)
	m := sc.View(torch.FromSliceIn(sc, mask, []int64{int64(R), int64(S), int64(P + S)}, s.device), int64(R), 1, 1, int64(S), int64(P+S))
	h, _ := s.model.HiddenCached(sc, x, m, p, s.rope, past)
	return s.lastLogprobs(sc, h, last)
}

// lastLogprobs returns the log-softmax over the vocabulary at the flat
// positions last of hidden states h [B, T, dim].
func (s *Scorer) lastLogprobs(sc *torch.Scope, h *torch.Tensor, last []int64) ([][]float32, error) {
	if err := sc.Err(); err != nil {
		return nil, err
	}
	sh := h.Shape()
	h = sc.IndexSelect(sc.View(h, sh[0]*sh[1], sh[2]), 0, torch.FromSliceIn(sc, last, []int64{int64(len(last))}, s.device))
	lp := sc.LogSoftmax(s.model.Logits(sc, h), -1)
	if s.device.IsCUDA() {
		lp = sc.To(lp, torch.CPU, torch.Float32)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	V := s.model.Shape.Vocab
	flat := make([]float32, len(last)*V)
	if err := torch.CopyTo(lp, flat); err != nil {
		return nil, err
	}
	rows := make([][]float32, len(last))
	for r := range rows {
		rows[r] = flat[r*V : (r+1)*V]
	}
	return rows, nil
}

// topIndices returns the indices of the largest entries of p whose mass
// reaches coverage, at most k of them (largest first; ties by index).
func topIndices(p []float64, k int, coverage float64) []int {
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return p[idx[a]] > p[idx[b]] })
	var out []int
	var mass float64
	for _, i := range idx {
		if len(out) == k || mass >= coverage {
			break
		}
		out = append(out, i)
		mass += p[i]
	}
	return out
}

type scoreRequest struct {
	ctx   context.Context
	q     Query
	reply chan scoreReply
}

type scoreReply struct {
	res Scored
	err error
}

var errClosed = errors.New("lm: scorer closed")

// Score scores one state, shaped like engine/prior's Scorer.Score: calls
// from concurrent goroutines (the prior service's workers) are gathered
// into one ScoreBatch, so a service with many workers gets batched forwards.
func (s *Scorer) Score(ctx context.Context, q Query) (Scored, error) {
	req := scoreRequest{ctx: ctx, q: q, reply: make(chan scoreReply, 1)}
	select {
	case s.requests <- req:
	case <-s.stop:
		return Scored{}, errClosed
	case <-ctx.Done():
		return Scored{}, ctx.Err()
	}
	select {
	case r := <-req.reply:
		return r.res, r.err
	case <-ctx.Done():
		return Scored{}, ctx.Err()
	}
}

// batcher takes a waiting request, gathers every other one already waiting
// (up to the batch size), and scores them together.
func (s *Scorer) batcher() {
	defer s.done.Done()
	// One OS thread for every batch: OpenMP's thread team and settings are
	// per OS thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	threadErr := torch.SetNumThreads(s.threads)
	for {
		var reqs []scoreRequest
		select {
		case r := <-s.requests:
			reqs = append(reqs, r)
		case <-s.stop:
			return
		}
	gather:
		for len(reqs) < s.batch {
			select {
			case r := <-s.requests:
				reqs = append(reqs, r)
			default:
				break gather
			}
		}
		var live []scoreRequest
		qs := make([]Query, 0, len(reqs))
		for _, r := range reqs {
			if r.ctx.Err() != nil {
				r.reply <- scoreReply{err: r.ctx.Err()}
				continue
			}
			live = append(live, r)
			qs = append(qs, r.q)
		}
		if len(live) == 0 {
			continue
		}
		res, err := s.ScoreBatch(context.Background(), qs)
		if threadErr != nil {
			err = threadErr
		}
		for i, r := range live {
			if err != nil {
				r.reply <- scoreReply{err: err}
			} else {
				r.reply <- scoreReply{res: res[i]}
			}
		}
	}
}
