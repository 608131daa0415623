package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPlotGain(t *testing.T) {
	dir := t.TempDir()
	summary := filepath.Join(dir, "summary.json")
	if err := os.WriteFile(summary, []byte(`[
 {"prior": "none", "success_mean": 0.44, "success_ci95_low": 0.39, "success_ci95_high": 0.48},
 {"prior": "lm:a.gguf", "success_mean": 0.50, "success_ci95_low": 0.45, "success_ci95_high": 0.55},
 {"prior": "lm:b.gguf", "success_mean": 0.47, "success_ci95_low": null, "success_ci95_high": null}
]`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := runLago(t, "plot", "gain", "-summary", summary, "-x", "lm:a.gguf=0.6", "-x", "lm:b.gguf=0.2")
	if code != 0 || !strings.Contains(out, filepath.Join(dir, "gain.png")) {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"plot", "gain", "-summary", summary}, "at least one -x PRIOR=VALUE"},
		{[]string{"plot", "gain", "-summary", summary, "-x", "lm:a.gguf"}, "want PRIOR=VALUE"},
		{[]string{"plot", "gain", "-summary", summary, "-x", "lm:a.gguf=high"}, `-x "lm:a.gguf=high"`},
		{[]string{"plot", "gain", "-summary", summary, "-x", "lm:c.gguf=0.5"}, "has no row lm:c.gguf"},
		{[]string{"plot", "gain", "-summary", summary, "-baseline", "vanilla", "-x", "lm:a.gguf=0.5"}, "-baseline vanilla"},
	} {
		_, stderr, code := runLago(t, c.args...)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %q", c.args, code, stderr, c.want)
		}
	}
}
