package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 11 point 6: -resume "" (an unset shell variable) is an error, not a
// fresh default run.
func TestResumeEmptyIsAnError(t *testing.T) {
	wd, _ := os.Getwd()
	dir := t.TempDir()
	os.Chdir(dir) // a wrongly started run would write runs/ here
	defer os.Chdir(wd)
	_, stderr, code := runLago(t, "train", "-resume", "")
	if code == 0 || !strings.Contains(stderr, "-resume was given an empty directory") {
		t.Fatalf("train -resume \"\": exit %d, %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "runs")); err == nil {
		t.Fatal("train -resume \"\" made a run directory")
	}
}

// Issue 11 point 3, through the CLI: exp_name cannot escape runs/.
func TestExpNameEscapeRefused(t *testing.T) {
	wd, _ := os.Getwd()
	dir := t.TempDir()
	os.Chdir(dir)
	defer os.Chdir(wd)
	_, stderr, code := runLago(t, "train", "-set", "exp_name=../../escape", "-set", "device=cpu")
	if code == 0 || !strings.Contains(stderr, "config key exp_name:") {
		t.Fatalf("exit %d, %q", code, stderr)
	}
	if entries, _ := os.ReadDir(filepath.Dir(dir)); len(entries) > 0 {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "escape") {
				t.Fatalf("the run escaped to %s", e.Name())
			}
		}
	}
}

// Issue 11 point 12: flags after the run directory are flags.
func TestPlotFlagsAfterDir(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	os.Mkdir(run, 0o755)
	var lines strings.Builder
	for i := 1; i <= 5; i++ {
		fmt.Fprintf(&lines, `{"global_step":%d,"iteration":%d,"episodic_return":%d,"episodic_success":0.5}`+"\n", 100*i, i, i)
	}
	os.WriteFile(filepath.Join(run, "metrics.jsonl"), []byte(lines.String()), 0o644)
	out := filepath.Join(dir, "out", "curves")
	stdout, stderr, code := runLago(t, "plot", run, "-out", out, "-smooth", "2")
	if code != 0 {
		t.Fatalf("plot DIR -out X: exit %d, %s", code, stderr)
	}
	if _, err := os.Stat(out + ".png"); err != nil || !strings.Contains(stdout, out+".png") {
		t.Fatalf("plot did not write %s.png: %v, %q", out, err, stdout)
	}
	if _, stderr, code := runLago(t, "plot", "-out", out, "--", run); code != 0 {
		t.Fatalf("plot -out X -- DIR: exit %d, %s", code, stderr)
	}
}

// Issue 11 point 12: negative counts are refused, naming the flag.
func TestCountFlagsValidated(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"env", "clevr", "-steps", "-5"}, "-steps -5"},
		{[]string{"env", "-keys", "-1", "clevr"}, "-keys -1"},
		{[]string{"eval", "-config", "../../configs/cartpole.toml", "-policy", "random", "-episodes", "0"}, "-episodes 0"},
	}
	for _, c := range cases {
		_, stderr, code := runLago(t, c.args...)
		if code == 0 || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "NewVec") {
			t.Errorf("%q: exit %d, %q; want an error naming %s", c.args, code, stderr, c.want)
		}
	}
	// The name may follow the flags.
	if out, stderr, code := runLago(t, "env", "-steps", "3", "clevr"); code != 0 || out == "" {
		t.Errorf("env -steps 3 NAME: exit %d, %q %q", code, out, stderr)
	}
}
