package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lago-rl/lago/engine/prior"
)

func TestPriorHelpListsSubcommands(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "help"} {
		stdout, stderr, code := runLago(t, "prior", arg)
		if code != 0 || strings.Contains(stderr, "unknown subcommand") {
			t.Fatalf("lago prior %s: exit %d, stderr %q", arg, code, stderr)
		}
		for _, sub := range []string{"show", "warm", "stats"} {
			if !strings.Contains(stdout, sub) {
				t.Errorf("lago prior %s does not list %q:\n%s", arg, sub, stdout)
			}
		}
	}
}

// TestPriorStatsIsReadOnly: on a fresh machine stats says there is no cache
// and creates nothing (issue 11, point 10).
func TestPriorStatsIsReadOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache", "prior")
	stdout, stderr, code := runLago(t, "prior", "stats", "-set", "prior_cache_dir="+dir)
	if code != 0 || !strings.Contains(stdout, "no cache at "+dir) {
		t.Fatalf("exit %d, stdout %q, stderr %q; want \"no cache at %s\"", code, stdout, stderr, dir)
	}
	if _, err := os.Stat(filepath.Dir(dir)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("lago prior stats created the cache directory")
	}
}

// TestPriorStatsReportsDamage is issue 11's repro through the CLI: 146
// entries, one byte flipped in record 51: stats counts 145 and says one
// record is damaged.
func TestPriorStatsReportsDamage(t *testing.T) {
	dir := t.TempDir()
	c, err := prior.OpenCache(dir, 10)
	if err != nil {
		t.Fatal(err)
	}
	probs := make([]float32, 40)
	for i := 0; i < 146; i++ {
		probs[0] = float32(i)
		if err := c.Put(prior.MakeKey("m", "v", fmt.Sprint(i)), prior.Entry{Probs: probs, Mode: prior.ModeLogprobs}); err != nil {
			t.Fatal(err)
		}
	}
	path := c.Path()
	c.Close()
	d, _ := os.ReadFile(path)
	header := len(d) - 146*207
	d[header+50*207+60] ^= 255
	os.WriteFile(path, d, 0o644)
	stdout, stderr, code := runLago(t, "prior", "stats", "-set", "prior_cache_dir="+dir)
	if code != 0 || !strings.Contains(stdout, "entries    145 ") || !strings.Contains(stdout, "1 damaged record") {
		t.Fatalf("exit %d, stderr %q, stdout:\n%s\nwant 145 entries and 1 damaged record", code, stderr, stdout)
	}
}
