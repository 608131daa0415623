package prior

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lago-rl/lago/engine/config"
	"github.com/ollama/ollama/api"
)

// OllamaConfig configures the Ollama scorer. Every field is explicit: the
// config keys' defaults (engine/config) are the one source of default
// values, and OllamaConfigFrom carries them over.
type OllamaConfig struct {
	// Host is the ollama_host key: host:port or a URL; empty means
	// $OLLAMA_HOST (see ResolveHost).
	Host  string
	Model string
	// Timeout bounds each request.
	Timeout time.Duration
	// Seed makes answers repeatable (with temperature 0 they are anyway).
	Seed int
	// FactorTopK bounds the calls for factored actions: the second factor is
	// asked for at most this many options of the first (those holding most
	// of its mass); the rest get a uniform second factor. Calls per state ≤ 1+K.
	FactorTopK int
	// FallbackSamples is k of the structured-output fallback for servers or
	// models without log-probabilities.
	FallbackSamples int
	// NewEngine is the ollama_new_engine key: whether the server runs with
	// OLLAMA_NEW_ENGINE=1. It names the engine in the cache keys (see
	// Ollama.Digest); the API does not report it.
	NewEngine bool
}

// OllamaConfigFrom is the scorer's configuration for model under cfg.
func OllamaConfigFrom(cfg config.Config, model string) OllamaConfig {
	return OllamaConfig{
		Host: cfg.OllamaHost, Model: model, Seed: int(cfg.Seed),
		Timeout:         time.Duration(cfg.OllamaTimeout * float64(time.Second)),
		FactorTopK:      cfg.PriorFactorTopK,
		FallbackSamples: cfg.PriorFallbackSamples,
		NewEngine:       cfg.OllamaNewEngine,
	}
}

func (c OllamaConfig) check() error {
	switch {
	case c.Timeout <= 0:
		return fmt.Errorf("config key ollama_timeout: %v is not positive", c.Timeout)
	case c.FactorTopK < 1:
		return fmt.Errorf("config key prior_factor_topk: %d < 1", c.FactorTopK)
	case c.FallbackSamples < 1:
		return fmt.Errorf("config key prior_fallback_samples: %d < 1", c.FallbackSamples)
	}
	return nil
}

// maxResponseBytes bounds what is read of one response: a label answer is
// a few hundred bytes, so a megabyte means something is wrong.
const maxResponseBytes = 1 << 20

// Ollama scores questions with a model served by Ollama.
type Ollama struct {
	cfg    OllamaConfig
	host   *url.URL
	client *api.Client
	digest string
	// version is the server's (GET /api/version), part of the cache keys.
	version string
	mode    Mode // ModeLogprobs, or ModeSampled where the probe found no log-probabilities
}

// ErrKind classifies scoring failures for the metrics.
type ErrKind string

// The kinds of failure the service counts.
const (
	ErrUnreachable ErrKind = "unreachable"
	ErrTimeout     ErrKind = "timeout"
	ErrStatus      ErrKind = "http_status"
	ErrMalformed   ErrKind = "malformed"
	ErrTooLarge    ErrKind = "too_large"
	ErrNoLogprobs  ErrKind = "no_logprobs"
	ErrNoLabels    ErrKind = "labels_missing"
)

// ScoreError is a failed request with its kind.
type ScoreError struct {
	Kind ErrKind
	Err  error
}

func (e *ScoreError) Error() string {
	msg := e.Err.Error()
	if len(msg) > 300 { // a malformed answer can be long; a log line should not be
		msg = msg[:300] + "…"
	}
	return string(e.Kind) + ": " + msg
}
func (e *ScoreError) Unwrap() error { return e.Err }

var errTooLarge = errors.New("response larger than the configured bound")

