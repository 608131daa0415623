package prior

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lago-rl/lago/engine/config"
)

func clevrQuestion(text string) Question {
	return Question{
		Text:     text,
		Factors:  [][]string{{"red", "blue", "green", "purple", "cyan"}, {"left", "right", "front", "behind", "front left", "front right", "behind left", "behind right"}},
		Template: TemplateFor("CLEVR-Robot-v0"),
	}
}

// testOllamaConfig is the default config's scorer settings for a test server.
func testOllamaConfig(host, model string, timeout time.Duration) OllamaConfig {
	c := OllamaConfigFrom(config.Default(), model)
	c.Host, c.Timeout = host, timeout
	return c
}

func newTestOllama(t *testing.T, f *fakeOllama) *Ollama {
	t.Helper()
	o, err := NewOllama(context.Background(), testOllamaConfig(f.addr, "tiny", 2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestLabelDistribution(t *testing.T) {
	cases := []struct {
		name  string
		top   []TokenProb
		n     int
		want  []float64
		found int
	}{
		{"spaces, marks and case fold into labels", []TokenProb{{" B", math.Log(0.5)}, {"▁A", math.Log(0.2)}, {"b", math.Log(0.2)}, {"C.", math.Log(0.1)}}, 3,
			[]float64{0.2, 0.7, 0.1}, 3},
		{"absent labels share the unlisted mass, capped by the least listed", []TokenProb{{" A", math.Log(0.6)}, {" the", math.Log(0.1)}}, 3,
			[]float64{0.6 / 0.8, 0.1 / 0.8, 0.1 / 0.8}, 1},
		{"labels beyond n are ignored", []TokenProb{{" A", math.Log(0.5)}, {" D", math.Log(0.5)}}, 2,
			[]float64{0.5 / (0.5 + 1e-8), 1e-8 / (0.5 + 1e-8)}, 1},
		{"no label at all", []TokenProb{{" the", math.Log(0.9)}}, 4, nil, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, found := labelDistribution(c.top, c.n)
			if found != c.found || len(got) != len(c.want) {
				t.Fatalf("got %v (found %d), want %v (found %d)", got, found, c.want, c.found)
			}
			for i := range got {
				if math.Abs(got[i]-c.want[i]) > 1e-9 {
					t.Fatalf("got %v, want %v", got, c.want)
				}
			}
		})
	}
}

func TestPromptEndsAtTheLabel(t *testing.T) {
	q := clevrQuestion("red ball at (0.1, 0.2). Instruction: push the red ball left of the blue ball.")
	p0 := q.Prompt(0, "")
	p1 := q.Prompt(1, "green")
	for _, want := range []string{q.Text, "A. red", "E. cyan", "Which ball"} {
		if !strings.Contains(p0, want) {
			t.Errorf("prompt lacks %q:\n%s", want, p0)
		}
	}
	if !strings.Contains(p1, "pushes the green ball") || !strings.Contains(p1, "H. behind right") {
		t.Errorf("second-factor prompt:\n%s", p1)
	}
	if !strings.HasSuffix(p0, "Answer:") || !strings.HasSuffix(p1, "Answer:") {
		t.Error("prompts must end where the label is the next token")
	}
}

func TestScoreFactorised(t *testing.T) {
	f := newFakeOllama(t)
	o := newTestOllama(t, f)
	if o.Mode() != ModeLogprobs || o.Digest() != "ollama/0.17.4/OLLAMA_NEW_ENGINE=0:sha256:feedface" {
		t.Fatalf("mode %v digest %q", o.Mode(), o.Digest())
	}
	before := f.requests.Load()
	res, err := o.Score(context.Background(), clevrQuestion("scene"))
	if err != nil {
		t.Fatal(err)
	}
	if made := f.requests.Load() - before; made != int64(res.Calls) || res.Calls > 3 {
		t.Fatalf("%d requests, %d reported; the bound is 1 + factor_topk = 3", made, res.Calls)
	}
	p := res.Entry.Probs
	if len(p) != 40 {
		t.Fatalf("%d probabilities, want 40", len(p))
	}
	sum, best := 0.0, 0
	for i, x := range p {
		sum += float64(x)
		if x > p[best] {
			best = i
		}
	}
	if math.Abs(sum-1) > 1e-5 {
		t.Fatalf("probabilities sum to %v", sum)
	}
	// The fake favours the last option of each question: cyan (4), behind right (7).
	if best != 4*8+7 {
		t.Fatalf("argmax %d, want cyan/behind right (39)", best)
	}
}

func TestNewOllamaErrorsSayWhatToDo(t *testing.T) {
	// A port with nothing listening: grab one and close it.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	down := ln.Addr().String()
	ln.Close()
	_, err := NewOllama(context.Background(), testOllamaConfig(down, "tiny", time.Second))
	for _, want := range []string{down, "ollama_host", "ollama serve"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("server down: %v; want it to mention %q", err, want)
		}
	}
	f := newFakeOllama(t)
	_, err = NewOllama(context.Background(), testOllamaConfig(f.addr, "llama3.2:1b", time.Second))
	for _, want := range []string{`"llama3.2:1b"`, "ollama pull llama3.2:1b"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("model missing: %v; want it to mention %q", err, want)
		}
	}
}

