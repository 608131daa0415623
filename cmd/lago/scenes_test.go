package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestDemosScenes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "corpus")
	out, stderr, code := runLago(t, "demos", "scenes", "-n", "5", "-heldout", "1", "-seed", "9", "-out", dir, "-quiet")
	if code != 0 || !strings.Contains(out, "5 scenes (1 held out), template clevr-rel-v1; 24 train pairs, 6 held-out pairs") {
		t.Fatalf("lago demos scenes: exit %d, %q %q", code, out, stderr)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"demos", "scenes", "-n", "5", "-heldout", "1", "-out", dir}, "already holds a corpus"},
		{[]string{"demos", "scenes", "-n", "5"}, "-out DIR is required"},
		{[]string{"demos", "scenes", "-n", "5", "-env", "CartPole-v1", "-out", filepath.Join(dir, "x")}, `env "CartPole-v1"; want CLEVR-Robot-v0`},
		{[]string{"demos", "scenes", "-n", "5", "-heldout", "5", "-out", filepath.Join(dir, "x")}, "5 held-out scenes of 5"},
		{[]string{"demos", "scenes", "-template", "clevr-v1", "-out", filepath.Join(dir, "x")}, "has no view of its own"},
	} {
		_, stderr, code := runLago(t, c.args...)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %q", c.args, code, stderr, c.want)
		}
	}
}
