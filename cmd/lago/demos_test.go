package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestDemosPipeline runs the three commands a user chains: collect,
// dataset, ceiling.
func TestDemosPipeline(t *testing.T) {
	dir := t.TempDir()
	demosDir, data := filepath.Join(dir, "demos"), filepath.Join(dir, "data")
	out, stderr, code := runLago(t, "demos", "-episodes", "3", "-epsilon", "0.2", "-out", demosDir, "-quiet")
	if code != 0 || !strings.Contains(out, "3 episodes") {
		t.Fatalf("lago demos: exit %d, %q %q", code, out, stderr)
	}
	out, stderr, code = runLago(t, "demos", "dataset", "-demos", demosDir, "-out", data, "-template", "clevr-compact-v1", "-heldout", "0.3")
	if code != 0 || !strings.Contains(out, "train 2 episodes") || !strings.Contains(out, "held out 1 episodes") {
		t.Fatalf("lago demos dataset: exit %d, %q %q", code, out, stderr)
	}
	out, stderr, code = runLago(t, "demos", "ceiling", "-data", data)
	if code != 0 || !strings.Contains(out, "text ceiling") || !strings.Contains(out, "clevr-compact-v1") {
		t.Fatalf("lago demos ceiling: exit %d, %q %q", code, out, stderr)
	}
	out, stderr, code = runLago(t, "demos", "ceiling", "-data", data, "-jitter", "3", "-quiet")
	if code != 0 || !strings.Contains(out, "jittered ceiling (3 draws per state, 2 sweeps, step 0.02, seed 1)") {
		t.Fatalf("lago demos ceiling -jitter 3: exit %d, %q %q", code, out, stderr)
	}
	// The same directory again is refused, naming it.
	_, stderr, code = runLago(t, "demos", "-episodes", "1", "-out", demosDir, "-quiet")
	if code == 0 || !strings.Contains(stderr, demosDir) || !strings.Contains(stderr, "already holds demonstrations") {
		t.Errorf("collecting into a complete directory: exit %d, %q", code, stderr)
	}
}

func TestDemosFlagErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"demos", "-episodes", "1"}, "-out DIR is required"},
		{[]string{"demos", "-epsilon", "0.1,0.2,0.3", "-out", dir}, `-epsilon "0.1,0.2,0.3": want MIN,MAX or one value`},
		{[]string{"demos", "-epsilon", "x", "-out", dir}, `-epsilon "x"`},
		{[]string{"demos", "-epsilon", "2", "-out", dir}, `-epsilon "2": want 0 ≤ MIN ≤ MAX ≤ 1`},
		{[]string{"demos", "-env", "nope", "-out", dir}, `lago demos: unknown env_id "nope"`}, // the package's prefix said once
		{[]string{"demos", "-best", "top", "-out", dir}, `best-set rule "top"; allowed: argmax, success`},
		{[]string{"demos", "datset"}, `unexpected argument "datset"`},
		{[]string{"demos", "dataset", "-demos", dir}, "-demos DIR and -out DIR are required"},
		{[]string{"demos", "dataset", "-demos", dir, "-out", filepath.Join(dir, "d")}, "manifest.json is missing"},
		{[]string{"demos", "ceiling", "-data", dir, "-jitter", "-1"}, "-jitter -1"},
		{[]string{"demos", "ceiling", "-data", dir, "-jitter-step", "0.1", "-seed", "2"}, "-jitter-step, -seed set the jittered ceiling, which only -jitter K asks for"},
		{[]string{"demos", "agreement", "-data", dir, "-model", "x.gguf"}, "-model ollama:NAME or lm:PATH.gguf are required"},
		{[]string{"demos", "agreement", "-data", dir, "-model", "lm:"}, "-model ollama:NAME or lm:PATH.gguf are required"},
	} {
		_, stderr, code := runLago(t, c.args...)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %q", c.args, code, stderr, c.want)
		}
	}
}