func TestFallbackWithoutLogprobs(t *testing.T) {
	f := newFakeOllama(t)
	f.setFault("nologprobs")
	o := newTestOllama(t, f)
	if o.Mode() != ModeSampled {
		t.Fatalf("probe found mode %v on a server without logprobs", o.Mode())
	}
	res, err := o.Score(context.Background(), Question{Text: "s", Factors: [][]string{{"a", "b", "c"}}, Template: Generic})
	if err != nil {
		t.Fatal(err)
	}
	p := res.Entry.Probs
	if res.Entry.Mode != ModeSampled || !(p[2] > p[0] && p[2] > p[1]) {
		t.Fatalf("sampled fallback: %v %v", res.Entry.Mode, p)
	}
}

func TestScoringFaults(t *testing.T) {
	cases := []struct {
		fault string
		kind  ErrKind
		soft  bool // worked around, with an answer
	}{
		{"slow", ErrTimeout, false},
		{"500", ErrStatus, false},
		{"reset", ErrUnreachable, false},
		{"malformed", ErrMalformed, false},
		{"huge", ErrTooLarge, false},
		{"nolabels", ErrNoLabels, true},
	}
	for _, c := range cases {
		t.Run(c.fault, func(t *testing.T) {
			f := newFakeOllama(t)
			o, err := NewOllama(context.Background(), testOllamaConfig(f.addr, "tiny", time.Second))
			if err != nil {
				t.Fatal(err)
			}
			f.setFault(c.fault)
			res, err := o.Score(context.Background(), Question{Text: "s", Factors: [][]string{{"a", "b"}}, Template: Generic})
			if c.soft {
				if err != nil || len(res.Soft) == 0 || res.Soft[0] != c.kind {
					t.Fatalf("got %v, soft %v; want an answer with soft error %s", err, res.Soft, c.kind)
				}
				return
			}
			var se *ScoreError
			if !errors.As(err, &se) || se.Kind != c.kind {
				t.Fatalf("got %v, want a %s error", err, c.kind)
			}
		})
	}
}

func TestOnlyTheConfiguredHost(t *testing.T) {
	tr := boundedTransport{host: "127.0.0.1:11434", max: 1 << 20, inner: http.DefaultTransport}
	req, _ := http.NewRequest("GET", "http://192.0.2.1:80/api/version", nil)
	if _, err := tr.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "only the configured Ollama host") {
		t.Fatalf("request to another host: %v", err)
	}
}

// TestStartupSaysWhatTheServerAnswered: a reachable server that answers an
// error status or an HTML page gets a message naming the status, the
// content type and the host, not "is it running?" (issue 11, point 7).
func TestStartupSaysWhatTheServerAnswered(t *testing.T) {
	cases := []struct {
		name   string
		status int
		ctype  string
		body   string
		want   []string
	}{
		{"500", 500, "text/plain", "model runner crashed", []string{"HTTP 500", "text/plain", "model runner crashed"}},
		{"html 404", 404, "text/html; charset=utf-8", "<html><body>Not Found</body></html>", []string{"HTTP 404", "text/html", "not Ollama"}},
		{"html 200", 200, "text/html", "<!doctype html><title>router login</title>", []string{"HTTP 200", "text/html", "not Ollama's JSON", "another service"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", c.ctype)
				w.WriteHeader(c.status)
				fmt.Fprint(w, c.body)
			}))
			defer srv.Close()
			host := strings.TrimPrefix(srv.URL, "http://")
			_, err := NewOllama(context.Background(), testOllamaConfig(host, "tiny", time.Second))
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range append(c.want, host, "ollama_host") {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%v\nwant it to mention %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "is it running") {
				t.Errorf("%v\nasks whether a server that answered is running", err)
			}
		})
	}
}
