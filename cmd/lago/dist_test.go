package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lago-rl/lago/bindings/torch"
	"github.com/lago-rl/lago/engine/run"
	"github.com/lago-rl/lago/engine/runfile"
)

// lagoForRanks builds lago into a new directory for a test that runs
// ranks of it, or skips the test where that cannot or should not run.
func lagoForRanks(t *testing.T) (dir, bin string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the lago binary and runs 2-rank trainings; skipped in -short mode")
	}
	if !slices.Contains(torch.DistBackends(), "gloo") {
		t.Skip("the shim was built without c10d/Gloo")
	}
	dir = t.TempDir()
	return dir, buildLago(t, dir)
}

// TestTrainDataParallel runs `lago train` as a group of ranks on this
// machine: -nproc 2 trains, stops on Ctrl-C at one iteration on both ranks
// with rank 0's checkpoint, resumes as a group and finishes; a rank that is
// killed or frozen mid-run makes the other exit non-zero within the
// timeout, naming it; a group that cannot form names the missing rank.
func TestTrainDataParallel(t *testing.T) {
	dir, bin := lagoForRanks(t)
	small := []string{"-set", "device=cpu", "-set", "num_envs=4", "-set", "num_steps=64", "-set", "num_workers=1"}

	t.Run("nproc-interrupt-resume", func(t *testing.T) {
		runDir := filepath.Join(dir, "run")
		cmd := exec.Command(bin, append([]string{"train", "-nproc", "2", "-out", runDir, "-set", "total_timesteps=40960",
			"-set", "checkpoint_every=1000"}, small...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		metrics := filepath.Join(runDir, runfile.MetricsFile)
		waitForLines(t, metrics, 3, 60*time.Second, cmd, &stderr)
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("interrupted group exited with %v:\n%s", err, stderr.String())
		}
		if !strings.Contains(stdout.String(), "[rank 0] interrupted; checkpoint written") {
			t.Fatalf("no resume hint from rank 0 in %q", stdout.String())
		}
		for _, want := range []string{"[rank 0] ", "[rank 1] ", "ranks=2"} {
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("the ranks' logs lack %q:\n%s", want, stderr.String())
			}
		}
		entries, _ := os.ReadDir(runDir)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if want := []string{runfile.CheckpointFile, runfile.ConfigFile, "lock", runfile.MetricsFile}; !slices.Equal(names, want) {
			t.Errorf("run dir holds %v, want %v (rank 0's files only)", names, want)
		}
		stopped := countLines(metrics)
		out, err := exec.Command(bin, "train", "-nproc", "2", "-resume", runDir, "-quiet").CombinedOutput()
		if err != nil {
			t.Fatalf("resume: %v\n%s", err, out)
		}
		sum, err := runfile.ReadSummary(runDir)
		if err != nil {
			t.Fatal(err)
		}
		if sum.GlobalStep != 40960 || sum.Iterations != 160 || countLines(metrics) != 160 || stopped >= 160 {
			t.Errorf("resumed group: step %d, %d iterations, %d metrics lines (stopped at %d); want 40960, 160, 160",
				sum.GlobalStep, sum.Iterations, countLines(metrics), stopped)
		}
		data, _ := os.ReadFile(metrics)
		for i, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
			var m runfile.Metrics
			if err := json.Unmarshal(line, &m); err != nil || m.Iteration != i+1 || m.GlobalStep != int64(256*(i+1)) {
				t.Fatalf("metrics line %d: iteration %d, global step %d (%v); want %d, %d", i+1, m.Iteration, m.GlobalStep, err, i+1, 256*(i+1))
			}
		}
	})

	// rank starts one rank of a 2-rank group meeting at store.
	rank := func(r int, store, out string, timeout string) (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command(bin, append([]string{"train", "-quiet", "-out", out, "-set", "total_timesteps=10000000",
			"-rank", string(rune('0' + r)), "-world-size", "2", "-dist-store", store, "-dist-timeout", timeout}, small...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &stderr
	}
	for _, c := range []struct {
		name   string
		signal syscall.Signal
	}{{"killed-rank", syscall.SIGKILL}, {"frozen-rank", syscall.SIGSTOP}} {
		t.Run(c.name, func(t *testing.T) {
			const timeout = 4 * time.Second
			sub := t.TempDir()
			store, runDir := filepath.Join(sub, "store"), filepath.Join(sub, "run")
			r0, stderr0 := rank(0, store, runDir, timeout.String())
			r1, _ := rank(1, store, runDir, timeout.String())
			defer r1.Process.Kill()
			defer r0.Process.Kill()
			waitForLines(t, filepath.Join(runDir, runfile.MetricsFile), 2, 60*time.Second, r0, stderr0)
			if err := r1.Process.Signal(c.signal); err != nil {
				t.Fatal(err)
			}
			sent := time.Now()
			err := r0.Wait()
			took := time.Since(sent)
			t.Logf("rank 0 exited %v after %v: %s", err, took.Round(time.Millisecond), lastLine(stderr0.String()))
			if err == nil {
				t.Fatal("rank 0 exited 0 after losing rank 1")
			}
			if !strings.Contains(stderr0.String(), "lost rank(s) 1") {
				t.Errorf("rank 0's error does not name rank 1: %s", stderr0.String())
			}
			if took > timeout+2*time.Second {
				t.Errorf("rank 0 took %v to fail; timeout %v", took, timeout)
			}
		})
	}

	t.Run("nproc-rank-fails", func(t *testing.T) {
		// 3 envs do not split over 2 ranks: each rank refuses the config;
		// the launcher exits non-zero naming a rank, and no run dir is made.
		runDir := filepath.Join(t.TempDir(), "run")
		began := time.Now()
		out, err := exec.Command(bin, append([]string{"train", "-nproc", "2", "-out", runDir}, append(small, "-set", "num_envs=3")...)...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "config key num_envs: 3 envs do not split over 2 ranks") ||
			!strings.Contains(string(out), "lago train: run: rank ") || !strings.Contains(string(out), " of 2 failed") {
			t.Errorf("-nproc 2 with 3 envs: %v\n%s", err, out)
		}
		if _, err := os.Stat(runDir); err == nil {
			t.Errorf("a refused group left a run directory")
		}
		t.Logf("failed after %v", time.Since(began).Round(time.Millisecond))
	})

	t.Run("rendezvous-missing-rank", func(t *testing.T) {
		sub := t.TempDir()
		r0, stderr0 := rank(0, filepath.Join(sub, "store"), filepath.Join(sub, "run"), "2s")
		err := r0.Wait()
		if err == nil || !strings.Contains(stderr0.String(), "rank(s) 1 did not join") {
			t.Errorf("rank 0 alone: %v, %s; want an error naming rank 1", err, stderr0.String())
		}
		if _, err := os.Stat(filepath.Join(sub, "run")); err == nil {
			t.Errorf("a group that never formed left a run directory")
		}
	})
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// TestLMTrainDataParallel runs `lago lm train -nproc 2`: the ranks train
// together (rank 0 alone reports and writes the run), a Ctrl-C stops both
// with a checkpoint and a resume hint, and -resume with -nproc 2 finishes.
func TestLMTrainDataParallel(t *testing.T) {
	dir, bin := lagoForRanks(t)
	pairs := filepath.Join(dir, "pairs.jsonl")
	if out, err := exec.Command(bin, "lm", "letters", "-n", "2000", "-out", pairs).CombinedOutput(); err != nil {
		t.Fatalf("lm letters: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "lm.toml")
	toml := "data = \"" + pairs + "\"\nlayers = 1\ndim = 32\nheads = 2\nkv_heads = 1\nffn = 64\ncontext = 24\n" +
		"batch_size = 16\nsteps = 100000\neval_every = 1000\ncheckpoint_every = 0\n"
	if err := os.WriteFile(cfg, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	runDir := filepath.Join(dir, "run")
	cmd := exec.Command(bin, "lm", "train", "-nproc", "2", "-config", cfg, "-out", runDir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForLines(t, filepath.Join(runDir, "metrics.jsonl"), 20, 60*time.Second, cmd, &stderr)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("interrupted group exited with %v:\n%s", err, stderr.String())
	}
	if want := "[rank 0] interrupted; checkpoint written. Resume with: lago lm train -resume " + runDir + " (-nproc 2"; !strings.Contains(stdout.String(), want) {
		t.Fatalf("stdout %q lacks %q", stdout.String(), want)
	}
	if strings.Contains(stdout.String(), "[rank 1]") {
		t.Errorf("rank 1 reported: %q", stdout.String())
	}
	if e := stderr.String(); !strings.Contains(e, lmTrainNotices[run.NoticeStop]) || strings.Contains(e, "iteration") {
		t.Errorf("the launcher's notice is not lm train's (steps, not iterations):\n%s", e)
	}
	// The resumed run finishes soon: its config, edited here, is the one it reads.
	conf := filepath.Join(runDir, "config.toml")
	data, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, bytes.Replace(data, []byte("steps = 100000"), []byte("steps = 400"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "lm", "train", "-nproc", "2", "-resume", runDir).CombinedOutput()
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "[rank 0] run "+runDir+": 400 steps") {
		t.Fatalf("resume output %q lacks the finished run", out)
	}
	if _, err := os.Stat(filepath.Join(runDir, "model.gguf")); err != nil {
		t.Fatal(err)
	}
}
