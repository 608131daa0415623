package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func runLago(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = dispatch(args, &out, &errb)
	return out.String(), errb.String(), code
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ name, toml, want string }{
		{"typo", "gama = 0.9\n", `unknown key "gama" (did you mean "gamma"?)`},
		{"type", "num_envs = \"four\"\n", `key "num_envs"`},
		{"range", "gamma = 1.5\n", `key "gamma" = 1.5 is out of range [0, 1]`},
		{"enum", "device = \"gpu\"\n", `must be one of cpu, cuda, auto`},
	}
	for _, c := range cases {
		path := filepath.Join(dir, c.name+".toml")
		if err := os.WriteFile(path, []byte(c.toml), 0o644); err != nil {
			t.Fatal(err)
		}
		_, stderr, code := runLago(t, "train", "-config", path, "-out", filepath.Join(dir, c.name))
		if code == 0 || !strings.Contains(stderr, c.want) || !strings.Contains(stderr, path) {
			t.Errorf("%s: exit %d, stderr %q; want it to name %s and the file", c.name, code, stderr, c.want)
		}
	}
	_, stderr, code := runLago(t, "train", "-set", "lerning_rate=1")
	if code == 0 || !strings.Contains(stderr, `did you mean "learning_rate"`) {
		t.Errorf("-set typo: exit %d, %q", code, stderr)
	}
}

func TestVersion(t *testing.T) {
	out, _, code := runLago(t, "version")
	for _, want := range []string{"lago", "libtorch", "device"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("lago version: exit %d, %q lacks %q", code, out, want)
		}
	}
}

func TestEvalBuiltinPolicies(t *testing.T) {
	out, stderr, code := runLago(t, "eval", "-config", "../../configs/cartpole.toml", "-policy", "expert", "-episodes", "10", "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct {
		Episodes    int     `json:"episodes"`
		MeanReturn  float64 `json:"mean_return"`
		SuccessRate float64 `json:"success_rate"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	if res.Episodes != 10 || res.MeanReturn < 475 {
		t.Fatalf("expert on CartPole: %+v", res)
	}
	out, _, code = runLago(t, "eval", "-config", "../../configs/cartpole.toml", "-policy", "random", "-episodes", "10", "-json")
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.MeanReturn > 100 {
		t.Fatalf("random on CartPole: exit %d, %q", code, out)
	}
}

// phrasing = heldout is for evaluation: lago train refuses it, naming the
// key and the eval command; lago eval runs with it.
func TestHeldOutPhrasingIsEvalOnly(t *testing.T) {
	dir := t.TempDir()
	_, stderr, code := runLago(t, "train", "-config", "../../configs/clevr.toml", "-set", "phrasing=heldout", "-set", "device=cpu", "-out", filepath.Join(dir, "run"))
	if code == 0 || !strings.Contains(stderr, "config key phrasing") || !strings.Contains(stderr, "lago eval -set phrasing=heldout") {
		t.Fatalf("train with phrasing=heldout: exit %d, stderr %q", code, stderr)
	}
	out, stderr, code := runLago(t, "eval", "-config", "../../configs/clevr.toml", "-set", "phrasing=heldout", "-set", "task_level=rephrase", "-policy", "random", "-episodes", "2", "-json")
	var res struct {
		Episodes int `json:"episodes"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Episodes != 2 {
		t.Fatalf("eval with phrasing=heldout: exit %d, %q, stderr %q", code, out, stderr)
	}
}

// TestInterruptAndResume is the user's path: train, Ctrl-C, -resume, plot.
func TestInterruptAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the lago binary; skipped in -short mode")
	}
	dir := t.TempDir()
	bin := buildLago(t, dir)
	runDir := filepath.Join(dir, "run")
	cmd := exec.Command(bin, "train", "-out", runDir, "-set", "total_timesteps=100000", "-set", "device=cpu",
		"-set", "checkpoint_every=1000")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	metrics := filepath.Join(runDir, "metrics.jsonl")
	waitForLines(t, metrics, 3, 60*time.Second, cmd, &stderr)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("interrupted run exited with %v: %s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "lago train -resume "+runDir) {
		t.Fatalf("no resume hint in %q", stdout.String())
	}
	stopped := countLines(metrics)
	if _, err := os.Stat(filepath.Join(runDir, "checkpoint.lago")); err != nil {
		t.Fatalf("no checkpoint after Ctrl-C: %v", err)
	}
	out, err := exec.Command(bin, "train", "-resume", runDir, "-quiet").CombinedOutput()
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "resumed") {
		t.Fatalf("resume log lacks 'resumed': %s", out)
	}
	// Iterations are logged once each, in order, through to the end.
	f, _ := os.Open(metrics)
	defer f.Close()
	sc := bufio.NewScanner(f)
	want := 1
	for sc.Scan() {
		var m struct{ Iteration int }
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		if m.Iteration != want {
			t.Fatalf("metrics line %d has iteration %d", want, m.Iteration)
		}
		want++
	}
	if want-1 <= stopped {
		t.Fatalf("resume added no iterations (%d before, %d after)", stopped, want-1)
	}
	if _, err := os.Stat(filepath.Join(runDir, "summary.json")); err != nil {
		t.Fatal("no summary.json after the resumed run finished")
	}
	if out, err := exec.Command(bin, "plot", runDir).CombinedOutput(); err != nil || !strings.Contains(string(out), ".png") {
		t.Fatalf("plot: %v %s", err, out)
	}
}

