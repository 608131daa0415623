// Package tomlkeys reads, checks, lists and writes flat TOML settings
// declared once, as the fields of a Go struct whose tags give each key's
// name, default, allowed values and documentation. engine/config (the RL
// config), engine/lm/train and engine/stage1 build their keys on it, so
// -set, the "did you mean" hints, -list and the documented config file a
// run writes work the same way in all three.
//
// Tags understood on each field:
//
//	toml:"gamma"           TOML key (required)
//	default:"0.99"         default, written as for -set (required)
//	doc:"discount factor"  one-line description (required)
//	range:"[0,1]"          allowed interval for numbers, per element for []int;
//	                       '(' or ')' excludes a bound, an empty bound is
//	                       unbounded: "(0,)" means > 0, "[1,)" means >= 1
//	enum:"cpu,cuda,auto"   allowed values of a string
//	minlen:"1"             minimum length of a string or []int
//
// Supported field types are string, bool, int, int64, float64 and []int. A
// field of struct type is a TOML table: the schema leaves it to its owner
// (who builds the table's own schema), so it needs no tags here.
package tomlkeys

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"slices"
	"strings"
)

// Schema is the settings of struct type T, in declaration order.
type Schema[T any] struct {
	fields []Field
	byKey  map[string]*Field
}

// New reads the tags of T's fields. A malformed tag is an error naming the
// field.
func New[T any]() (*Schema[T], error) {
	t := reflect.TypeFor[T]()
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("%s is not a struct", t)
	}
	s := &Schema[T]{byKey: make(map[string]*Field)}
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Type.Kind() == reflect.Struct {
			continue // a table: its owner's
		}
		f, err := parseField(sf, i)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", sf.Name, err)
		}
		if _, dup := s.byKey[f.key]; dup {
			return nil, fmt.Errorf("field %s: duplicate key %q", sf.Name, f.key)
		}
		s.byKey[f.key] = nil
		s.fields = append(s.fields, f)
	}
	for i := range s.fields {
		s.byKey[s.fields[i].key] = &s.fields[i]
	}
	return s, nil
}

// MustNew is New for a package-level schema: a malformed tag is a
// programming error of package pkg, and failing when it loads (and in every
// test) beats carrying a setting with no default or an unparseable range.
func MustNew[T any](pkg string) *Schema[T] {
	s, err := New[T]()
	if err != nil {
		panic(pkg + ": " + err.Error())
	}
	return s
}

// Fields lists the settings in declaration order; the caller must not
// modify them.
func (s *Schema[T]) Fields() []Field { return s.fields }

// Lookup finds the setting of a TOML key.
func (s *Schema[T]) Lookup(key string) (*Field, bool) {
	f, ok := s.byKey[key]
	return f, ok
}

// Default returns a T with every setting at its default (tables and
// untagged struct fields at their zero value).
func (s *Schema[T]) Default() T {
	var c T
	for i := range s.fields {
		s.Store(&c, &s.fields[i], s.fields[i].def)
	}
	return c
}

// Value returns f's value inside c.
func (s *Schema[T]) Value(c *T, f *Field) reflect.Value {
	return reflect.ValueOf(c).Elem().Field(f.index)
}

// Store stores v, of f's kind, into c. Slices are copied so that no two
// values of T (or one and the schema's default) share a backing array.
func (s *Schema[T]) Store(c *T, f *Field, v reflect.Value) {
	if f.kind == kindIntList {
		v = reflect.ValueOf(slices.Clone(v.Interface().([]int)))
	}
	s.Value(c, f).Set(v)
}

// SetText parses text as f's value (as given to -set), checks it against
// f's own range or choices and stores it into c.
func (s *Schema[T]) SetText(c *T, f *Field, text string) error {
	v, err := f.ParseText(strings.TrimSpace(text))
	if err == nil {
		err = f.Check(v)
	}
	if err != nil {
		return err
	}
	s.Store(c, f, v)
	return nil
}

// Check enforces every setting's own constraints on c, one error each.
func (s *Schema[T]) Check(c *T) []error {
	var errs []error
	for i := range s.fields {
		f := &s.fields[i]
		if err := f.Check(s.Value(c, f)); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// KeyDoc describes one setting, for a -list.
type KeyDoc struct {
	Key     string // TOML key, also used by -set
	Kind    string // value type in TOML terms: string, boolean, integer, float, integer array
	Default string // default value as a TOML literal
	Allowed string // accepted values, e.g. "[0, 1]" or "one of cpu, cuda, auto"; empty if any value of the kind
	Doc     string // one-line description
}

// Keys describes every setting, in declaration order.
func (s *Schema[T]) Keys() []KeyDoc {
	docs := make([]KeyDoc, len(s.fields))
	for i := range s.fields {
		f := &s.fields[i]
		docs[i] = KeyDoc{
			Key:     f.key,
			Kind:    f.kind.name(),
			Default: Literal(f.def),
			Allowed: f.Allowed(),
			Doc:     f.doc,
		}
	}
	return docs
}

// Encode writes c's settings as TOML lines, each key preceded by comment
// lines with its description, allowed values and default, so that a
// written config documents itself. Keys for which omit reports true are
// left out (omit may be nil).
func (s *Schema[T]) Encode(b *bytes.Buffer, c T, omit func(key string) bool) {
	for i := range s.fields {
		f := &s.fields[i]
		if omit != nil && omit(f.key) {
			continue
		}
		fmt.Fprintf(b, "\n# %s\n# ", f.doc)
		if a := f.Allowed(); a != "" {
			fmt.Fprintf(b, "allowed: %s; ", a)
		}
		fmt.Fprintf(b, "default: %s\n", Literal(f.def))
		fmt.Fprintf(b, "%s = %s\n", f.key, Literal(s.Value(&c, f)))
	}
}

// ReadFile reads a config file. Its error reads "config file x.toml: no
// such file or directory" rather than naming the internal "open" operation.
func ReadFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return data, nil
}