// limitedBody fails a read once more than n bytes came, and says so in
// tripped: the API client turns a cut-off line into a JSON error, so the
// cause must travel beside it.
type limitedBody struct {
	r       io.ReadCloser
	n       int64
	tripped *atomic.Bool
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if l.n <= 0 {
		if l.tripped != nil {
			l.tripped.Store(true)
		}
		return 0, errTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	k, err := l.r.Read(p)
	l.n -= int64(k)
	return k, err
}

func (l *limitedBody) Close() error { return l.r.Close() }

// boundedTransport talks to one host only and bounds every response body.
type boundedTransport struct {
	host  string
	max   int64
	inner http.RoundTripper
}

func (t boundedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != t.host {
		return nil, fmt.Errorf("prior: refusing to contact %s: only the configured Ollama host %s is allowed", req.URL.Host, t.host)
	}
	resp, err := t.inner.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	tripped, _ := req.Context().Value(trippedKey{}).(*atomic.Bool)
	resp.Body = &limitedBody{r: resp.Body, n: t.max, tripped: tripped}
	return resp, nil
}

// trippedKey carries a request's *atomic.Bool that limitedBody sets.
type trippedKey struct{}

// NewOllama connects to the server, checks the model and probes whether it
// returns log-probabilities. Errors say which config key to change.
func NewOllama(ctx context.Context, cfg OllamaConfig) (*Ollama, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	host, err := ResolveHost(cfg.Host)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{
		Transport: boundedTransport{host: host.Host, max: maxResponseBytes, inner: &http.Transport{
			Proxy:               nil, // never route through a proxy: the host is local
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 64,
		}},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("prior: Ollama redirected; refusing to follow")
		},
	}
	o := &Ollama{cfg: cfg, host: host, client: api.NewClient(host, hc)}

	vctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if o.version, err = o.checkServer(vctx, hc); err != nil {
		return nil, err
	}
	list, err := o.client.List(vctx)
	if err != nil {
		return nil, fmt.Errorf("prior: listing the models of Ollama at %s: %w", host.Host, err)
	}
	for _, m := range list.Models {
		if m.Name == cfg.Model || m.Model == cfg.Model || m.Name == cfg.Model+":latest" {
			o.digest = m.Digest
		}
	}
	if o.digest == "" {
		return nil, fmt.Errorf("config key prior: model %q is not on the Ollama server at %s (prior = \"ollama:%s\"); get it with `ollama pull %s`", cfg.Model, host.Host, cfg.Model, cfg.Model)
	}
	o.mode, err = o.probe(ctx)
	if err != nil {
		return nil, fmt.Errorf("prior: probing model %q on %s: %w", cfg.Model, host.Host, err)
	}
	return o, nil
}

// Digest names what answers a question, for the cache keys: the model's
// digest, the server's version and its engine. Two engines of one server
// (llama.cpp's runner and Ollama's own, OLLAMA_NEW_ENGINE=1) were measured
// to give different log-probabilities for the same GGUF (up to 0.63 nats
// from their tokenizers alone; shared/reference/llama-gguf-parity.md), and
// versions change kernels, so neither may share another's entries. The
// engine is the ollama_new_engine key: Ollama's API reports neither the
// setting nor the runner a model was loaded with (/api/show and /api/ps have
// no such field), and with the setting and the model (its architecture is
// in the digest) the server's choice is fixed.
func (o *Ollama) Digest() string {
	engine := "OLLAMA_NEW_ENGINE=0"
	if o.cfg.NewEngine {
		engine = "OLLAMA_NEW_ENGINE=1"
	}
	return fmt.Sprintf("ollama/%s/%s:%s", o.version, engine, o.digest)
}

// ModelDigest is the model's digest as the server lists it.
func (o *Ollama) ModelDigest() string { return o.digest }

// ServerVersion is what the server answered GET /api/version with.
func (o *Ollama) ServerVersion() string { return o.version }

// Mode is how the model is scored: log-probabilities, or sampling.
func (o *Ollama) Mode() Mode { return o.mode }

