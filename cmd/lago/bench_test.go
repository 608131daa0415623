package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchWritesItsReport: one short measurement, a table on stdout, the
// JSON report in -out, and -reference with a python lacking torch is a
// skip, not an error.
func TestBenchWritesItsReport(t *testing.T) {
	dir := t.TempDir()
	out, errOut, code := runLago(t, "bench", "-configs", "../../configs", "-script", "../../bench/reference/ppo_update.py",
		"-filter", "^update/cartpole$", "-duration", "50ms", "-out", dir, "-reference", "-python", "/nonexistent/python3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "update/cartpole") || !strings.Contains(out, "reference: skipped") || !strings.Contains(errOut, "bench 1/1 update/cartpole") {
		t.Fatalf("stdout:\n%s\nstderr:\n%s", out, errOut)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "bench-*.json"))
	if len(files) != 1 {
		t.Fatalf("reports in -out: %v", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Torch string `json:"libtorch"`
		Rows  []struct {
			Name  string  `json:"name"`
			Value float64 `json:"value"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(b, &rep); err != nil || rep.Torch == "" || len(rep.Rows) != 1 || rep.Rows[0].Value <= 0 {
		t.Fatalf("report %s (%v)", b, err)
	}
}

func TestBenchFilterMatchingNothing(t *testing.T) {
	_, errOut, code := runLago(t, "bench", "-configs", "../../configs", "-filter", "^nothing$", "-out", "")
	if code == 0 || !strings.Contains(errOut, "matches none of update/cartpole") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}
