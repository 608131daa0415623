package config

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/lago-rl/lago/engine/runfile"
)

// KeyDoc describes one setting, for `lago config -list`.
type KeyDoc struct {
	Key     string // TOML key, also used by -set
	Kind    string // value type in TOML terms: string, boolean, integer, float, integer array
	Default string // default value as a TOML literal
	Allowed string // accepted values, e.g. "[0, 1]" or "one of cpu, cuda, auto"; empty if any value of the kind
	Doc     string // one-line description
}

// Keys describes every setting, in declaration order.
func Keys() []KeyDoc {
	docs := make([]KeyDoc, len(schema))
	for i := range schema {
		f := &schema[i]
		docs[i] = KeyDoc{
			Key:     f.key,
			Kind:    f.kind.name(),
			Default: formatTOML(f.def),
			Allowed: f.allowed(),
			Doc:     f.doc,
		}
	}
	return docs
}

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
	for i := range schema {
		f := &schema[i]
		fmt.Fprintf(&b, "\n# %s\n# ", f.doc)
		if a := f.allowed(); a != "" {
			fmt.Fprintf(&b, "allowed: %s; ", a)
		}
		fmt.Fprintf(&b, "default: %s\n", formatTOML(f.def))
		fmt.Fprintf(&b, "%s = %s\n", f.key, formatTOML(f.get(&c)))
	}
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

// formatTOML writes a setting's value as a TOML literal.
func formatTOML(v reflect.Value) string {
	switch v.Kind() {
	case reflect.String:
		return quote(v.String())
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Float64:
		return formatFloat(v.Float())
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = formatTOML(v.Index(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v.Interface())
}

// formatFloat writes x as a TOML float: the shortest form that reads back
// exactly, with ".0" added where Go would print an integer, since TOML
// reads "10" as an integer.
func formatFloat(x float64) string {
	switch {
	case math.IsNaN(x):
		return "nan"
	case math.IsInf(x, 1):
		return "inf"
	case math.IsInf(x, -1):
		return "-inf"
	}
	s := strconv.FormatFloat(x, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

// quote writes s as a TOML basic string. Go's strconv.Quote is not used
// because TOML lacks some of its escapes (\a, \v, \x). Invalid UTF-8 is
// written as U+FFFD, since a TOML file must be valid UTF-8.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}
