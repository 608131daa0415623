package config

import (
	"path/filepath"
	"testing"
)

// Every config the repository ships must load and validate: the README and
// `make demo` point users at them.
func TestShippedConfigsLoad(t *testing.T) {
	paths, err := filepath.Glob("../../configs/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 4 {
		t.Fatalf("found %d configs in ../../configs, want at least cartpole, pendulum, clevr, clevr-lago", len(paths))
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			if _, err := Load(p); err != nil {
				t.Error(err)
			}
		})
	}
}
