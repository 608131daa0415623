package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStage1Flags(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("episodes = 3\n[train]\nstepz = 5\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"stage1"}, "-config X.toml and -out DIR are required"},
		{[]string{"stage1", "-config", bad}, "-config X.toml and -out DIR are required"},
		{[]string{"stage1", "-config", filepath.Join(dir, "none.toml"), "-out", dir}, "none.toml: no such file"},
		{[]string{"stage1", "-config", bad, "-out", dir}, "config key train.stepz: unknown key"},
		{[]string{"stage1", "-out", dir, "extra"}, `unexpected argument "extra"`},
	} {
		_, stderr, code := runLago(t, c.args...)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, %q; want %q", c.args, code, stderr, c.want)
		}
	}
	stdout, _, code := runLago(t, "stage1", "-list")
	if code != 0 || !strings.Contains(stdout, "train.steps") || !strings.Contains(stdout, "episodes") || strings.Contains(stdout, "train.data ") {
		t.Errorf("stage1 -list: exit %d\n%s", code, stdout)
	}
}