// buildLago builds the lago binary into dir for the tests that run it as
// a user would, and returns its path.
func buildLago(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "lago")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// waitForLines waits until path has n lines (a run's metrics: its first
// iterations are done), or kills cmd and fails the test after timeout,
// showing what cmd wrote to stderr.
func waitForLines(t *testing.T, path string, n int, timeout time.Duration, cmd *exec.Cmd, stderr fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for countLines(path) < n {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no %d lines in %s after %v: %s", n, path, timeout, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func countLines(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte("\n"))
}

func TestCompareWritesAndSkipsFinishedRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("trains four short runs; skipped in -short mode")
	}
	dir := t.TempDir()
	bin := buildLago(t, dir)
	out := filepath.Join(dir, "cmp")
	args := []string{"compare", "-priors", "none,scripted:0.9", "-seeds", "2", "-steps", "2048", "-out", out, "-set", "device=cpu"}
	first, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("compare: %v\n%s", err, first)
	}
	var rows []struct {
		Prior           string   `json:"prior"`
		Seeds           int      `json:"seeds"`
		SuccessMean     float64  `json:"success_mean"`
		SuccessCI95Low  float64  `json:"success_ci95_low"`
		SuccessCI95High float64  `json:"success_ci95_high"`
		AUC             *float64 `json:"auc"`
		WallS           float64  `json:"wall_s"`
		LLMCalls        *float64 `json:"llm_calls"`
	}
	data, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Prior != "none" || rows[1].Prior != "scripted:0.9" || rows[0].Seeds != 2 ||
		rows[0].AUC == nil || rows[0].LLMCalls == nil || rows[0].WallS <= 0 {
		t.Fatalf("summary.json rows: %s", data)
	}
	for _, f := range []string{"summary.md", "success.png", "success.svg"} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Fatalf("%s: %v", f, err)
		}
	}
	metrics := filepath.Join(out, "runs", "none", "seed-1", "metrics.jsonl")
	before, _ := os.Stat(metrics)
	second, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("second compare: %v\n%s", err, second)
	}
	after, _ := os.Stat(metrics)
	if !after.ModTime().Equal(before.ModTime()) {
		t.Fatal("a finished run was trained again")
	}
}

// TestCompareInterruptSaysWhatResumes: Ctrl-C of a comparison stops its
// runs at a checkpoint, and the error says how many a rerun resumes.
func TestCompareInterruptSaysWhatResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the lago binary; skipped in -short mode")
	}
	dir := t.TempDir()
	bin := buildLago(t, dir)
	out := filepath.Join(dir, "cmp")
	cmd := exec.Command(bin, "compare", "-priors", "none", "-seeds", "1", "-jobs", "1", "-steps", "200000",
		"-set", "env_id=CartPole-v1", "-set", "device=cpu", "-out", out)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	metrics := filepath.Join(out, "runs", "none", "seed-1", "metrics.jsonl")
	waitForLines(t, metrics, 2, 120*time.Second, cmd, &stderr)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatalf("interrupted compare exited 0: %s", stdout.String())
	}
	if want := "interrupted; 1 unfinished run(s) have a checkpoint and resume from it"; !strings.Contains(stderr.String(), want) {
		t.Fatalf("stderr lacks %q:\n%s", want, stderr.String())
	}
}
