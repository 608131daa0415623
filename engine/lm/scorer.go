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
	batch   int
	threads int
	topK    int // second-factor prompts per state, at most

	mu       sync.Mutex // one forward at a time (libtorch grad mode is per thread)
	requests chan scoreRequest
	stop     chan struct{}
	done     sync.WaitGroup
	labelIDs map[string][]int // label text → ids of the tokens that read as it
}

// ScorerOptions size the scorer.
type ScorerOptions struct {
	Device torch.Device
	// Batch is the most prompts per forward pass (default 64).
	Batch int
	// FactorTopK bounds the second-factor prompts of a factored question
	// (the prior_factor_topk key; default FactorTopK).
	FactorTopK int
	// Threads is the libtorch intra-op threads of the batcher's OS thread
	// (default 1: on a busy machine two OpenMP threads made every op wait
	// for a descheduled thread; raise it on a quiet one).
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
	digest, err := fileDigest(path)
	if err != nil {
		return nil, err
	}
	im, err := Import(path, torch.Float32, opt.Device)
	if err != nil {
		return nil, err
	}
	rope, err := NewRope(im.Model.Shape, im.Model.Shape.Context, torch.Float32, opt.Device)
	if err != nil {
		im.Model.Free()
		return nil, err
	}
	s := &Scorer{model: im.Model, vocab: im.Vocab, rope: rope, device: opt.Device, digest: digest, batch: opt.Batch, threads: opt.Threads, topK: opt.FactorTopK,
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

// Digest names the model and this engine for cache keys: the GGUF's
// SHA-256 and "lago-lm-f32" (lago's own float32 forward, not Ollama's).
func (s *Scorer) Digest() string { return "lago-lm-f32:" + s.digest }

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
// vocabulary of the token after it, in batches of the scorer's size. A
// prompt longer than the model's context is an error (Ollama would
// silently drop its middle).
func (s *Scorer) NextLogprobs(ctx context.Context, prompts []string) ([][]float32, error) {
	seqs := make([][]int, len(prompts))
	for i, p := range prompts {
		seqs[i] = s.vocab.Encode(p)
		if len(seqs[i]) > s.model.Shape.Context {
			return nil, fmt.Errorf("lm: prompt %d is %d tokens, more than the model's context of %d", i, len(seqs[i]), s.model.Shape.Context)
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
	for start := 0; start < len(order); start += s.batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		idx := order[start:min(start+s.batch, len(order))]
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
	var T int
	for _, i := range idx {
		T = max(T, len(seqs[i]))
	}
	B := len(idx)
	ids := make([]int64, B*T)
	pad := make([]bool, B*T)
	last := make([]int64, B)
	for r, i := range idx {
		for j, id := range seqs[i] {
			ids[r*T+j] = int64(id)
		}
		for j := len(seqs[i]); j < T; j++ {
			pad[r*T+j] = true
		}
		last[r] = int64(r*T + len(seqs[i]) - 1)
	}
	V := s.model.Shape.Vocab
	flat := make([]float32, B*V)
	err := torch.NoGrad(func() error {
		sc := torch.NewScope()
		defer sc.Close()
		x := torch.FromSliceIn(sc, ids, []int64{int64(B), int64(T)}, s.device)
		h := s.model.Hidden(sc, x, Mask(sc, int64(B), int64(T), pad, s.device), s.rope)
		h = sc.IndexSelect(sc.View(h, int64(B*T), int64(s.model.Shape.Dim)), 0, torch.FromSliceIn(sc, last, []int64{int64(B)}, s.device))
		lp := sc.LogSoftmax(s.model.Logits(sc, h), -1)
		if s.device.IsCUDA() {
			lp = sc.To(lp, torch.CPU, torch.Float32)
		}
		if err := sc.Err(); err != nil {
			return err
		}
		return torch.CopyTo(lp, flat)
	})
	if err != nil {
		return nil, err
	}
	rows := make([][]float32, B)
	for r := range rows {
		rows[r] = flat[r*V : (r+1)*V]
	}
	return rows, nil
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

// ScoreBatch scores many states: all first-factor prompts in one batched
// pass, then all second-factor prompts in another.
func (s *Scorer) ScoreBatch(ctx context.Context, qs []Query) ([]Scored, error) {
	out := make([]Scored, len(qs))
	prompts := make([]string, len(qs))
	for i, q := range qs {
		if len(q.Factors) < 1 || len(q.Factors) > 2 {
			return nil, fmt.Errorf("lm: query %d has %d action factors; 1 or 2 are supported", i, len(q.Factors))
		}
		for k, f := range q.Factors {
			if len(f) < 1 || len(f) > len(labels) {
				return nil, fmt.Errorf("lm: query %d factor %d has %d options; 1 to %d are supported", i, k, len(f), len(labels))
			}
		}
		prompts[i] = q.Prompt(0, "")
	}
	rows, err := s.NextLogprobs(ctx, prompts)
	if err != nil {
		return nil, err
	}
	type second struct{ q, opt int }
	var seconds []second
	var prompts2 []string
	firsts := make([][]float64, len(qs))
	for i, q := range qs {
		first := s.labelDistribution(rows[i], len(q.Factors[0]))
		firsts[i] = first
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
			seconds = append(seconds, second{i, a})
			prompts2 = append(prompts2, q.Prompt(1, q.Factors[0][a]))
			out[i].Calls++
		}
	}
	if len(prompts2) == 0 {
		return out, nil
	}
	rows2, err := s.NextLogprobs(ctx, prompts2)
	if err != nil {
		return nil, err
	}
	for j, sc := range seconds {
		q := qs[sc.q]
		inner := len(q.Factors[1])
		p2 := s.labelDistribution(rows2[j], inner)
		for b, p := range p2 {
			out[sc.q].Probs[sc.opt*inner+b] = firsts[sc.q][sc.opt] * p
		}
	}
	return out, nil
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
