package run

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lago-rl/lago/engine/config"
)

// Issue 11 point 7: failed prior lookups and a falling coverage warn on
// the console, naming the server and the error kind, at most every
// warnEvery; the summary gets the mean coverage.
func TestPriorWatchWarns(t *testing.T) {
	var out bytes.Buffer
	cfg := config.Default()
	cfg.Prior, cfg.OllamaHost = "ollama:tiny", "http://example.invalid:8080"
	w := newPriorWatch(cfg, nil, zerolog.New(&out))
	now := time.Unix(0, 0)
	w.now = func() time.Time { return now }

	w.observe(map[string]float64{"lago_coverage": 0.9})
	if out.Len() != 0 {
		t.Fatalf("warned of a healthy prior: %s", out.String())
	}
	w.observe(map[string]float64{"lago_coverage": 0.5, "prior_errors_http_status": 3, "prior_errors_timeout": 0})
	got := out.String()
	for _, want := range []string{"http://example.invalid:8080", "3 failed lookups", "http_status: 3", `"level":"warn"`} {
		if !strings.Contains(got, want) {
			t.Errorf("warning lacks %q: %s", want, got)
		}
	}
	if strings.Contains(got, "timeout") {
		t.Errorf("a zero count reported: %s", got)
	}
	out.Reset()
	now = now.Add(time.Second)
	w.observe(map[string]float64{"lago_coverage": 0.1, "prior_errors_http_status": 5})
	if out.Len() != 0 {
		t.Fatalf("a second warning within %v: %s", warnEvery, out.String())
	}
	now = now.Add(warnEvery)
	w.observe(map[string]float64{"lago_coverage": 0.1})
	if got := out.String(); !strings.Contains(got, "5 failed lookups") {
		t.Fatalf("errors held back by the rate limit were not reported later: %s", got)
	}
	out.Reset()
	now = now.Add(warnEvery)
	w.observe(map[string]float64{"lago_coverage": 0.1})
	if got := out.String(); !strings.Contains(got, "coverage fell to 0.10 (best 0.90)") {
		t.Fatalf("no warning of the fallen coverage: %s", got)
	}
	if c := w.coverage(); c == nil || *c != (0.9+0.5+0.1+0.1+0.1)/5 {
		t.Fatalf("mean coverage %v", c)
	}
	if c := newPriorWatch(config.Default(), nil, zerolog.Nop()).coverage(); c != nil {
		t.Fatalf("coverage without a prior: %v", *c)
	}
}
