package run

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/lago-rl/lago/engine/runfile"
)

// stoppedRun trains tinyConfig for three iterations (checkpoint after the
// second and third) and returns its directory.
func stoppedRun(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "run")
	if _, err := Train(context.Background(), tinyConfig(), Options{Dir: dir, Log: zerolog.Nop(), MaxIterations: 3}); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("stopping early: %v", err)
	}
	return dir
}

func resume(dir string, opt Options) (runfile.Summary, error) {
	cfg, err := LoadConfig(dir)
	if err != nil {
		return runfile.Summary{}, err
	}
	opt.Dir, opt.Resume = dir, true
	opt.Log = zerolog.Nop()
	return Train(context.Background(), cfg, opt)
}

// Issue 11 point 2: a second trainer of a locked run directory fails at
// once, naming the directory and the holder's PID (a fresh run and a resume).
func TestLockedRunDirRefused(t *testing.T) {
	dir := stoppedRun(t)
	held, err := runfile.Acquire(dir) // a second open file description, as another process has
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	want := fmt.Sprintf("%s is held by process %d", dir, os.Getpid())
	if _, err := resume(dir, Options{}); !errors.Is(err, runfile.ErrLocked) || !strings.Contains(err.Error(), want) {
		t.Fatalf("resume of a locked run: %v; want %q", err, want)
	}
	// A new run over a running one is told who runs it, not to resume it.
	if _, err := Train(context.Background(), tinyConfig(), Options{Dir: dir, Log: zerolog.Nop()}); !errors.Is(err, runfile.ErrLocked) || !strings.Contains(err.Error(), want) {
		t.Fatalf("new run over a locked run: %v; want %q", err, want)
	}
	fresh := filepath.Join(t.TempDir(), "fresh")
	os.Mkdir(fresh, 0o755)
	other, err := runfile.Acquire(fresh)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Release()
	if _, err := Train(context.Background(), tinyConfig(), Options{Dir: fresh, Log: zerolog.Nop()}); !errors.Is(err, runfile.ErrLocked) {
		t.Fatalf("new run in a locked directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(fresh, runfile.ConfigFile)); err == nil {
		t.Fatal("a refused run wrote its config into the locked directory")
	}
}

// Issue 11 point 5: a damaged metrics line is not dropped silently on
// resume: the resume refuses, naming the line.
func TestResumeRefusesDamagedMetricsLine(t *testing.T) {
	dir := stoppedRun(t)
	path := filepath.Join(dir, runfile.MetricsFile)
	data, _ := os.ReadFile(path)
	lines := bytes.SplitAfter(data, []byte("\n"))
	lines[1] = []byte("{\"iteration\": 2, \"glob#l_step\n")
	os.WriteFile(path, bytes.Join(lines, nil), 0o644)
	_, err := resume(dir, Options{})
	if err == nil || !strings.Contains(err.Error(), runfile.MetricsFile+":2:") {
		t.Fatalf("resume over a damaged line 2: %v; want an error naming it", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, bytes.Join(lines, nil)) {
		t.Fatal("the refused resume changed metrics.jsonl")
	}
}

// Issue 11 point 5: resume keeps the files readable (0644, not the 0600 of
// a temporary file) and leaves a finished run untouched.
func TestResumeKeepsModesAndFinishedRun(t *testing.T) {
	dir := stoppedRun(t)
	path := filepath.Join(dir, runfile.MetricsFile)
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"iteration": 4, "glo`) // torn: the resume rewrites the file
	f.Close()
	if _, err := resume(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{runfile.MetricsFile, runfile.SummaryFile, runfile.ConfigFile} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, %v; want 0644", name, st.Mode().Perm(), err)
		}
	}
	sumBefore, _ := os.ReadFile(filepath.Join(dir, runfile.SummaryFile))
	metricsBefore, _ := os.ReadFile(path)
	first, _ := runfile.ReadSummary(dir)
	sum, err := resume(dir, Options{})
	if err != nil {
		t.Fatalf("resume of a finished run: %v", err)
	}
	sumAfter, _ := os.ReadFile(filepath.Join(dir, runfile.SummaryFile))
	metricsAfter, _ := os.ReadFile(path)
	if !bytes.Equal(sumBefore, sumAfter) || !bytes.Equal(metricsBefore, metricsAfter) {
		t.Fatalf("resuming a finished run rewrote it:\n%s\n%s", sumBefore, sumAfter)
	}
	if sum.WallSeconds != first.WallSeconds || sum.WallSeconds == 0 {
		t.Fatalf("resume returned wall_s %v, the run's is %v", sum.WallSeconds, first.WallSeconds)
	}
}

// Issue 11 point 9: a start that fails leaves no run directory.
func TestFailedStartLeavesNoDir(t *testing.T) {
	cases := map[string]func(*Options){
		"unknown env_id":     nil,
		"cuda without a GPU": nil,
	}
	for name := range cases {
		cfg := tinyConfig()
		switch name {
		case "unknown env_id":
			cfg.EnvID = "NoSuchEnv-v0"
		case "cuda without a GPU":
			cfg.Device = "cuda"
		}
		dir := filepath.Join(t.TempDir(), "runs", "x")
		_, err := Train(context.Background(), cfg, Options{Dir: dir, Log: zerolog.Nop()})
		if err == nil {
			if name == "cuda without a GPU" {
				continue // this machine has one
			}
			t.Fatalf("%s: started", name)
		}
		if _, serr := os.Stat(dir); serr == nil {
			t.Errorf("%s (%v): left %s", name, err, dir)
		}
	}
}

// A start that fails in a directory that existed leaves it as it was: no
// lock file (the lock is also released: the next start takes it).
func TestFailedStartInExistingDirLeavesItAsItWas(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyConfig()
	cfg.EnvID = "NoSuchEnv-v0"
	if _, err := Train(context.Background(), cfg, Options{Dir: dir, Log: zerolog.Nop()}); err == nil {
		t.Fatal("started with an unknown env")
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 0 {
		t.Errorf("%s holds %v (%v), want nothing", dir, entries, err)
	}
	l, err := runfile.Acquire(dir)
	if err != nil {
		t.Fatalf("the lock is still held: %v", err)
	}
	l.Release()
}

// Issue 11 point 8: after an abort (the second Ctrl-C) nothing is written:
// the last good checkpoint stays the run's state, even when the stop (the
// first Ctrl-C) asked for a checkpoint.
func TestAbortKeepsLastCheckpoint(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	stop, cancelStop := context.WithCancel(context.Background())
	abort, cancelAbort := context.WithCancel(context.Background())
	opt := Options{Dir: dir, Log: zerolog.Nop(), Abort: abort, Progress: func(p runfile.Progress) {
		if p.Iteration == 3 { // checkpoints were written after iteration 2
			cancelStop()
			cancelAbort()
		}
	}}
	if _, err := Train(stop, tinyConfig(), opt); !errors.Is(err, ErrAborted) {
		t.Fatalf("aborted run: %v, want ErrAborted", err)
	}
	if !HasCheckpoint(dir) {
		t.Fatal("HasCheckpoint: false for a run checkpointed after iteration 2")
	}
	if HasCheckpoint(t.TempDir()) {
		t.Fatal("HasCheckpoint: true for an empty directory")
	}
	var first int
	if _, err := resume(dir, Options{MaxIterations: 1, Progress: func(p runfile.Progress) { first = p.Iteration }}); !errors.Is(err, ErrInterrupted) {
		t.Fatal(err)
	}
	if first != 3 {
		t.Fatalf("resumed at iteration %d, want 3 (from the checkpoint of iteration 2)", first)
	}
}

// Issue 10 point 8: the last progress line and the summary report the
// same figures over the same window.
func TestProgressAndSummaryShareWindow(t *testing.T) {
	cfg := tinyConfig()
	cfg.NumEnvs, cfg.NumSteps, cfg.TotalTimesteps = 4, 64, 4*64*5 // ~60 CartPole episodes
	var last runfile.Progress
	sum, err := Train(context.Background(), cfg, Options{Dir: filepath.Join(t.TempDir(), "run"), Log: zerolog.Nop(),
		Progress: func(p runfile.Progress) { last = p }})
	if err != nil {
		t.Fatal(err)
	}
	if sum.FinalEpisodes <= 20 {
		t.Fatalf("only %d episodes: the test needs more than 20", sum.FinalEpisodes)
	}
	if last.Return != sum.FinalReturn || last.Success != sum.FinalSuccess || last.Episodes != sum.FinalEpisodes ||
		last.Window != sum.EpisodeWindow || sum.EpisodeWindow != runfile.EpisodeWindow {
		t.Fatalf("last progress %+v, summary %+v", last, sum)
	}
}
