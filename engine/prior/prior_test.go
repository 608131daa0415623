package prior

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lago-rl/lago/engine/config"
)

func TestNewRejectsUnknownKindsAndReturnsNoTypedNil(t *testing.T) {
	cfg := config.Default()
	cfg.Prior = "gpt:4"
	if p, err := New(context.Background(), cfg); p != nil || err == nil ||
		!strings.Contains(err.Error(), "config key prior") || !strings.Contains(err.Error(), config.PriorKinds) {
		t.Fatalf("unknown kind: %v, %v; want an error naming the key and the kinds", p, err)
	}
	// An Ollama prior that cannot start must come back as a nil interface,
	// not a nil *ollamaPrior inside a non-nil Prior.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	down := ln.Addr().String()
	ln.Close()
	cfg.Prior, cfg.OllamaHost, cfg.OllamaTimeout = "ollama:tiny", down, 1
	p, err := New(context.Background(), cfg)
	if err == nil || p != nil {
		t.Fatalf("server down: %#v, %v; want a nil Prior and an error", p, err)
	}
	cfg.Prior = "none"
	if p, err := New(context.Background(), cfg); p != nil || err != nil {
		t.Fatalf("none: %#v, %v", p, err)
	}
}

// TestUnwritableCacheDir: lago's default cache dir, unwritable, leaves a
// memory-only cache and a warning; one the user named is an error naming
// prior_cache_dir (issue 11, point 10). A file in the path stands in for a
// read-only directory, since tests may run as root.
func TestUnwritableCacheDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	cfg := config.Default()

	t.Setenv("XDG_CACHE_HOME", filepath.Join(file, "cache"))
	var warned []string
	c, memoryOnly, err := openCacheFor(cfg, func(s string) { warned = append(warned, s) })
	if err != nil || !memoryOnly || c.Path() != "" || len(warned) != 1 || !strings.Contains(warned[0], "memory-only") {
		t.Fatalf("default dir unwritable: err %v, memory-only %v, warnings %q", err, memoryOnly, warned)
	}
	if err := c.Put(key(1), entry(1)); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get(key(1)); !ok {
		t.Fatal("the memory-only cache lost an entry")
	}

	cfg.PriorCacheDir = filepath.Join(file, "mine")
	_, _, err = openCacheFor(cfg, func(s string) { t.Errorf("warned %q instead of failing", s) })
	if err == nil || !strings.Contains(err.Error(), "config key prior_cache_dir") {
		t.Fatalf("explicit dir unwritable: %v; want an error naming prior_cache_dir", err)
	}
}
