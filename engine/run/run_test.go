package run

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/lago-rl/lago/engine/config"
	"github.com/lago-rl/lago/engine/runfile"
)

func tinyConfig() config.Config {
	cfg := config.Default()
	cfg.Device = "cpu"
	cfg.NumEnvs = 2
	cfg.NumSteps = 16
	cfg.TotalTimesteps = 2 * 16 * 5 // five iterations
	cfg.CheckpointEvery = 2
	return cfg
}

func iterations(t *testing.T, path string) []int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var its []int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m struct {
			Iteration int `json:"iteration"`
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		its = append(its, m.Iteration)
	}
	return its
}

func TestStopResumeFinish(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	cfg := tinyConfig()
	opt := Options{Dir: dir, Log: zerolog.Nop(), MaxIterations: 3}
	if _, err := Train(context.Background(), cfg, opt); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("stopping early: %v, want ErrInterrupted", err)
	}
	for _, f := range []string{runfile.ConfigFile, runfile.MetricsFile, runfile.CheckpointFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("after a stop: %v", err)
		}
	}
	// Starting a new run over it is refused with the way out.
	if _, err := Train(context.Background(), cfg, Options{Dir: dir, Log: zerolog.Nop()}); err == nil || !strings.Contains(err.Error(), "-resume") {
		t.Fatalf("training over an existing run: %v", err)
	}
	// A torn metrics line (as a kill -9 mid-write leaves) is dropped on resume.
	f, _ := os.OpenFile(filepath.Join(dir, runfile.MetricsFile), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"iteration": 4, "global_st`)
	f.Close()
	saved, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := Train(context.Background(), saved, Options{Dir: dir, Log: zerolog.Nop(), Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Iterations != 5 || sum.GlobalStep != 160 {
		t.Fatalf("summary %+v", sum)
	}
	its := iterations(t, filepath.Join(dir, runfile.MetricsFile))
	for i, it := range its {
		if it != i+1 {
			t.Fatalf("metrics iterations %v, want 1..5 once each", its)
		}
	}
	if len(its) != 5 {
		t.Fatalf("metrics iterations %v", its)
	}
	if _, err := os.Stat(filepath.Join(dir, runfile.SummaryFile)); err != nil {
		t.Fatal(err)
	}
}

func TestCancelledContextCheckpoints(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	opt := Options{Dir: dir, Log: zerolog.Nop(), Progress: func(p runfile.Progress) {
		calls++
		if p.Iteration == 2 {
			cancel()
		}
	}}
	if _, err := Train(ctx, tinyConfig(), opt); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("cancelled run: %v", err)
	}
	if calls != 2 {
		t.Fatalf("%d iterations ran after cancelling at the second", calls)
	}
	if its := iterations(t, filepath.Join(dir, runfile.MetricsFile)); len(its) != 2 {
		t.Fatalf("metrics %v", its)
	}
}

func TestResumeWithoutCheckpoint(t *testing.T) {
	dir := t.TempDir()
	_, err := Train(context.Background(), tinyConfig(), Options{Dir: dir, Log: zerolog.Nop(), Resume: true})
	if err == nil || !strings.Contains(err.Error(), "cannot resume") {
		t.Fatalf("resume of an empty directory: %v", err)
	}
}
