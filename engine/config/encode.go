package config

import (
	"bytes"
	"fmt"

	"github.com/lago-rl/lago/engine/runfile"
	"github.com/lago-rl/lago/engine/tomlkeys"
)

// KeyDoc describes one setting, for `lago config -list`.
type KeyDoc = tomlkeys.KeyDoc

// Keys describes every setting, in declaration order.
func Keys() []KeyDoc { return schema.Keys() }

// Encode returns c as TOML listing every key, each preceded by comment
// lines with its description, allowed values and default, so that a run's saved
// config documents itself. An invalid c is refused: Load could not read
// the result back.
func (c Config) Encode() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("encoding config: %w", err)
	}
	var b bytes.Buffer
	b.WriteString("# lago configuration: every setting with the value in effect.\n")
	schema.Encode(&b, c, nil)
	return b.Bytes(), nil
}

// WriteFile writes c's encoding to path atomically (runfile.WriteAtomic):
// readers see either the old file or the complete new one, never a partial
// write, even if the process dies midway.
func (c Config) WriteFile(path string) error {
	data, err := c.Encode()
	if err != nil {
		return err
	}
	if err := runfile.WriteFileAtomic(path, data); err != nil {
		return fmt.Errorf("writing config %s: %w", path, err)
	}
	return nil
}