// checkServer asks /api/version and tells apart a server that cannot be
// reached (is Ollama running?) from one that answers, but not as Ollama
// does (an HTML page, an error status): the fix differs, so the message does.
func (o *Ollama) checkServer(ctx context.Context, hc *http.Client) (string, error) {
	where := fmt.Sprintf("Ollama at %s (config key ollama_host, or $OLLAMA_HOST)", o.host.Host)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.host.JoinPath("/api/version").String(), nil)
	if err != nil {
		return "", fmt.Errorf("prior: %s: %w", where, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("prior: cannot reach %s: %v; is it running? start it with `ollama serve`", where, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	ctype := resp.Header.Get("Content-Type")
	if ctype == "" {
		ctype = "no content type"
	}
	excerpt := strings.Join(strings.Fields(string(body)), " ")
	if len(excerpt) > 120 {
		excerpt = excerpt[:120] + "…"
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("prior: %s is reachable but answered GET /api/version with HTTP %d (%s): %q; the server there is failing or is not Ollama",
			where, resp.StatusCode, ctype, excerpt)
	}
	var v struct {
		Version *string `json:"version"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.Version == nil {
		return "", fmt.Errorf("prior: %s is reachable but answered GET /api/version with HTTP 200 (%s) that is not Ollama's JSON: %q; is ollama_host pointing at another service?",
			where, ctype, excerpt)
	}
	return *v.Version, nil
}

// probe asks for one token with log-probabilities: support is detected by
// the answer, not by the version string (a source build reports 0.0.0). An
// answer with text but no log-probabilities means the server ignores them;
// an empty answer (the model ended the sequence, which Ollama returns without
// log-probabilities) says nothing, so the next probe prompt is tried. If
// none tells, log-probabilities are assumed and each question falls back on
// its own when they are missing.
func (o *Ollama) probe(ctx context.Context) (Mode, error) {
	for _, prompt := range []string{"Answer: A\nAnswer:", "Options:\nA. yes\nB. no\nAnswer:", "The letter after A is"} {
		resp, err := o.generate(ctx, prompt, nil, o.cfg.Seed)
		if err != nil {
			return 0, err
		}
		if len(resp.Logprobs) > 0 && len(resp.Logprobs[0].TopLogprobs) > 0 {
			return ModeLogprobs, nil
		}
		if resp.Response != "" {
			return ModeSampled, nil
		}
	}
	return ModeLogprobs, nil
}

func (o *Ollama) generate(ctx context.Context, prompt string, format json.RawMessage, seed int) (*api.GenerateResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
	defer cancel()
	tooLarge := new(atomic.Bool)
	ctx = context.WithValue(ctx, trippedKey{}, tooLarge)
	stream := false
	req := &api.GenerateRequest{
		Model:  o.cfg.Model,
		Prompt: prompt,
		Raw:    true, // the prompt is complete: no chat template around it
		Stream: &stream,
		Options: map[string]any{
			"temperature": 0, "num_predict": 1, "seed": seed,
		},
		Logprobs:    format == nil,
		TopLogprobs: maxOptions,
	}
	if format != nil {
		req.Format = format
		req.Options["temperature"] = 1
		// Room for {"answer": "X"} even where a model spells it in byte tokens.
		req.Options["num_predict"] = 48
	}
	var out *api.GenerateResponse
	err := o.client.Generate(ctx, req, func(r api.GenerateResponse) error {
		if out == nil {
			out = &r
		} else {
			out.Response += r.Response
			out.Logprobs = append(out.Logprobs, r.Logprobs...)
		}
		return nil
	})
	if tooLarge.Load() {
		return nil, &ScoreError{ErrTooLarge, fmt.Errorf("response over %d bytes", maxResponseBytes)}
	}
	if err != nil {
		return nil, classify(ctx, err)
	}
	if out == nil {
		return nil, &ScoreError{ErrMalformed, errors.New("empty response")}
	}
	return out, nil
}

func classify(ctx context.Context, err error) error {
	var se api.StatusError
	switch {
	case errors.Is(err, errTooLarge) || strings.Contains(err.Error(), "token too long"):
		return &ScoreError{ErrTooLarge, err}
	case errors.As(err, &se): // the server answered, even if the deadline passed since
		return &ScoreError{ErrStatus, err}
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return &ScoreError{ErrTimeout, err}
	case errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || isNetError(err):
		return &ScoreError{ErrUnreachable, err}
	}
	return &ScoreError{ErrMalformed, err}
}

func isNetError(err error) bool {
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ne) || errors.As(err, &oe)
}

// Result is one scored state.
type Result struct {
	Entry Entry
	Calls int       // requests made
	Soft  []ErrKind // problems that were worked around (fallback or uniform)
}

// Score returns the model's distribution over q's joint actions.
func (o *Ollama) Score(ctx context.Context, q Question) (Result, error) {
	var res Result
	ask := func(k int, chosen string) ([]float64, Mode, error) {
		res.Calls++
		p, m, err := o.factor(ctx, q, k, chosen)
		var soft *softError
		if errors.As(err, &soft) {
			res.Soft = append(res.Soft, soft.kind)
			err = nil
		}
		return p, m, err
	}
	first, mode, err := ask(0, "")
	if err != nil {
		return res, err
	}
	if len(q.Factors) == 1 {
		res.Entry = Entry{Probs: toFloat32(first), Mode: mode}
		return res, nil
	}
	inner := len(q.Factors[1])
	joint := make([]float64, len(first)*inner)
	uniform := 1 / float64(inner)
	for i, p := range first {
		for j := 0; j < inner; j++ {
			joint[i*inner+j] = p * uniform
		}
	}
	for _, i := range topIndices(first, o.cfg.FactorTopK, 0.95) {
		second, m2, err := ask(1, q.Factors[0][i])
		if err != nil {
			return res, err
		}
		if m2 > mode {
			mode = m2 // report the weakest way any part was scored
		}
		for j, p := range second {
			joint[i*inner+j] = first[i] * p
		}
	}
	res.Entry = Entry{Probs: toFloat32(joint), Mode: mode}
	return res, nil
}

// factor scores one question, by log-probabilities, falling back to sampling
// (or, failing that, uniform with an error kind) where they are unusable.
func (o *Ollama) factor(ctx context.Context, q Question, k int, chosen string) ([]float64, Mode, error) {
	return o.labels(ctx, q.Prompt(k, chosen), len(q.Factors[k]))
}

// ScoreLabels is the model's distribution over the first n labels after
// prompt, scored as one factor of Score is: the prompt → label
// distribution that held-out agreement (engine/demos) measures. A problem
// worked around (fallback, uniform) is not an error here.
func (o *Ollama) ScoreLabels(ctx context.Context, prompt string, n int) ([]float64, error) {
	if n < 1 || n > maxOptions {
		return nil, fmt.Errorf("prior: %d labels; one question offers 1 to %d", n, maxOptions)
	}
	p, _, err := o.labels(ctx, prompt, n)
	var soft *softError
	if errors.As(err, &soft) {
		err = nil
	}
	return p, err
}

// labels scores one prompt over n labels.
func (o *Ollama) labels(ctx context.Context, prompt string, n int) ([]float64, Mode, error) {
	if o.mode == ModeLogprobs {
		resp, err := o.generate(ctx, prompt, nil, o.cfg.Seed)
		if err != nil {
			return nil, 0, err
		}
		if len(resp.Logprobs) == 0 || len(resp.Logprobs[0].TopLogprobs) == 0 {
			return o.fallback(ctx, prompt, n, ErrNoLogprobs)
		}
		top := make([]TokenProb, 0, len(resp.Logprobs[0].TopLogprobs))
		for _, t := range resp.Logprobs[0].TopLogprobs {
			top = append(top, TokenProb{t.Token, t.Logprob})
		}
		if probs, found := labelDistribution(top, n); found > 0 {
			return probs, ModeLogprobs, nil
		}
		return o.fallback(ctx, prompt, n, ErrNoLabels)
	}
	return o.sample(ctx, prompt, n)
}

// fallback samples where log-probabilities failed, else answers uniform.
// Either way the answer comes with a softError, so the failure is counted.
func (o *Ollama) fallback(ctx context.Context, prompt string, n int, why ErrKind) ([]float64, Mode, error) {
	probs, mode, err := o.sample(ctx, prompt, n)
	if err != nil {
		return uniform(n), ModeUniform, &softError{why}
	}
	return probs, mode, &softError{why}
}

// softError is a scoring problem that still produced an answer (the
// fallback's); the service counts it by kind and keeps the answer.
type softError struct{ kind ErrKind }

func (e *softError) Error() string { return string(e.kind) }

// sample asks k times for a JSON answer restricted to the labels and counts
// the answers, with half a count of floor for each label.
func (o *Ollama) sample(ctx context.Context, prompt string, n int) ([]float64, Mode, error) {
	enum := make([]string, n)
	for i := range enum {
		enum[i] = Labels[i : i+1]
	}
	schema, _ := json.Marshal(map[string]any{
		"type":       "object",
		"properties": map[string]any{"answer": map[string]any{"type": "string", "enum": enum}},
		"required":   []string{"answer"},
	})
	counts := make([]float64, n)
	got := 0
	for s := 0; s < o.cfg.FallbackSamples; s++ {
		resp, err := o.generate(ctx, prompt, schema, o.cfg.Seed+1+s) // distinct, repeatable samples
		if err != nil {
			return nil, 0, err
		}
		var ans struct{ Answer string }
		if json.Unmarshal([]byte(resp.Response), &ans) != nil {
			continue
		}
		if i := strings.Index(Labels[:n], strings.ToUpper(strings.TrimSpace(ans.Answer))); len(ans.Answer) == 1 && i >= 0 {
			counts[i]++
			got++
		}
	}
	if got == 0 {
		return nil, 0, &ScoreError{ErrNoLabels, errors.New("no sampled answer named an option")}
	}
	for i := range counts {
		counts[i] += 0.5
	}
	return normalize(counts), ModeSampled, nil
}

func uniform(n int) []float64 {
	p := make([]float64, n)
	for i := range p {
		p[i] = 1 / float64(n)
	}
	return p
}

func toFloat32(p []float64) []float32 {
	out := make([]float32, len(p))
	for i, x := range p {
		out[i] = float32(math.Max(x, 1e-12))
	}
	return out
}
